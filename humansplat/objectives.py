"""Objectives of fitting Gaussians to views: the rendering loss and the hierarchical, semantics-guided
loss on body parts (METHOD.md, "Training objectives"), minimised by the trainer of the reconstruction
transformer (:mod:`humansplat.train`) and by the views-mode fit (:mod:`humansplat.views_mode.fit`).

* :func:`reconstruction_loss`: ``L_rec = λ_i·MSE(rgb) + λ_m·MSE(alpha, mask) + λ_p·LPIPS`` over whole
  rendered views.
* :func:`part_masks`: where each semantic body part is seen in each view (z-buffered, so an occluded
  part does not leak through the one in front of it).
* :func:`hierarchical_loss`: the same three terms again on each part's region, weighted by
  :data:`~humansplat.parts.PART_WEIGHTS` (2 for head/face/hands/arms, 1 else).
* :func:`training_loss`: ``L_rec + λ_h·L_hier``, what :mod:`humansplat.train.trainer` minimises.

Perceptual term
---------------
LPIPS needs VGG weights that cannot be downloaded here, so ``lpips_fn`` defaults to ``None``: the term
is then skipped (``perceptual`` is ``None`` in the returned terms and ``skipped`` names it). Any callable
``lpips_fn(x, y)`` works, with ``x, y`` (K, 3, S, S) images in [-1, 1] returning K distances (any shape
with K elements, e.g. (K, 1, 1, 1)) or their mean. The ``lpips`` package's module is such a callable::

    import lpips                      # pip install lpips; downloads VGG weights on first use
    lpips_fn = lpips.LPIPS(net="vgg").eval().requires_grad_(False).to(device)   # or make_lpips("vgg", device)
    terms = reconstruction_loss(rgb, alpha, gt_rgb, gt_mask, lpips_fn=lpips_fn)

(``python -m humansplat.train --lpips vgg`` does the same for training.)

Conventions: images are channel-last as :func:`humansplat.render.render` returns them, colours in
[0, 1], masks/alphas in [0, 1]. Shapes: C views, H x W pixels, P parts (``len(PART_NAMES)``),
K image pairs given to the perceptual module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .cameras import Cameras
from .parts import PART_NAMES, PART_WEIGHTS
from .render.mesh import TexturedMesh, face_parts, render_mesh

__all__ = [
    "HierarchicalTerms",
    "LossTerms",
    "PerceptualFn",
    "Region",
    "TrainingTerms",
    "face_parts",
    "hierarchical_loss",
    "make_lpips",
    "part_boxes",
    "part_masks",
    "reconstruction_loss",
    "training_loss",
]

PerceptualFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(x, y) -> distances``: x, y (K, 3, S, S) in [-1, 1]; K values (any shape) or their mean."""

Region = Literal["box", "mask"]


# ---------------------------------------------------------------------------------------------- terms
def _num(x: torch.Tensor) -> float:
    return float(x.detach())


@dataclass
class LossTerms:
    """The three weighted terms of a reconstruction loss (scalars, differentiable).

    Attributes:
        total: ``λ_i·rgb + λ_m·mask + λ_p·perceptual`` (the perceptual part only when computed).
        rgb: MSE of the colours (mean over pixels and channels).
        mask: MSE between rendered alpha and the ground-truth mask.
        perceptual: the perceptual distance (mean), or None when ``lpips_fn`` was None.
    """

    total: torch.Tensor
    rgb: torch.Tensor
    mask: torch.Tensor
    perceptual: torch.Tensor | None = None

    @property
    def skipped(self) -> tuple[str, ...]:
        """Names of the terms that were not computed (``("perceptual",)`` without ``lpips_fn``)."""
        return () if self.perceptual is not None else ("perceptual",)

    def as_floats(self, prefix: str = "") -> dict[str, float]:
        """Plain numbers for logs: ``{prefix+"total": ..., prefix+"rgb": ..., ...}``."""
        out = {f"{prefix}total": _num(self.total), f"{prefix}rgb": _num(self.rgb), f"{prefix}mask": _num(self.mask)}
        if self.perceptual is not None:
            out[f"{prefix}perceptual"] = _num(self.perceptual)
        return out


