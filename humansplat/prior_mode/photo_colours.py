"""Colours of the visible layer from the photo: silhouette pixels unblended from the white background,
and the colour correction against the input view (steps 2 and 5 of :mod:`.build`).

Shapes: S visible-grid side (pixels), N Gaussians; colours RGB in [0, 1], the crop's background white.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians, rgb_to_sh0
from ..imaging import nearest_fill
from .placement import OPACITY, SILHOUETTE_BAND_PX

__all__ = ["VisibleColours", "refine_colours", "visible_colours"]


@dataclass
class VisibleColours:
    """Colours of the visible layer on its grid (S, S).

    Attributes:
        rgb: (S, S, 3) colour towards the input camera: the photo inside, the person's own colour
            (unblended from the background) in the silhouette band.
        side: (S, S, 3) the person's colour seen from the side (the nearest inner colour plus the
            texture the blend does not explain); None when the mask has no inner pixels.
        coverage: (S, S) share of each pixel the person covers (1 inside); None with ``side``.
        edge: (S, S) bool silhouette-band pixels blended with the background; None with ``side``.
    """

    rgb: np.ndarray
    side: np.ndarray | None
    coverage: np.ndarray | None
    edge: np.ndarray | None


def _coverage(rgb: np.ndarray, person: np.ndarray, background: float = 1.0, min_contrast: float = 0.15) -> np.ndarray:
    """(S, S) share of each pixel covered by the person, from its colour ``rgb`` (S, S, 3) seen as a
    blend of the person's colour ``person`` (S, S, 3) and the crop's ``background`` (white): the
    projection onto the line between them, in [0, 1]; 1 where the two differ by < ``min_contrast``."""
    d = background - person
    n2 = (d * d).sum(-1)
    a = ((background - rgb) * d).sum(-1) / np.maximum(n2, 1e-6)
    return np.where(n2 > min_contrast**2, np.clip(a, 0.0, 1.0), 1.0)


def visible_colours(rgb: np.ndarray, mask: np.ndarray) -> VisibleColours:
    """Colours of the visible layer from the photo ``rgb`` (S, S, 3) on the grid of ``mask`` (S, S) bool.

    Pixels within :data:`~.placement.SILHOUETTE_BAND_PX` of the silhouette are blended with the
    (white) background: they become the person's colour at partial opacity, so that no light rim
    shows from other views (the input view renders the same blend).
    """
    from scipy.ndimage import distance_transform_edt

    inner = distance_transform_edt(mask) > SILHOUETTE_BAND_PX
    if not inner.any():
        return VisibleColours(rgb, None, None, None)
    side = nearest_fill(rgb, inner)
    cover = np.where(inner, 1.0, _coverage(rgb, side))
    # the person's colour: the nearest inner colour plus what the blend does not explain (texture)
    a = cover[..., None]
    unblended = side + (rgb - (a * side + (1 - a))) / np.maximum(a, 0.3)
    side = np.where(inner[..., None], side, np.clip(unblended, 0.0, 1.0))
    return VisibleColours(np.where(inner[..., None], rgb, side), side, cover, ~inner)


def refine_colours(
    gaussians: Gaussians,
    n_visible: int,
    camera: Cameras,
    valid: np.ndarray,
    target: np.ndarray,
    iterations: int,
    step: float = 1.0,
    edge: np.ndarray | None = None,
    max_opacity: float = OPACITY,
) -> Gaussians:
    """Colour correction of the visible layer against the input view (fixed-point iterations).

    The first ``n_visible`` Gaussians are the visible layer, one per ``valid`` pixel of ``camera``'s
    grid in row-major order; each pass renders the input view on white and adds ``step`` x the
    residual at a Gaussian's own pixel to its colour. Geometry is unchanged. Gaussians of ``edge``
    pixels (S, S) bool (silhouette pixels blended with the white background) take the part of the
    residual towards or away from white as a change of opacity (at most ``max_opacity``) and only
    the rest as a change of colour: brightening their colour would draw light rims in other views.
    """
    from ..render import render

    sel = torch.as_tensor(valid, dtype=torch.bool)
    tgt = torch.as_tensor(target, dtype=torch.float32)[sel]  # (n_visible, 3)
    if tgt.shape[0] != n_visible:
        raise ValueError(f"refine_colours: {n_visible} visible Gaussians but {tgt.shape[0]} valid pixels")
    g = gaussians.clone()
    rgb = g.rgb[:n_visible].clone()
    at_edge = torch.zeros(n_visible, dtype=torch.bool) if edge is None else torch.as_tensor(edge, dtype=torch.bool)[sel]
    for _ in range(int(iterations)):
        out = render(g, camera, background=1.0)
        residual = step * (tgt - out.rgb[0][sel])
        if bool(at_edge.any()):
            to_white = 1.0 - rgb[at_edge]  # (E, 3)
            n2 = (to_white**2).sum(-1).clamp_min(1e-6)
            t = (residual[at_edge] * to_white).sum(-1) / n2  # share of the way towards white
            t = torch.where(n2 > 0.15**2, t, torch.zeros_like(t))
            alpha = g.opacities[:n_visible][at_edge]
            new_alpha = (alpha * (1.0 - t)).clamp(0.02, max_opacity)
            g.logit_opacities[torch.nonzero(at_edge).squeeze(-1)] = torch.logit(new_alpha)
            residual[at_edge] = residual[at_edge] - t[:, None] * to_white
        rgb = (rgb + residual).clamp(0.0, 1.0)
        g.sh0[:n_visible] = rgb_to_sh0(rgb)
    return g
