"""Flat Gaussians on a depth map: one per pixel of a grid, on the pixel's ray (the surface layers of :mod:`.build`).

Each Gaussian lies on the depth map's tangent plane, sized to the pixel footprint (depth / focal) and
stretched along the slant so that its projection into the grid's camera keeps that footprint. Near the
silhouette they face the camera instead, and silhouette Gaussians sit a fraction of a pixel inside.

Shapes: S grid side (pixels), N Gaussians (one per valid pixel, row-major); depths are camera z in metres.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from ..geometry import rotmat_to_quat
from ..imaging import boundary_pixels
from ..render.projection import SH_C1

__all__ = [
    "BACK_SIGMA_PX",
    "EDGE_INSET_PX",
    "EDGE_SIGMA_PX",
    "FLATNESS",
    "MAX_STRETCH",
    "OPACITY",
    "SIGMA_PX",
    "SILHOUETTE_BAND_PX",
    "edge_normals",
    "surface_gaussians",
]

SIGMA_PX = 0.3
"""In-plane standard deviation of a visible-layer Gaussian (pixels of its grid): small, since the renderer's
0.3 px^2 low-pass already blurs; larger values blur the photo. Every Gaussian is afterwards raised to at least
:data:`~humansplat.prior_mode.coverage.MIN_SIGMA_PX` in-plane (:func:`~humansplat.prior_mode.coverage.cover_surface`),
its share of the surface in any renderer."""
BACK_SIGMA_PX = 0.5
"""The same for the back layers and the walls (pixels of the back grid): nothing there to keep sharp."""
EDGE_SIGMA_PX = 0.3
"""The same for Gaussians on the silhouette (and walls across it), so that the rendered silhouette keeps the
mask's edge."""
EDGE_INSET_PX = 0.45
"""Silhouette Gaussians sit this many grid pixels inside the silhouette, so it does not grow (they are at
least :data:`~humansplat.prior_mode.coverage.MIN_SIGMA_PX` wide)."""
SILHOUETTE_BAND_PX = 3.0
"""Gaussians this close to the silhouette (grid pixels) face the camera instead of lying on the grazing
surface, where they would show the photo's background blend to side views as light seams."""
FLATNESS = 0.2
"""Standard deviation along the surface normal relative to the in-plane one."""
MAX_STRETCH = 3.0
"""Cap on the in-plane elongation of Gaussians on slanted surfaces (1 / the smallest cosine)."""
OPACITY = 0.98
"""Opacity of surface and wall Gaussians: nearly opaque, with a gradient left for later fits."""