@dataclass
class HierarchicalTerms:
    """What :func:`hierarchical_loss` returns.

    Attributes:
        total: ``sum_j λ_j L_j / sum_{j seen} λ_j`` (scalar; 0 when no part is seen in any view).
        parts: part name -> its :class:`LossTerms` ``L_j`` (mean over the views where the part is seen),
            for the parts seen in at least one view.
        views: part name -> number of views in which the part is seen (all parts, 0 when unseen).
        normalizer: ``sum_{j seen} λ_j``.
    """

    total: torch.Tensor
    parts: dict[str, LossTerms] = field(default_factory=dict)
    views: dict[str, int] = field(default_factory=dict)
    normalizer: float = 0.0

    def as_floats(self, prefix: str = "part/") -> dict[str, float]:
        """``{prefix+name: L_j}`` for the seen parts (totals only)."""
        return {f"{prefix}{name}": _num(t.total) for name, t in self.parts.items()}


@dataclass
class TrainingTerms:
    """What :func:`training_loss` returns: ``total = reconstruction.total + λ_h · hierarchical.total``."""

    total: torch.Tensor
    reconstruction: LossTerms
    hierarchical: HierarchicalTerms | None

    def as_floats(self) -> dict[str, float]:
        out = {"loss": _num(self.total), **self.reconstruction.as_floats("rec/")}
        if self.hierarchical is not None:
            out["hier/total"] = _num(self.hierarchical.total)
            out.update(self.hierarchical.as_floats())
        return out


# ---------------------------------------------------------------------------------------------- inputs
def _channel_last(x: torch.Tensor, name: str, channels: int) -> torch.Tensor:
    """(C, H, W) or (C, H, W, channels) -> (C, H, W, channels) float."""
    if x.ndim == 3 and channels == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != channels:
        raise ValueError(
            f"{name} must be (C, H, W, {channels}) channel-last (or (C, H, W) for 1 channel), got {tuple(x.shape)}"
        )
    return x.float()


def _check_images(pred_rgb, pred_alpha, gt_rgb, gt_mask) -> tuple[torch.Tensor, ...]:
    pred_rgb = _channel_last(pred_rgb, "pred_rgb", 3)
    gt_rgb = _channel_last(gt_rgb, "gt_rgb", 3)
    pred_alpha = _channel_last(pred_alpha, "pred_alpha", 1)
    gt_mask = _channel_last(gt_mask, "gt_mask", 1)
    shapes = {tuple(t.shape[:3]) for t in (pred_rgb, gt_rgb, pred_alpha, gt_mask)}
    if len(shapes) != 1:
        raise ValueError(
            f"pred_rgb {tuple(pred_rgb.shape)}, pred_alpha {tuple(pred_alpha.shape)}, gt_rgb {tuple(gt_rgb.shape)} "
            f"and gt_mask {tuple(gt_mask.shape)} must share (C, H, W)"
        )
    return pred_rgb, pred_alpha, gt_rgb.to(pred_rgb), gt_mask.to(pred_rgb)


