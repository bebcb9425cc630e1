"""Splats large enough for any renderer: a lower bound on each Gaussian's in-plane size.

Web viewers drop or fade Gaussians that are small on screen: PlayCanvas culls every splat whose
projected extent is under 2 px (``minPixelSize``: standard deviation under about 0.45 px), and
anti-aliased renderers (Spark's default, gsplat's ``rasterize_mode="antialiased"``) scale a splat's
opacity by ``sqrt(det(S) / det(S + 0.3 I))``, about 0.23 for a 0.3 px splat. :func:`cover_surface`
raises the two largest axes of every Gaussian to at least :data:`MIN_SIGMA_PX` pixel footprints of
the visible layer's grid (depth / focal length; one Gaussian per grid pixel), so that each splat
covers its share of the surface: rendered at the grid's resolution or closer, it survives both and
leaves no gaps between neighbours. The smallest axis (the surface normal) is left thin.

One sheet of such splats is still only about 97 % opaque inside the body with the compensation (gsplat's;
the back layers show through the photo's colours), so the visible layer (the one the input view sees) is
sized by :func:`visible_sigmas`: :data:`INNER_SIGMA_PX` inside, about 99.2 % opaque with the compensation
(the colour passes of :mod:`.photo_colours` sharpen what the larger splats blur). Its :data:`RIM_ROWS` rows
of pixels nearest the silhouette and the pixels at sharp colour edges keep :data:`MIN_SIGMA_PX`, so that
neither the outline nor the photo's edges grow.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians

__all__ = ["FLAT_RANGE", "INNER_SIGMA_PX", "MIN_SIGMA_PX", "RIM_ROWS", "cover_surface", "visible_sigmas"]

MIN_SIGMA_PX = 0.5
"""Smallest in-plane standard deviation, in pixels of the visible layer's grid (its neighbours' spacing)."""
INNER_SIGMA_PX = 0.7
"""In-plane standard deviation of the visible layer inside its rim, in grid pixels. Larger values blur the
photo more than the colour passes recover (0.8: about 0.6 dB lower input-view PSNR in classic mode)."""
FLAT_RANGE = 0.1
"""Largest colour range (per channel, over a pixel's 3 x 3 neighbours, 0-1) where the visible layer's splats
are :data:`INNER_SIGMA_PX`: across sharper colour edges larger splats blur the photo in classic mode more
than the colour passes recover."""
RIM_ROWS = 2
"""Rows of visible-layer pixels at the silhouette (the edge pixels are the first) that keep
:data:`MIN_SIGMA_PX`: larger splats there, even when long only along the silhouette, widen the outline in
classic mode (the colour passes see no pixel outside the silhouette)."""


def visible_sigmas(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(S, S) in-plane standard deviation of the visible layer's Gaussians on the grid of ``mask``, grid pixels.

    Args:
        mask: (S, S) bool, the visible layer's pixels.
        rgb: (S, S, 3) their colours in [0, 1]; where the 3 x 3 neighbourhood's colours span more than
            :data:`FLAT_RANGE` the splats keep :data:`MIN_SIGMA_PX` (a colour edge stays sharp).

    Returns:
        :data:`MIN_SIGMA_PX` on the :data:`RIM_ROWS` rows of pixels nearest the silhouette (and outside
        ``mask``), :data:`INNER_SIGMA_PX` inside them.
    """
    from scipy.ndimage import distance_transform_edt, maximum_filter, minimum_filter

    row = np.rint(distance_transform_edt(mask))  # 1 on the edge pixels (also diagonal ones), 0 outside
    span = (maximum_filter(rgb, size=(3, 3, 1)) - minimum_filter(rgb, size=(3, 3, 1))).max(-1)
    inner = (row > RIM_ROWS) & (span <= FLAT_RANGE)
    return np.where(inner, INNER_SIGMA_PX, MIN_SIGMA_PX).astype(np.float32)


def cover_surface(gaussians: Gaussians, camera: Cameras, min_sigma_px: float = MIN_SIGMA_PX) -> Gaussians:
    """``gaussians`` with the two largest axes of each at least ``min_sigma_px`` pixel footprints.

    Args:
        gaussians: N Gaussians in ``camera``'s world frame.
        camera: one camera (the visible layer's grid); a Gaussian's pixel footprint is its depth there / fx,
            metres.
        min_sigma_px: the smallest standard deviation of the two largest axes, in pixels (> 0).

    Returns:
        New Gaussians; only ``log_scales`` differ (Gaussians behind the camera are unchanged).
    """
    if not min_sigma_px > 0:
        raise ValueError(f"min_sigma_px must be > 0 pixels, got {min_sigma_px!r}")
    if len(gaussians) == 0:
        return gaussians
    viewmat = camera.viewmats[0].to(gaussians.means)
    depth = gaussians.means @ viewmat[2, :3] + viewmat[2, 3]  # (N,) camera z, metres
    focal = float(camera.Ks[0, 0, 0])
    floor = torch.log((depth.clamp_min(1e-6) / focal) * min_sigma_px)  # (N,) log metres
    log_scales = gaussians.log_scales.clone()
    smallest = log_scales.argmin(dim=-1, keepdim=True)  # the normal axis keeps its size
    raised = torch.maximum(log_scales, floor[:, None].expand_as(log_scales))
    keep = torch.zeros_like(log_scales, dtype=torch.bool).scatter_(1, smallest, True) | (depth <= 0)[:, None]
    log_scales = torch.where(keep, log_scales, raised)
    return replace(gaussians, log_scales=log_scales)
