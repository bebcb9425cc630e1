"""Held-out evaluation during training: PSNR, SSIM and mask IoU by view group, and sample images.

The scores are the novel-view evaluation harness's (:func:`humansplat.eval.metrics.score_view`:
PSNR, masked PSNR, SSIM, mask IoU) and so are the view groups (:func:`humansplat.eval.view_group`:
``"input"``, ``"front"``, ``"near side"``, ``"side"``, ``"far side"``, ``"back"`` by azimuth); a
view the reconstructor did not see is also in ``"novel"``, and every view in ``"all"``. The trainer
calls :func:`view_metrics` on held-out subjects every ``eval_every`` steps and at the end (the final
scores go into the checkpoint's provenance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["METRICS", "sample_grid", "save_sample_grid", "view_groups", "view_metrics"]

METRICS = ("psnr", "psnr_masked", "ssim", "iou")


def view_groups(azimuths_deg: torch.Tensor, context: torch.Tensor) -> list[tuple[str, ...]]:
    """The groups of each of the V views of a sample: the harness's azimuth group (view 0: ``"input"``),
    plus ``"novel"`` when the view is not in ``context``."""
    from ..eval import view_group

    ctx = {int(i) for i in context.tolist()}
    out = []
    for v, azimuth in enumerate(azimuths_deg.tolist()):
        group = view_group(None if v == 0 else float(azimuth))
        out.append((group,) if v in ctx else (group, "novel"))
    return out


def view_metrics(
    rgb: torch.Tensor, alpha: torch.Tensor, images: torch.Tensor, masks: torch.Tensor, groups: list[tuple[str, ...]]
) -> dict[str, dict[str, float]]:
    """Scores of V rendered views against ground truth, by view group and over ``"all"`` views.

    Args:
        rgb: (V, H, W, 3) rendered colours in [0, 1]; alpha: (V, H, W) or (V, H, W, 1) rendered opacity.
        images: (V, H, W, 3) ground-truth colours; masks: (V, H, W) ground-truth person masks.
        groups: the groups of each view (:func:`view_groups`).

    Returns:
        group -> {"psnr": dB, "psnr_masked": dB, "ssim", "iou"}: means over the group's views
        (nan-skipping: an IoU is nan when both masks are empty).
    """
    from ..eval.metrics import score_view

    if alpha.numel() != masks.numel():
        raise ValueError(f"alpha {tuple(alpha.shape)} does not match masks {tuple(masks.shape)}")
    pred = rgb.detach().float().clamp(0, 1).cpu().numpy()
    pred_a = alpha.detach().float().cpu().reshape(masks.shape).numpy()
    gt, gt_a = images.detach().float().cpu().numpy(), masks.detach().float().cpu().numpy()
    per_view = [score_view(gt[v], gt_a[v], pred[v], pred_a[v]) for v in range(len(pred))]
    names = ["all", *dict.fromkeys(g for gs in groups for g in gs)]
    out: dict[str, dict[str, float]] = {}
    for name in names:
        rows = [s for s, gs in zip(per_view, groups) if name == "all" or name in gs]
        out[name] = {k: float(np.nanmean([getattr(r, k) for r in rows])) for k in METRICS}
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