def _perceptual(lpips_fn: PerceptualFn, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(K, H, W, 3) pair in [0, 1] -> (K,) distances from ``lpips_fn`` (inputs moved to [-1, 1])."""
    x = pred.permute(0, 3, 1, 2) * 2.0 - 1.0  # [K, H, W, 3] -> [K, 3, H, W]
    y = gt.permute(0, 3, 1, 2) * 2.0 - 1.0
    d = torch.as_tensor(lpips_fn(x, y)).to(pred)
    if d.numel() == pred.shape[0]:
        return d.reshape(-1)
    if d.numel() == 1:
        return d.reshape(1).expand(pred.shape[0])
    raise ValueError(
        f"lpips_fn returned {tuple(d.shape)} for {pred.shape[0]} image pairs; expected {pred.shape[0]} values or one"
    )


def make_lpips(
    net: Literal["vgg", "alex", "squeeze"] = "vgg", device: torch.device | str | None = None
) -> PerceptualFn:
    """The ``lpips`` package's frozen LPIPS module (``lpips.LPIPS(net=net)``) as a ``lpips_fn``.

    Needs ``pip install lpips`` (it depends on torchvision: install one built for your torch) and
    downloads the backbone's ImageNet weights on first use, so it cannot run offline here.

    Raises:
        ImportError: ``lpips`` is not installed (the message says what to do).
    """
    try:
        import lpips
    except ImportError as exc:
        raise ImportError(
            "the perceptual term needs the 'lpips' package: pip install lpips (with a torchvision matching your "
            "torch; VGG weights are downloaded on first use), or train without it (lpips_fn=None)"
        ) from exc
    module = lpips.LPIPS(net=net, verbose=False).eval().requires_grad_(False)
    return module.to(device) if device is not None else module


# ---------------------------------------------------------------------------------------------- L_rec
def reconstruction_loss(
    pred_rgb: torch.Tensor,
    pred_alpha: torch.Tensor,
    gt_rgb: torch.Tensor,
    gt_mask: torch.Tensor,
    lpips_fn: PerceptualFn | None = None,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
) -> LossTerms:
    """``λ_i·MSE(rgb) + λ_m·MSE(alpha, mask) + λ_p·LPIPS`` over whole views.

    Args:
        pred_rgb: (C, H, W, 3) rendered colours in [0, 1] (``RenderOutput.rgb``).
        pred_alpha: (C, H, W, 1) or (C, H, W) rendered opacity (``RenderOutput.alpha``).
        gt_rgb: (C, H, W, 3) ground-truth colours in [0, 1], on the background used for rendering.
        gt_mask: (C, H, W) or (C, H, W, 1) ground-truth person mask in [0, 1].
        lpips_fn: perceptual distance (module docstring); None skips the term.
        weights: (λ_i, λ_m, λ_p), the paper's (1, 1, 1).

    Returns:
        :class:`LossTerms` (MSEs are means over views, pixels and channels; LPIPS the mean over views).
    """
    pred_rgb, pred_alpha, gt_rgb, gt_mask = _check_images(pred_rgb, pred_alpha, gt_rgb, gt_mask)
    lam_i, lam_m, lam_p = _weights(weights)
    rgb = (pred_rgb - gt_rgb).square().mean()
    mask = (pred_alpha - gt_mask).square().mean()
    total = lam_i * rgb + lam_m * mask
    perceptual = None
    if lpips_fn is not None:
        perceptual = _perceptual(lpips_fn, pred_rgb, gt_rgb).mean()
        total = total + lam_p * perceptual
    return LossTerms(total=total, rgb=rgb, mask=mask, perceptual=perceptual)


def _weights(weights: Sequence[float]) -> tuple[float, float, float]:
    w = tuple(float(x) for x in weights)
    if len(w) != 3 or any(not np.isfinite(x) or x < 0 for x in w):
        raise ValueError(f"weights must be three finite non-negative numbers (λ_i, λ_m, λ_p), got {weights!r}")
    return w  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- part masks
def part_masks(
    body: object,
    cameras: Cameras,
    faces: torch.Tensor | None = None,
    parts: torch.Tensor | None = None,
    *,
    num_parts: int = len(PART_NAMES),
    supersample: int = 1,
) -> torch.Tensor:
    """Masks of each semantic part as seen in each view, z-buffered against the whole body.

    Every pixel covered by the body belongs to exactly one part (the part of the front-most triangle
    there), so the masks partition the body's silhouette: ``masks.sum(1)`` is the body mask and no
    pixel is shared. With ``supersample = s > 1`` each pixel averages s x s samples (soft masks that
    still sum to the body's coverage). Rendered with :func:`humansplat.render.mesh.render_mesh` (a
    triangle's part: :func:`~humansplat.render.mesh.face_parts`).

    Args:
        body: a :class:`~humansplat.prior.body_fit.BodyFit` (or anything with ``vertices``, ``faces``,
            ``parts``, e.g. a :class:`~humansplat.prior.synthetic.SyntheticPerson`), or the (M, 3)
            vertices themselves (metres, world frame), then ``faces`` (F, 3) and ``parts`` (M,) are needed.
        cameras: C views (one image size H x W).
        num_parts: P, labels are ``0..P-1`` (default: :data:`PART_NAMES`).
        supersample: samples per pixel side.

    Returns:
        (C, P, H, W) float32 in [0, 1] on ``cameras.device``.
    """
    if isinstance(body, (torch.Tensor, np.ndarray)):
        vertices = torch.as_tensor(body, dtype=torch.float32)
        if faces is None or parts is None:
            raise ValueError(
                "part_masks(vertices, cameras, faces, parts): faces and parts are needed with bare vertices"
            )
    else:
        vertices = torch.as_tensor(body.vertices, dtype=torch.float32)  # type: ignore[attr-defined]
        faces = body.faces if faces is None else faces  # type: ignore[attr-defined]
        parts = body.parts if parts is None else parts  # type: ignore[attr-defined]
    parts = torch.as_tensor(parts, dtype=torch.long).cpu()
    if vertices.ndim != 2 or vertices.shape[1] != 3 or tuple(parts.shape) != (vertices.shape[0],):
        raise ValueError(f"need vertices (M, 3) and parts (M,), got {tuple(vertices.shape)} and {tuple(parts.shape)}")
    if len(parts) and (int(parts.min()) < 0 or int(parts.max()) >= num_parts):
        raise ValueError(f"part labels must lie in [0, {num_parts}), got [{int(parts.min())}, {int(parts.max())}]")
    s = int(supersample)
    if s < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    faces = torch.as_tensor(faces, dtype=torch.long).cpu()
    mesh = TexturedMesh(vertices.detach().cpu(), faces, parts=parts, name="body")
    return render_mesh(mesh, cameras, supersample=s, num_parts=num_parts).parts.to(cameras.device)


def part_boxes(masks: torch.Tensor, margin: int = 2, min_pixels: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounding boxes of the part masks.

    Args:
        masks: (C, P, H, W) part masks (:func:`part_masks`).
        margin: pixels added on every side (clipped to the image).
        min_pixels: a part counts as seen in a view when its mask sums to at least this.

    Returns:
        boxes: (C, P, 4) int64 ``(x0, y0, x1, y1)``, pixel rows ``y0 <= i < y1``, columns
            ``x0 <= j < x1`` (zeros where unseen).
        seen: (C, P) bool.
    """
    H, W = masks.shape[-2:]
    on = masks > 0
    seen = masks.flatten(2).sum(-1) >= min_pixels
    rows, cols = on.any(-1), on.any(-2)  # (C, P, H), (C, P, W)
    ar_h = torch.arange(H, device=masks.device)
    ar_w = torch.arange(W, device=masks.device)
    big = max(H, W) + 1
    y0 = torch.where(rows, ar_h, big).amin(-1)
    y1 = torch.where(rows, ar_h, -1).amax(-1) + 1
    x0 = torch.where(cols, ar_w, big).amin(-1)
    x1 = torch.where(cols, ar_w, -1).amax(-1) + 1
    boxes = torch.stack(
        [(x0 - margin).clamp(0, W), (y0 - margin).clamp(0, H), (x1 + margin).clamp(0, W), (y1 + margin).clamp(0, H)], -1
    )
    return torch.where(seen[..., None], boxes, torch.zeros_like(boxes)), seen


def _box_masks(boxes: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(C, P, 4) boxes -> (C, P, H, W) float32 indicator masks."""
    ar_h = torch.arange(H, device=boxes.device)
    ar_w = torch.arange(W, device=boxes.device)
    inside_h = (ar_h >= boxes[..., 1, None]) & (ar_h < boxes[..., 3, None])  # (C, P, H)
    inside_w = (ar_w >= boxes[..., 0, None]) & (ar_w < boxes[..., 2, None])  # (C, P, W)
    return (inside_h[..., :, None] & inside_w[..., None, :]).float()


# ---------------------------------------------------------------------------------------------- L_hier
def hierarchical_loss(
    pred_rgb: torch.Tensor,
    pred_alpha: torch.Tensor,
    gt_rgb: torch.Tensor,
    gt_mask: torch.Tensor,
    masks: torch.Tensor,
    lpips_fn: PerceptualFn | None = None,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
    part_weights: Mapping[str, float] | None = None,
    part_names: Sequence[str] = PART_NAMES,
    region: Region = "box",
    margin: int = 2,
    min_pixels: float = 4.0,
    crop_size: int = 32,
) -> HierarchicalTerms:
    """The reconstruction loss again on each semantic part, weighted per part.

    For part j and view c where the part is seen (mask sum >= ``min_pixels``), ``L_{c,j}`` is
    :func:`reconstruction_loss`'s three terms restricted to the part's **region** in that view:

    * ``region="box"`` (default): the bounding box of the part's mask, ``margin`` pixels wider, so
      the colours and the silhouette edge around the part both count (the paper's "crops");
    * ``region="mask"``: only the part's own pixels (mask-weighted means; the parts then partition
      the body and a pixel's error counts for exactly one part).

    MSEs are (mask-)weighted means over the region's pixels; the perceptual term compares the box
    crops resized to ``crop_size`` x ``crop_size`` (both regions use the box for it). Then

        ``L_j = mean over the views where j is seen of L_{c,j}``,
        ``L_hier = sum_j λ_j L_j / sum_{j seen in some view} λ_j``,

    a weighted mean with ``λ_j`` from ``part_weights`` (default :data:`PART_WEIGHTS`: 2 for
    head/face/hands/arms, 1 else), so ``L_hier`` has the scale of ``L_rec`` and a part's share grows with
    its weight. Example: an error only in the head's pixels (``region="mask"``) with every part seen
    gives ``L_hier = 2 L_head / 11``; doubling that colour error multiplies ``L_head`` and ``L_hier`` by 4.

    Args:
        pred_rgb, pred_alpha, gt_rgb, gt_mask: as :func:`reconstruction_loss`, (C, H, W, ·).
        masks: (C, P, H, W) part masks of the same views (:func:`part_masks`).
        lpips_fn, weights: as :func:`reconstruction_loss`.
        part_weights: part name -> λ_j (names not given weigh 1).
        part_names: the P names of ``masks``' parts.
        region, margin, min_pixels, crop_size: see above.

    Returns:
        :class:`HierarchicalTerms`.
    """
    pred_rgb, pred_alpha, gt_rgb, gt_mask = _check_images(pred_rgb, pred_alpha, gt_rgb, gt_mask)
    C, H, W, _ = pred_rgb.shape
    if masks.ndim != 4 or masks.shape[0] != C or tuple(masks.shape[2:]) != (H, W):
        raise ValueError(f"masks must be (C={C}, P, H={H}, W={W}), got {tuple(masks.shape)}")
    if masks.shape[1] != len(part_names):
        raise ValueError(f"masks have {masks.shape[1]} parts but part_names has {len(part_names)}: {tuple(part_names)}")
    if region not in ("box", "mask"):
        raise ValueError(f"region must be 'box' or 'mask', got {region!r}")
    if int(crop_size) < 8:
        raise ValueError(f"crop_size must be at least 8 pixels, got {crop_size}")
    lam_i, lam_m, lam_p = _weights(weights)
    table = dict(PART_WEIGHTS if part_weights is None else part_weights)
    lam = torch.tensor([float(table.get(n, 1.0)) for n in part_names], dtype=torch.float32, device=pred_rgb.device)
    if bool((lam < 0).any()):
        raise ValueError(f"part weights must be non-negative, got {table}")

    masks = masks.to(pred_rgb)
    boxes, seen = part_boxes(masks, margin, min_pixels)  # (C, P, 4), (C, P)
    region_w = _box_masks(boxes, H, W) if region == "box" else masks
    region_w = region_w * seen[..., None, None]
    area = region_w.flatten(2).sum(-1).clamp_min(1e-8)  # (C, P)

    err_rgb = (pred_rgb - gt_rgb).square().mean(-1)  # (C, H, W)
    err_mask = (pred_alpha - gt_mask).square()[..., 0]  # (C, H, W)
    rgb_cp = torch.einsum("cphw,chw->cp", region_w, err_rgb) / area
    mask_cp = torch.einsum("cphw,chw->cp", region_w, err_mask) / area
    perc_cp = None
    if lpips_fn is not None:
        perc_cp = torch.zeros_like(rgb_cp)
        idx = seen.nonzero()  # (K, 2): (view, part)
        if len(idx):
            pred_crops, gt_crops = [], []
            for c, p in idx.tolist():
                x0, y0, x1, y1 = boxes[c, p].tolist()
                pred_crops.append(_resize_crop(pred_rgb[c, y0:y1, x0:x1], crop_size))
                gt_crops.append(_resize_crop(gt_rgb[c, y0:y1, x0:x1], crop_size))
            d = _perceptual(lpips_fn, torch.stack(pred_crops), torch.stack(gt_crops))
            perc_cp = perc_cp.index_put((idx[:, 0], idx[:, 1]), d)

    n_views = seen.sum(0)  # (P,)
    denom = n_views.clamp_min(1).to(rgb_cp)
    rgb_j = rgb_cp.sum(0) / denom  # unseen (c, p) entries are 0
    mask_j = mask_cp.sum(0) / denom
    perc_j = perc_cp.sum(0) / denom if perc_cp is not None else None
    total_j = lam_i * rgb_j + lam_m * mask_j + (lam_p * perc_j if perc_j is not None else 0.0)
    present = n_views > 0
    normalizer = float((lam * present).sum())
    if normalizer > 0:
        total = (lam * total_j * present).sum() / normalizer
    else:  # nothing seen: a zero that keeps the graph
        total = pred_rgb.sum() * 0.0
    parts = {
        name: LossTerms(total_j[j], rgb_j[j], mask_j[j], None if perc_j is None else perc_j[j])
        for j, name in enumerate(part_names)
        if bool(present[j])
    }
    views = {name: int(n_views[j]) for j, name in enumerate(part_names)}
    return HierarchicalTerms(total=total, parts=parts, views=views, normalizer=normalizer)


def _resize_crop(crop: torch.Tensor, size: int) -> torch.Tensor:
    """(h, w, 3) -> (size, size, 3) bilinear (antialiased when shrinking)."""
    x = crop.permute(2, 0, 1)[None]  # [h, w, 3] -> [1, 3, h, w]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0)


# ---------------------------------------------------------------------------------------------- total
def training_loss(
    pred_rgb: torch.Tensor,
    pred_alpha: torch.Tensor,
    gt_rgb: torch.Tensor,
    gt_mask: torch.Tensor,
    masks: torch.Tensor | None = None,
    lpips_fn: PerceptualFn | None = None,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
    hierarchical_weight: float = 1.0,
    **hierarchical_kwargs,
) -> TrainingTerms:
    """``L = L_rec + λ_h · L_hier`` (:func:`reconstruction_loss`, :func:`hierarchical_loss`).

    Args:
        pred_rgb, pred_alpha, gt_rgb, gt_mask, lpips_fn, weights: as :func:`reconstruction_loss`.
        masks: (C, P, H, W) part masks; None (or ``hierarchical_weight == 0``) leaves L_hier out.
        hierarchical_weight: λ_h.
        hierarchical_kwargs: passed to :func:`hierarchical_loss` (``part_weights``, ``region``, ...).
    """
    rec = reconstruction_loss(pred_rgb, pred_alpha, gt_rgb, gt_mask, lpips_fn, weights)
    hier = None
    total = rec.total
    if masks is not None and hierarchical_weight != 0:
        hier = hierarchical_loss(pred_rgb, pred_alpha, gt_rgb, gt_mask, masks, lpips_fn, weights, **hierarchical_kwargs)
        total = total + float(hierarchical_weight) * hier.total
    return TrainingTerms(total=total, reconstruction=rec, hierarchical=hier)