def _ray_points(camera: Cameras, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Points at camera depth ``depth`` (S, S) on each pixel's ray -> (points (S, S, 3), unit dirs (S, S, 3))."""
    origins, dirs = camera.rays()
    forward = camera.viewmats[0, 2, :3]  # the camera's +z axis in the world
    t = depth / (dirs[0] @ forward).clamp_min(1e-6)
    return origins[0] + dirs[0] * t[..., None], dirs[0]


def _tangents(pts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/du, d/dv) (S, S, 3) each of the points ``pts`` (S, S, 3) by central differences (one-sided
    at the grid's border), metres per pixel."""
    pu = torch.zeros_like(pts)
    pv = torch.zeros_like(pts)
    pu[:, 1:-1] = 0.5 * (pts[:, 2:] - pts[:, :-2])
    pu[:, 0], pu[:, -1] = pts[:, 1] - pts[:, 0], pts[:, -1] - pts[:, -2]
    pv[1:-1] = 0.5 * (pts[2:] - pts[:-2])
    pv[0], pv[-1] = pts[1] - pts[0], pts[-1] - pts[-2]
    return pu, pv


def edge_normals(mask: np.ndarray, pix: np.ndarray) -> np.ndarray:
    """Outward image-space normals (M, 2) (du, dv) of ``mask``'s edge at pixels ``pix`` (M, 2) (row, col)."""
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(mask.astype(np.float32), 1.0)
    gv, gu = np.gradient(smooth)
    return -np.stack([gu[pix[:, 0], pix[:, 1]], gv[pix[:, 0], pix[:, 1]]], -1)


def _inset_edges(camera: Cameras, depth: np.ndarray, valid: np.ndarray, edge_map: np.ndarray) -> torch.Tensor:
    """(E, 3) points of the ``edge_map`` pixels (row-major order) moved :data:`EDGE_INSET_PX` inwards
    (against ``valid``'s outward edge normal), on their own camera depth ``depth`` (S, S)."""
    ei, ej = np.nonzero(edge_map)
    nimg = torch.as_tensor(edge_normals(valid, np.stack([ei, ej], -1)))
    nimg = torch.nn.functional.normalize(nimg, dim=-1)
    uv = torch.stack([torch.as_tensor(ej), torch.as_tensor(ei)], -1).float() + 0.5 - EDGE_INSET_PX * nimg
    o_e, d_e = camera.rays(uv)
    forward = camera.viewmats[0, 2, :3]
    z_e = torch.as_tensor(depth[ei, ej], dtype=torch.float32)
    return o_e[0] + d_e[0] * (z_e / (d_e[0] @ forward).clamp_min(1e-6))[:, None]


def _surface_frames(
    camera: Cameras, tu: torch.Tensor, tv: torch.Tensor, d: torch.Tensor, band: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rot (N, 3, 3), cos (N,)): each Gaussian's local axes in the world (columns: along the slant, across
    it, the normal) from the tangents ``tu``, ``tv`` (N, 3) and the ray directions ``d`` (N, 3); the
    cosine between normal and ray, at least 1 / :data:`MAX_STRETCH`. Gaussians in the silhouette
    ``band`` (N,) bool (or with no normal) face the camera (cosine 1)."""
    n = torch.linalg.cross(tu, tv, dim=-1)
    bad = (n.norm(dim=-1) < 1e-12) | band
    n = torch.where(bad[:, None], -d, n)
    n = torch.nn.functional.normalize(n, dim=-1)
    cos = (n * d).sum(-1).abs().clamp_min(1.0 / MAX_STRETCH)
    cos = torch.where(band, torch.ones_like(cos), cos)
    t1 = d - (d * n).sum(-1, keepdim=True) * n
    x_axis = camera.camtoworlds[0, :3, 0].expand_as(t1)
    small = t1.norm(dim=-1) < 1e-6
    t1 = torch.where(small[:, None], x_axis - (x_axis * n).sum(-1, keepdim=True) * n, t1)
    t1 = torch.nn.functional.normalize(t1, dim=-1)
    t2 = torch.linalg.cross(n, t1, dim=-1)
    return torch.stack([t1, t2, n], dim=-1), cos


def _view_dependent_colour(
    colours: torch.Tensor, side: torch.Tensor, band: torch.Tensor, d: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(base colour (N, 3), SH degree-1 coefficients (N, 3, 3)): in the silhouette ``band`` (N,) bool the
    photo's ``colours`` (N, 3) seen from the input camera (rays ``d`` (N, 3)), the inner colour ``side``
    (N, 3) from the side: c(v) = side + (photo - side) (v . d); elsewhere the photo's colour."""
    side = torch.where(band[:, None], side, colours)
    b = colours - side  # (N, 3)
    shN = torch.stack(
        [-b * d[:, 1:2] / SH_C1, b * d[:, 2:3] / SH_C1, -b * d[:, 0:1] / SH_C1], dim=1
    )  # (N, 3 coefficients, 3 channels), the basis of humansplat.render.projection.eval_sh
    return side, shN


def surface_gaussians(
    camera: Cameras,
    depth: np.ndarray,
    valid: np.ndarray,
    rgb: np.ndarray,
    side_rgb: np.ndarray | None = None,
    sigma_px: float = SIGMA_PX,
    coverage: np.ndarray | None = None,
    min_sigma_px: np.ndarray | None = None,
) -> Gaussians:
    """One flat Gaussian per ``valid`` pixel of ``camera``'s grid at camera depth ``depth`` (S, S).

    Each Gaussian lies on the depth map's tangent plane (normal from the map's finite differences),
    with in-plane standard deviation ``sigma_px`` pixel footprints, stretched along the slant so
    that its projection into ``camera`` keeps that footprint. Pixels on the edge of ``valid`` get
    :data:`EDGE_SIGMA_PX` and no stretch, so that the silhouette does not grow by a pixel. With
    ``side_rgb`` (S, S, 3), Gaussians in the silhouette band get a view-dependent colour: ``rgb``
    from the camera's own rays, ``side_rgb`` seen from the side. ``coverage`` (S, S) in [0, 1]
    scales each Gaussian's opacity (edge pixels partly covered by the person). ``min_sigma_px`` (S, S)
    (:func:`~humansplat.prior_mode.coverage.visible_sigmas`, grid pixels) raises each Gaussian's in-plane
    standard deviations to at least its pixel's value, the normal's to :data:`FLATNESS` times it.
    """
    from scipy.ndimage import distance_transform_edt

    z = torch.as_tensor(depth, dtype=torch.float32)
    pts, dirs = _ray_points(camera, z)
    pu, pv = _tangents(pts)
    sel = torch.as_tensor(valid, dtype=torch.bool)
    edge_map = boundary_pixels(valid, diagonal=True)
    edge = torch.as_tensor(edge_map)[sel]
    p, d, tu, tv, zz = pts[sel], dirs[sel], pu[sel], pv[sel], z[sel]
    if bool(edge.any()):
        # edge entries of the selection are in the same row-major order as np.nonzero(edge_map)
        p = p.clone()
        p[edge] = _inset_edges(camera, depth, valid, edge_map)
    # pixels near the silhouette face the camera: their colours are blended with the background
    # (anti-aliasing, soft masks), and discs on the grazing surface there would show them to side
    # views as light seams; facing the camera they are edge-on from the side
    band = torch.as_tensor(distance_transform_edt(valid) <= SILHOUETTE_BAND_PX)[sel] | edge
    rot, cos = _surface_frames(camera, tu, tv, d, band)
    focal = float(camera.Ks[0, 0, 0])
    sigma = torch.where(edge, torch.full_like(zz, min(EDGE_SIGMA_PX, sigma_px)), torch.full_like(zz, sigma_px))
    foot = zz / focal * sigma  # (N,) metres
    scales = torch.stack([foot / cos, foot, foot * FLATNESS], dim=-1)
    if min_sigma_px is not None:
        floor = zz / focal * torch.as_tensor(min_sigma_px, dtype=torch.float32)[sel]  # (N,) metres
        scales = torch.maximum(scales, torch.stack([floor, floor, floor * FLATNESS], dim=-1))
    colours = torch.as_tensor(rgb, dtype=torch.float32)[sel].clamp(0, 1)
    opac = torch.full((p.shape[0],), OPACITY)
    if coverage is not None:
        opac = opac * torch.as_tensor(coverage, dtype=torch.float32)[sel].clamp(0.02, 1.0)
    shN = None
    if side_rgb is not None:
        side = torch.as_tensor(side_rgb, dtype=torch.float32)[sel].clamp(0, 1)
        colours, shN = _view_dependent_colour(colours, side, band, d)
    return Gaussians.from_activated(p, scales, rotmat_to_quat(rot), opac, colours, shN=shN)
