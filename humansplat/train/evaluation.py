"""Held-out evaluation during training: PSNR, SSIM and mask IoU by view group, and sample images.

One function, :func:`view_metrics`, turns rendered views and their ground truth into scores; the
trainer calls it on held-out subjects every ``eval_every`` steps and at the end (the final scores
go into the checkpoint's provenance). PSNR and SSIM are scikit-image's
(``skimage.metrics``); this module writes no metric of its own, so swapping in the project's
evaluation harness (``humansplat.eval``) is a change of these few lines.

View groups of a :class:`~humansplat.train.data.MultiViewSample`: ``"input"`` (view 0, the photo's
camera), ``"context"`` (the orbit views the reconstructor saw), ``"novel"`` (views only supervised).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["METRICS", "sample_grid", "save_sample_grid", "view_groups", "view_metrics"]

METRICS = ("psnr", "ssim", "iou")


def view_groups(num_views: int, context: torch.Tensor) -> list[str]:
    """The group of each of the V views: ``"input"`` (0), ``"context"`` or ``"novel"``."""
    ctx = {int(i) for i in context.tolist()}
    return ["input" if v == 0 else "context" if v in ctx else "novel" for v in range(num_views)]


def view_metrics(
    rgb: torch.Tensor, alpha: torch.Tensor, images: torch.Tensor, masks: torch.Tensor, groups: list[str]
) -> dict[str, dict[str, float]]:
    """Scores of V rendered views against ground truth, by view group and over ``"all"`` views.

    Args:
        rgb: (V, H, W, 3) rendered colours in [0, 1]; alpha: (V, H, W) or (V, H, W, 1) rendered opacity.
        images: (V, H, W, 3) ground-truth colours; masks: (V, H, W) ground-truth person masks.
        groups: V group names (:func:`view_groups`).

    Returns:
        group -> {"psnr": dB, "ssim": [-1, 1], "iou": alpha > 0.5 vs mask > 0.5}, means over the group's views.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred = rgb.detach().float().clamp(0, 1).cpu().numpy()
    gt = images.detach().float().cpu().numpy()
    if alpha.numel() != masks.numel():
        raise ValueError(f"alpha {tuple(alpha.shape)} does not match masks {tuple(masks.shape)}")
    a, m = alpha.detach().cpu().reshape(masks.shape) > 0.5, masks.detach().cpu() > 0.5
    per_view = []
    for v in range(len(pred)):
        union = int((a[v] | m[v]).sum())
        per_view.append(
            {
                "psnr": float(peak_signal_noise_ratio(gt[v], pred[v], data_range=1.0)),
                "ssim": float(structural_similarity(gt[v], pred[v], channel_axis=-1, data_range=1.0, win_size=7)),
                "iou": float((a[v] & m[v]).sum()) / union if union else 1.0,
            }
        )
    out: dict[str, dict[str, float]] = {}
    for group in ["all", *dict.fromkeys(groups)]:
        rows = [s for s, g in zip(per_view, groups) if group in ("all", g)]
        out[group] = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
    return out


def sample_grid(rgb: torch.Tensor, images: torch.Tensor) -> np.ndarray:
    """(2 H, V W, 3) uint8: the ground-truth views ((V, H, W, 3) ``images``) on top, the rendered ones below."""
    top = torch.cat(list(images.detach().float().cpu()), dim=1)  # [V, H, W, 3] -> [H, V W, 3]
    bottom = torch.cat(list(rgb.detach().float().clamp(0, 1).cpu()), dim=1)
    return (torch.cat([top, bottom], dim=0).numpy() * 255.0 + 0.5).astype(np.uint8)


def save_sample_grid(grid: np.ndarray, path: str | Path) -> Path:
    """Write :func:`sample_grid`'s image as a PNG (folders made)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path
