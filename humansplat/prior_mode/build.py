"""Prior mode: Gaussians from the fitted body and the photo, feed-forward, no network weights.

What it builds (world = the input camera frame, :mod:`humansplat.cameras`), each step in its module:

1. **Depth of the person along every pixel's ray** (:mod:`.surfaces`): where each ray enters the
   fitted body (front), leaves the first part it entered (back) and leaves the body for the last time
   (far), extended over the person mask (clothes, hair, fit errors) with a rounded cross-section.
   Clothes and hair add depth beyond the naked body; mask pixels that show the background (a hole
   between an arm and the body, :mod:`.holes`) are dropped from the person; where the fitted hands
   cover pixels that are not skin-coloured (:mod:`.skin`) the body is not trusted.
2. **Visible side** (:mod:`.placement`, :mod:`.photo_colours`): one Gaussian per foreground pixel of
   a grid (default the crop's own pixels, at most 512), on that pixel's ray at the front depth,
   coloured from the photo, flattened along the surface normal of the depth map, sized to the pixel
   footprint (depth / focal). Near the silhouette they face the camera; a pixel blended with the
   white background there becomes the person's colour at partial opacity (the share of the pixel the
   person covers), so no light rim or seam shows in other views.
3. **Unseen side**: the same on a (coarser) grid at the back depth, coloured by *garments, not
   parts* (:mod:`.garments`): the back continues each part's outermost garment, the back of the head
   takes the hair's colour. Plus a *far* layer where parts overlap along the ray (the torso's back
   behind an arm), so the back view is closed without extruding the nearer part into a slab.
4. **Sides** (:mod:`.walls`): columns of ray-aligned Gaussians close the gaps between front and back
   at the silhouette, and between neighbouring pixels at depth jumps of either layer, so side views
   have no holes and the avatar is not a cardboard cut-out.
5. Colour correction against the input view (:func:`~.photo_colours.refine_colours`,
   ``colour_iterations`` passes, default 2: render, add the residual at each visible Gaussian's pixel
   to its colour; at the silhouette the part towards white changes the opacity instead). Neighbouring
   Gaussians overlap by design, which blurs the photo slightly; the first pass (one render) gains
   ~4-5 dB of input-view PSNR, the second ~1.5 dB more. Geometry is not optimised (no gradient steps).

Shapes: S grid side (pixels), N Gaussians; maps are (S, S) over a grid's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cameras import Cameras
from ..gaussians import Gaussians
from ..imaging import nearest_fill
from ..prior.body_fit import BodyFit
from .coverage import MIN_SIGMA_PX, cover_surface, visible_sigmas
from .garments import back_colours
from .grids import resize_depth, resize_image, resize_nearest
from .options import PriorOptions
from .photo_colours import refine_colours, visible_colours
from .placement import BACK_SIGMA_PX, OPACITY, surface_gaussians
from .surfaces import PriorSurfaces, prior_surfaces
from .walls import side_walls, step_threshold

__all__ = ["BACK_INSET_PX", "COLOUR_INSET_PX", "PriorOptions", "gaussians_from_prior"]

BACK_INSET_PX = 1.0
"""The back layer and the walls keep this many crop pixels inside the silhouette: seen from the input
camera they never widen it (the visible layer's own silhouette Gaussians close that rim from behind)."""
COLOUR_INSET_PX = 2.0
"""Back and wall colours are taken this many back-grid pixels inside the silhouette: pixels on it are
blended with the background (anti-aliasing, soft masks) and would draw light seams."""


@dataclass
class _Grid:
    """One grid of the person: its camera (the crop camera resized to S x S), the person mask (S, S)
    bool and the front and back camera depths (S, S), metres."""

    camera: Cameras
    mask: np.ndarray
    front: np.ndarray
    back: np.ndarray


def _grid(body_fit: BodyFit, surf: PriorSurfaces, person: np.ndarray, size: int) -> _Grid:
    """The grid of side ``size`` for the crop-sized person mask ``person`` (float, 0-1) and the surfaces ``surf``."""
    return _Grid(
        body_fit.camera.resize(size, size),
        resize_image(person, size) > 0.5,
        resize_depth(surf.front_depth, size),
        resize_depth(surf.back_depth, size),
    )


def _person_mask(body_fit: BodyFit, surf: PriorSurfaces) -> np.ndarray:
    """(C, C) float crop mask without the background holes that :func:`prior_surfaces` found."""
    mask = np.asarray(body_fit.crop.mask, dtype=np.float32)
    holes = (resize_image(mask, surf.mask.shape[0]) > 0.5) & ~surf.mask  # background seen through the person
    if holes.any():
        mask = mask * ~resize_nearest(holes, mask.shape[0])
    return mask


def _inner_sigmas(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(S, S) smallest in-plane size (grid pixels) of an unseen layer's Gaussians: the visible layer's larger
    splats where :func:`visible_sigmas` gives them (inside the rim, flat colours), so that seen from behind,
    closer than the grid's resolution, the layer hides the visible layer; no floor elsewhere (the rim and the
    colour edges keep :data:`BACK_SIGMA_PX` and the silhouette its thin edge splats, so that the outline seen
    from the input camera does not grow)."""
    sigmas = visible_sigmas(mask, rgb)
    return np.where(sigmas > MIN_SIGMA_PX, sigmas, 0.0).astype(np.float32)  # the inner size, else no floor


def _unseen_layers(
    body_fit: BodyFit, surf: PriorSurfaces, photo: np.ndarray, person: np.ndarray, size: int
) -> tuple[Gaussians, Gaussians, list[Gaussians]]:
    """(back layer, far layer, walls) on the back grid of side ``size`` (steps 3 and 4 of the module
    docstring). ``photo`` (C, C, 3) in [0, 1]; ``person`` (C, C) the crop mask without holes."""
    from scipy.ndimage import distance_transform_edt

    grid = _grid(body_fit, surf, person, size)
    # pixels entirely inside the mask shrunk by BACK_INSET_PX crop pixels
    inner = distance_transform_edt(person > 0.5) > BACK_INSET_PX
    mask = resize_image(inner.astype(np.float32), size) > 0.999
    # colours for unseen surfaces come from the person's inside
    solid = distance_transform_edt(mask) > COLOUR_INSET_PX
    rgb = resize_image(photo, size)
    if solid.any():
        rgb = nearest_fill(rgb, solid)
    front_part = resize_nearest(surf.front_part, size)
    back_part = resize_nearest(surf.back_part, size)
    far_part = resize_nearest(surf.far_part, size)
    back_rgb, far_rgb = back_colours(rgb, mask, front_part, (back_part, far_part))
    back_layer = surface_gaussians(
        grid.camera, grid.back, mask, back_rgb, sigma_px=BACK_SIGMA_PX, min_sigma_px=_inner_sigmas(mask, back_rgb)
    )
    # the far layer: where body parts overlap along the ray (an arm in front of the torso), the last
    # exit (the torso's back) closes the back view; no walls join it to the nearer part
    far = resize_depth(surf.far_depth, size)
    far_mask = mask & (far > grid.back + step_threshold(grid.camera, grid.front))
    if far_mask.any():
        far_layer = surface_gaussians(
            grid.camera, far, far_mask, far_rgb, sigma_px=BACK_SIGMA_PX, min_sigma_px=_inner_sigmas(far_mask, far_rgb)
        )
    else:
        far_layer = Gaussians.empty()
    walls = side_walls(grid.camera, mask, grid.front, grid.back, rgb, back_rgb)
    return back_layer, far_layer, walls


def gaussians_from_prior(
    body_fit: BodyFit, options: PriorOptions | None = None, return_layers: bool = False
) -> Gaussians | tuple[Gaussians, dict[str, slice]]:
    """Gaussians of the person from the structure prior and the photo (module docstring).

    Args:
        body_fit: the fitted body (vertices in the input camera frame) with its crop (rgb, mask).
        options: :class:`PriorOptions` (defaults when None).
        return_layers: also return where each layer is in the result.

    Returns:
        Gaussians in the input camera frame: the visible layer first (one per foreground pixel of
        the visible grid, in row-major pixel order), then the back layer, the far layer and the
        side walls; with ``return_layers``, also ``{"visible" | "back" | "far" | "walls": slice}``.
    """
    opt = options or PriorOptions()
    crop_size = int(body_fit.crop.rgb.shape[0])
    res = int(opt.resolution) if opt.resolution is not None else min(crop_size, 512)
    surf = prior_surfaces(body_fit, opt)
    photo = np.asarray(body_fit.crop.rgb, dtype=np.float32) / 255.0
    person = _person_mask(body_fit, surf)
    front = _grid(body_fit, surf, person, res)
    rgb = resize_image(photo, res) if res != crop_size else photo
    colours = visible_colours(rgb, front.mask)
    visible = surface_gaussians(
        front.camera, front.front, front.mask, colours.rgb, side_rgb=colours.side, coverage=colours.coverage,
        min_sigma_px=visible_sigmas(front.mask, rgb),
    )
    back_layer, far_layer, walls = _unseen_layers(body_fit, surf, photo, person, int(opt.back_resolution))
    parts = [visible, back_layer] + ([far_layer] if len(far_layer) else []) + [w for w in walls if len(w)]
    gaussians = cover_surface(Gaussians.cat(parts), front.camera)
    if opt.colour_iterations > 0:
        gaussians = refine_colours(
            gaussians, len(visible), front.camera, front.mask, rgb, opt.colour_iterations,
            edge=colours.edge, max_opacity=OPACITY,
        )
    if not return_layers:
        return gaussians
    nv, nb, nf = len(visible), len(back_layer), len(far_layer)
    return gaussians, {
        "visible": slice(0, nv),
        "back": slice(nv, nv + nb),
        "far": slice(nv + nb, nv + nb + nf),
        "walls": slice(nv + nb + nf, len(gaussians)),
    }
