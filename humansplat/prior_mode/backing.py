"""A backing sheet behind the thin parts of the visible layer: the input view as opaque with anti-aliased
opacity compensation as without.

Anti-aliased renderers (gsplat's ``rasterize_mode="antialiased"``, Spark and PlayCanvas by default) scale
a splat's opacity by ``sqrt(det(S) / det(S + 0.3 I))`` (S its screen covariance, px^2). One sheet of
visible-layer splats of :data:`~.coverage.MIN_SIGMA_PX` (0.5 grid pixels: at colour edges and on the rows
at the silhouette) is then only about 83 % opaque, and the back layers show through. Behind every other
such pixel (a checkerboard) :func:`backing_sheet` puts a copy of its splat, :data:`BACKING_DEPTH_PX` pixel
footprints further along its ray and :data:`BACKING_SCALE` times as wide in-plane (one copy per two
pixels with the same area per pixel, so about as opaque as one copy per pixel; on the first backed row at
the silhouette as small as its twin), with its twin's colour and opacity (:func:`match_backing`, run by
each colour pass). Two sheets are about 97 % opaque with the compensation; without it the front sheet is
opaque and hides the copies.

Shapes: S visible-grid side (pixels), N Gaussians, M backing Gaussians.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from .coverage import INNER_SIGMA_PX

__all__ = ["BACKING_DEPTH_PX", "BACKING_SCALE", "FIRST_ROW", "backing_scales", "backing_sheet", "match_backing"]

BACKING_DEPTH_PX = 6.0
"""Distance of a copy behind its twin along the twin's ray, in pixel footprints of the visible grid
(depth / focal): behind its twin's neighbours on slanted surfaces too (2: side views 0.2-0.3 dB worse)."""
BACKING_SCALE = float(np.sqrt(2.0))
"""In-plane size of a copy relative to its twin's: one copy per two pixels covers the same area per pixel."""
FIRST_ROW = 2
"""The first row of pixels at the silhouette (the edge pixels are row 1) that is backed. Copies on this
row keep their twins' size: larger ones, or copies of the edge pixels, widen the outline without
compensation (the synthetic person's input view 0.6 dB lower with copies :data:`BACKING_SCALE` wide there)."""


def backing_scales(mask: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """(S, S) float32: each pixel's copy's in-plane size relative to its visible splat, 0 where it has none.

    Every other ``mask`` pixel (a checkerboard) whose visible splat is smaller than
    :data:`~.coverage.INNER_SIGMA_PX` (``sigmas`` (S, S), grid pixels, from :func:`~.coverage.visible_sigmas`),
    from row :data:`FIRST_ROW` of the silhouette inwards, has a copy: :data:`BACKING_SCALE` inside that row, 1 on it.
    """
    from scipy.ndimage import distance_transform_edt

    row = np.rint(distance_transform_edt(mask))  # 1 on the edge pixels
    i, j = np.indices(mask.shape)
    backed = mask & (sigmas < INNER_SIGMA_PX) & (row >= FIRST_ROW) & ((i + j) % 2 == 0)
    return np.where(backed, np.where(row > FIRST_ROW, BACKING_SCALE, 1.0), 0.0).astype(np.float32)


def backing_sheet(
    visible: Gaussians, mask: np.ndarray, scales: np.ndarray, camera: Cameras
) -> tuple[Gaussians, torch.Tensor]:
    """Copies of the visible Gaussians of the pixels where ``scales`` > 0, :data:`BACKING_DEPTH_PX` deeper.

    Args:
        visible: the visible layer, one Gaussian per ``mask`` pixel (S, S) in row-major order.
        mask: (S, S) bool, the visible layer's pixels.
        scales: (S, S) the copies' in-plane size relative to their twins', 0 = no copy (:func:`backing_scales`).
        camera: the visible grid's camera; each copy moves along the ray from its centre.

    Returns:
        (copies, twins): one Gaussian per backed pixel in row-major order, its two larger axes ``scales``
        times its twin's, and the twins' indices (M,) into ``visible``.
    """
    scale = torch.as_tensor(scales[mask], dtype=torch.float32)
    twins = torch.nonzero(scale > 0).squeeze(-1)
    copies = visible[twins]
    if len(copies) == 0:
        return copies, twins
    log_scales = copies.log_scales.clone()
    larger = log_scales.argsort(dim=-1)[:, 1:]  # the two in-plane axes; the normal stays thin
    log_scales.scatter_(1, larger, log_scales.gather(1, larger) + torch.log(scale[twins])[:, None])
    centre = camera.camtoworlds[0, :3, 3].to(copies.means)
    step = BACKING_DEPTH_PX / float(camera.Ks[0, 0, 0])  # pixel footprints (depth / focal) per metre of depth
    means = centre + (copies.means - centre) * (1.0 + step)
    return replace(copies, means=means, log_scales=log_scales), twins


def match_backing(gaussians: Gaussians, twins: torch.Tensor) -> Gaussians:
    """``gaussians`` whose last M Gaussians (the backing) take the colours and opacities of their ``twins``
    (M,) indices; changes ``gaussians`` in place and returns it."""
    if len(twins) == 0:
        return gaussians
    backing = slice(len(gaussians) - len(twins), len(gaussians))
    gaussians.sh0[backing] = gaussians.sh0[twins]
    gaussians.shN[backing] = gaussians.shN[twins]
    gaussians.logit_opacities[backing] = gaussians.logit_opacities[twins]
    return gaussians
