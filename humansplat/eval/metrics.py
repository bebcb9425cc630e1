"""Image metrics of the novel-view evaluation: PSNR, SSIM, mask IoU, masked PSNR, silhouette alignment.

Images are float arrays in [0, 1]: rgb (H, W, 3) composited over white, alpha (H, W). Masks are
``alpha > 0.5``. "Aligned" scores first warp the prediction so that its silhouette's bounding box
lands on the ground truth's (:func:`align_to_box`): they measure appearance and shape with the
remaining scale and placement error (a single photo fixes neither exactly) taken out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..imaging import psnr

__all__ = ["MASK_THRESHOLD", "ViewMetrics", "align_to_box", "alpha_box", "score_view"]

MASK_THRESHOLD = 0.5
"""alpha above this is the person."""


@dataclass
class ViewMetrics:
    """Scores of one view (higher is better for all but ``lpips``; nan when undefined).

    Attributes:
        psnr: dB over the whole image (colours in [0, 1], white background).
        psnr_masked: dB over the union of the two masks.
        ssim: scikit-image ``structural_similarity`` (channel_axis=-1, data_range=1).
        iou: intersection over union of the two masks.
        lpips: LPIPS distance, or None when not measured.
    """

    psnr: float
    psnr_masked: float
    ssim: float
    iou: float
    lpips: float | None = None


def score_view(gt_rgb: np.ndarray, gt_alpha: np.ndarray, pred_rgb: np.ndarray, pred_alpha: np.ndarray) -> ViewMetrics:
    """PSNR, masked PSNR, SSIM and mask IoU of a predicted view against the ground truth.

    Args:
        gt_rgb, pred_rgb: (H, W, 3) float in [0, 1].
        gt_alpha, pred_alpha: (H, W) float in [0, 1].
    """
    from skimage.metrics import structural_similarity

    if gt_rgb.shape != pred_rgb.shape or gt_alpha.shape != pred_alpha.shape:
        raise ValueError(f"view shapes differ: ground truth {gt_rgb.shape}/{gt_alpha.shape}, prediction {pred_rgb.shape}/{pred_alpha.shape}")
    gt = gt_rgb.astype(np.float64)
    pr = pred_rgb.astype(np.float64)
    sq = ((gt - pr) ** 2).mean(-1)
    gm, pm = gt_alpha > MASK_THRESHOLD, pred_alpha > MASK_THRESHOLD
    union = gm | pm
    iou = float((gm & pm).sum() / union.sum()) if union.any() else float("nan")
    masked = psnr(float(sq[union].mean())) if union.any() else float("nan")
    ssim = float(structural_similarity(gt, pr, channel_axis=-1, data_range=1.0))
    return ViewMetrics(psnr=psnr(float(sq.mean())), psnr_masked=masked, ssim=ssim, iou=iou)


def alpha_box(alpha: np.ndarray) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, y0, x1, y1) of ``alpha > 0.5`` (H, W) in continuous pixel coordinates
    (pixel edges), refined to sub-pixel precision from the coverage of the edge rows and columns
    (so a box does not jump by a whole pixel when a silhouette moves a little); None when empty."""
    mask = alpha > MASK_THRESHOLD
    if not mask.any():
        return None

    def edges(profile: np.ndarray) -> tuple[float, float]:  # max alpha per row (or column)
        idx = np.nonzero(profile > MASK_THRESHOLD)[0]
        i0, i1 = int(idx[0]), int(idx[-1])
        before = float(profile[i0 - 1]) if i0 > 0 else 0.0
        after = float(profile[i1 + 1]) if i1 + 1 < len(profile) else 0.0
        return i0 + (1.0 - float(profile[i0])) - before, i1 + float(profile[i1]) + after

    a = np.clip(alpha, 0.0, 1.0)
    y0, y1 = edges(a.max(1))
    x0, x1 = edges(a.max(0))
    return x0, y0, x1, y1


def align_to_box(rgb: np.ndarray, alpha: np.ndarray, target: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image on white so that its silhouette's box (:func:`alpha_box`) fills ``target``.

    The image is scaled (separately in x and y) and moved so that its own box maps onto ``target``
    (x0, y0, x1, y1); colours are resampled bilinearly as premultiplied colour and alpha, so the
    background stays white and soft edges stay soft. An empty image is returned unchanged.

    Returns:
        rgb (H, W, 3) on white and alpha (H, W), float32.
    """
    box = alpha_box(alpha)
    if box is None:
        return rgb.astype(np.float32), alpha.astype(np.float32)
    H, W = alpha.shape
    sx = (box[2] - box[0]) / (target[2] - target[0])
    sy = (box[3] - box[1]) / (target[3] - target[1])
    # Output pixel centre (u, v) -> source position box0 + (u - target0) * s (pixel-edge coordinates).
    u = (torch.arange(W, dtype=torch.float64) + 0.5 - target[0]) * sx + box[0]
    v = (torch.arange(H, dtype=torch.float64) + 0.5 - target[1]) * sy + box[1]
    gy, gx = torch.meshgrid(v / H * 2.0 - 1.0, u / W * 2.0 - 1.0, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None].float()  # (1, H, W, 2), align_corners=False coordinates
    a = torch.from_numpy(alpha.astype(np.float32))
    premult = torch.from_numpy(rgb.astype(np.float32)) - (1.0 - a[..., None])  # colour over white -> premultiplied
    stack = torch.cat([premult, a[..., None]], -1).permute(2, 0, 1)[None]  # [H, W, 4] -> [1, 4, H, W]
    out = torch.nn.functional.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    a2 = out[3].clamp(0.0, 1.0)
    rgb2 = (out[:3].permute(1, 2, 0) + (1.0 - a2[..., None])).clamp(0.0, 1.0)
    return rgb2.numpy(), a2.numpy()
