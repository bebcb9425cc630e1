"""Prior mode: Gaussians from the fitted body and the photo, feed-forward, no network weights.

What it builds (world = the input camera frame, :mod:`humansplat.cameras`):

1. **Depth of the person along every pixel's ray.** The fitted body is rasterised into the crop
   camera: where each ray enters the body (front), leaves the first part it entered (back: the
   nearest back-facing triangle) and leaves the body for the last time (far). Inside the person
   mask, the body's *mid-surface* ``(front + back) / 2`` is extended harmonically over pixels the
   body does not cover (clothes, hair, fit errors); the *half thickness* ``(back - front) / 2`` is
   extended harmonically with 0 at the silhouette and at least ``inflation`` x the distance to the
   silhouette (a rounded cross-section), then lightly smoothed. Front = mid - half, back = mid + half.
   Clothes and hair add depth beyond the naked body: as much in front and behind as they extend
   past the body's outline in the photo (behind only on the head). Mask pixels that show the
   (white) background, such as a hole between an arm and the body, are dropped from the person.
   Where the fitted hands cover pixels that are not skin-coloured (the fit's hand missed the
   photo's), the body is not trusted: those pixels take the depth of their surroundings.
2. **Visible side:** one Gaussian per foreground pixel of a grid (default the crop's own pixels,
   at most 512), on that pixel's ray at the front depth, coloured from the photo, flattened along
   the surface normal of the depth map, sized to the pixel footprint (depth / focal). Near the
   silhouette they face the camera; a pixel blended with the white background there becomes the
   person's colour at partial opacity (the share of the pixel the person covers), so no light
   rim or seam shows in other views.
3. **Unseen side:** the same on a (coarser) grid at the back depth, coloured by *garments, not
   parts*: per body part and row band, the colours on the part's sides are its outermost garment;
   front pixels of that garment continue round the back (the photo blurred, so a pattern
   continues), pixels that are not (a shirt in a jacket's opening, a print on the front only) get
   the garment's colour; the back of the head gets the visible hair's colour (never the face's
   skin). Plus a *far* layer where parts overlap along the ray (the torso's back behind an arm),
   so the back view is closed without extruding the nearer part into a slab.
4. **Sides:** columns of ray-aligned Gaussians close the gaps between front and back at the
   silhouette, and between neighbouring pixels at depth jumps of either layer, so side views
   have no holes and the avatar is not a cardboard cut-out.
5. Colour correction against the input view (``colour_iterations`` passes, default 2: render,
   add the residual at each visible Gaussian's pixel to its colour; at the silhouette the part
   towards white changes the opacity instead). Neighbouring Gaussians
   overlap by design, which blurs the photo slightly; the first pass (one render) gains ~4-5 dB
   of input-view PSNR, the second ~1.5 dB more. Geometry is not optimised (no gradient steps).

Shapes: S grid side (pixels), N Gaussians; maps are (S, S) over a grid's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians, rgb_to_sh0
from ..prior.body_fit import BodyFit
from ..prior.parts import PART_NAMES
from ..render.mesh import MeshRaster, rasterize_mesh
from ..render.projection import SH_C1, rotmat_to_quat
from .coverage import cover_surface
from .fill import blur_masked, boundary_pixels, harmonic_fill, nearest_fill

__all__ = ["PriorOptions", "PriorSurfaces", "body_depths", "gaussians_from_prior", "misplaced_hands", "prior_surfaces", "skirt_profile"]


@dataclass
class PriorOptions:
    """Options of prior-mode reconstruction; the defaults are what the CLI and the app run.

    Attributes:
        resolution: grid side of the visible layer in pixels (one Gaussian per foreground pixel);
            None = the crop's size capped at 512.
        geometry_resolution: grid side on which depths are filled (the harmonic solves).
        back_resolution: grid side of the unseen (back) layer and of the side walls.
        sigma_px: in-plane standard deviation of a visible-layer Gaussian, in pixels of its grid
            (small: larger values blur the photo). Every Gaussian is then raised to at least
            :data:`~humansplat.prior_mode.coverage.MIN_SIGMA_PX` visible-grid pixels in-plane
            (:func:`cover_surface`), its share of the surface in any renderer.
        back_sigma_px: the same for the back layer and the walls (pixels of the back grid).
        edge_sigma_px: the same for Gaussians on the silhouette (and walls across it), smaller so
            that the rendered silhouette keeps the mask's edge.
        edge_inset_px: silhouette Gaussians of the surface layers sit this many pixels inside.
        silhouette_band_px: Gaussians this close to the silhouette (grid pixels) face the camera
            instead of lying on the (grazing) surface.
        flatness: normal-axis standard deviation relative to the in-plane one.
        max_stretch: cap on the in-plane elongation of Gaussians on slanted surfaces.
        opacity: opacity of surface Gaussians.
        inflation: half thickness at least ``inflation`` x the distance to the silhouette (metres).
        hole_colour_distance: mask pixels within this RGB distance (0-1) of white (the crop's
            background) and not deep inside the body are background seen through the person
            (:func:`_background_holes`); 0 = keep the mask as it is.
        hole_body_inset_px: pixels deeper than this inside the fitted body are never holes.
        hole_max_share: a connected white region larger than this share of the mask is a white
            garment, not a hole.
        clothing_depth: clothes and hair add this times their width past the body at the silhouette
            to the depth in front and behind (:func:`_clothing_depth`; 0 = the naked body's depth).
        clothing_max_m: cap of that added depth (metres).
        clothing_smooth_px: smoothing (geometry-grid pixels) of the added depth over the mask.
        hair_match: RGB distance (0-1) within which a pixel below the head has the hair's colour: long
            hair falls down the back as far as it shows below the chin (:func:`_long_hair`; 0 = off).
        skirt_roundness: garments that join the legs (skirts, dresses, long coats) get an elliptic
            cross-section this many times their half-width deep in each row (:func:`skirt_profile`;
            0 = off).
        hand_skin_distance: pixels where the fitted body shows its hands but the photo's chromaticity
            (rgb / (r + g + b)) is farther than this from the person's skin, or its brightness far
            from the skin's, are not the hand: they take the depth of their surroundings
            (:func:`misplaced_hands`; 0 = trust the fit's hands).
        smooth_px: Gaussian smoothing (pixels of the geometry grid) of the filled half thickness.
        back_blur_px: blur of the photo's colours before they are used on the back (back grid pixels).
        back_part_mix: weight of the part's median colour vs. the blurred photo on the back.
        garment_match: RGB distance (0-1 scale) within which a pixel's colour belongs to the outer
            garment of its part (:func:`_garment_match`).
        garment_side_fraction: a part's sides, where its outer garment shows, are this fraction of
            its width in each row from either edge.
        garment_support: a colour belongs to the outer garment when at least this share of the
            garment's side pixels is within ``garment_match`` of it.
        part_row_band: part colours for the back are medians over rows within this fraction of the
            grid size (garments change down the body), falling back to the whole part.
        wall_step_px: spacing of side-wall Gaussians along the ray, in pixel footprints.
        max_jump_m: depth jumps between neighbouring pixels up to this (metres) are closed by a wall;
            deeper ones separate two body parts and stay open.
        wall_inset_px: silhouette walls stand this many back-grid pixels inside the silhouette.
        back_inset_px: the back layer and the walls keep this many crop pixels inside the silhouette
            (the visible layer's own silhouette Gaussians close that rim from behind).
        colour_inset_px: back and wall colours are taken this many back-grid pixels inside the silhouette.
        max_wall_gaussians: cap of Gaussians per wall column.
        colour_iterations: colour-correction passes against the input view (0 = off).
    """

    resolution: int | None = None
    geometry_resolution: int = 256
    back_resolution: int = 256
    sigma_px: float = 0.3
    back_sigma_px: float = 0.5
    edge_sigma_px: float = 0.3
    edge_inset_px: float = 0.45
    silhouette_band_px: float = 3.0
    flatness: float = 0.2
    max_stretch: float = 3.0
    opacity: float = 0.98
    inflation: float = 0.7
    hole_colour_distance: float = 0.06
    hole_body_inset_px: float = 3.0
    hole_max_share: float = 0.05
    clothing_depth: float = 1.0
    clothing_max_m: float = 0.10
    clothing_smooth_px: float = 4.0
    skirt_roundness: float = 0.7
    hand_skin_distance: float = 0.08
    hair_match: float = 0.12
    smooth_px: float = 1.5
    back_blur_px: float = 2.0
    back_part_mix: float = 0.6
    garment_match: float = 0.12
    garment_side_fraction: float = 0.2
    garment_support: float = 0.15
    part_row_band: float = 0.04
    wall_step_px: float = 2.5
    wall_inset_px: float = 0.5
    max_jump_m: float = 0.12
    back_inset_px: float = 1.0
    colour_inset_px: float = 2.0
    max_wall_gaussians: int = 24
    colour_iterations: int = 2

    def __post_init__(self) -> None:
        for name in ("geometry_resolution", "back_resolution"):
            if int(getattr(self, name)) < 8:
                raise ValueError(f"PriorOptions.{name} must be >= 8 pixels, got {getattr(self, name)!r}")
        if self.resolution is not None and int(self.resolution) < 8:
            raise ValueError(f"PriorOptions.resolution must be >= 8 pixels or None, got {self.resolution!r}")
        if not 0.0 < self.opacity < 1.0:
            raise ValueError(f"PriorOptions.opacity must be in (0, 1), got {self.opacity!r}")
        if self.sigma_px <= 0 or self.back_sigma_px <= 0 or self.flatness <= 0 or self.max_stretch < 1:
            raise ValueError(
                f"PriorOptions: need sigma_px > 0, flatness > 0, max_stretch >= 1; got "
                f"{self.sigma_px!r}, {self.flatness!r}, {self.max_stretch!r}"
            )


@dataclass
class PriorSurfaces:
    """Front and back surfaces of the person on the geometry grid (camera ``camera``, S x S).

    Attributes:
        camera: the geometry grid's camera (the crop camera resized).
        mask: (S, S) bool person mask.
        body: (S, S) bool pixels where the fitted body is seen inside the mask and its depth is used
            (not where its hands lie over clothes: :func:`misplaced_hands`).
        front_depth: (S, S) float32 camera depth (metres) of the visible surface (filled outside the mask).
        back_depth: (S, S) float32 camera depth where the ray leaves the first body part it entered
            (the back of that part), >= front_depth.
        front_part: (S, S) int64 part label (:data:`PART_NAMES`) of the visible surface.
        back_part: (S, S) int64 part label of the back surface.
        far_depth: (S, S) float32 depth where the ray leaves the body for the last time (> back_depth
            where parts overlap along the ray, e.g. the torso's back behind an arm), >= back_depth.
        far_part: (S, S) int64 part label of the far surface.
    """

    camera: Cameras
    mask: np.ndarray
    body: np.ndarray
    front_depth: np.ndarray
    back_depth: np.ndarray
    front_part: np.ndarray
    back_part: np.ndarray
    far_depth: np.ndarray
    far_part: np.ndarray


# ---------------------------------------------------------------------------------------- helpers
def _resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) or (H, W) float array -> (size, size, ...) by area averaging (or bilinear upsampling)."""
    t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)
    chw = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    mode = "area" if size <= t.shape[0] else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    out = torch.nn.functional.interpolate(chw, size=(size, size), mode=mode, **kw)[0]
    return (out.permute(1, 2, 0) if t.ndim == 3 else out[0]).numpy()


def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    """(H, W) array -> (size, size) by picking the pixel under each new pixel centre."""
    h = img.shape[0]
    idx = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
    return img[idx][:, idx]


def _resize_depth(depth: np.ndarray, size: int, jump_m: float = 0.03) -> np.ndarray:
    """(S, S) depth map -> (size, size): bilinear on smooth surfaces, nearest across depth jumps
    (bilinear there would leave "flying" points between a near and a far part)."""
    from scipy.ndimage import maximum_filter, minimum_filter

    if size == depth.shape[0]:
        return depth
    smooth = _resize_image(depth, size)
    spread = maximum_filter(depth, size=3) - minimum_filter(depth, size=3)
    jumpy = _resize_nearest(spread, size) > jump_m
    return np.where(jumpy, _resize_nearest(depth, size), smooth)


def _coverage(rgb: np.ndarray, person: np.ndarray, background: float = 1.0, min_contrast: float = 0.15) -> np.ndarray:
    """(S, S) share of each pixel covered by the person, from its colour ``rgb`` (S, S, 3) seen as a
    blend of the person's colour ``person`` (S, S, 3) and the crop's ``background`` (white): the
    projection onto the line between them, in [0, 1]; 1 where the two differ by < ``min_contrast``."""
    d = background - person
    n2 = (d * d).sum(-1)
    a = ((background - rgb) * d).sum(-1) / np.maximum(n2, 1e-6)
    return np.where(n2 > min_contrast**2, np.clip(a, 0.0, 1.0), 1.0)


def _ray_points(camera: Cameras, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Points at camera depth ``depth`` (S, S) on each pixel's ray -> (points (S, S, 3), unit dirs (S, S, 3))."""
    origins, dirs = camera.rays()
    forward = camera.viewmats[0, 2, :3]  # the camera's +z axis in the world
    t = depth / (dirs[0] @ forward).clamp_min(1e-6)
    return origins[0] + dirs[0] * t[..., None], dirs[0]


def _surface_gaussians(
    camera: Cameras,
    depth: np.ndarray,
    valid: np.ndarray,
    rgb: np.ndarray,
    opt: PriorOptions,
    side_rgb: np.ndarray | None = None,
    sigma_px: float | None = None,
    coverage: np.ndarray | None = None,
) -> Gaussians:
    """One flat Gaussian per ``valid`` pixel of ``camera``'s grid at camera depth ``depth`` (S, S).

    Each Gaussian lies on the depth map's tangent plane (normal from the map's finite differences),
    with in-plane standard deviation ``sigma_px`` (default ``opt.sigma_px``) pixel footprints, stretched along the slant so
    that its projection into ``camera`` keeps that footprint. Pixels on the edge of ``valid`` get
    ``edge_sigma_px`` and no stretch, so that the silhouette does not grow by a pixel. With
    ``side_rgb`` (S, S, 3), Gaussians in the silhouette band get a view-dependent colour: ``rgb``
    from the camera's own rays, ``side_rgb`` seen from the side. ``coverage`` (S, S) in [0, 1]
    scales each Gaussian's opacity (edge pixels partly covered by the person).
    """
    z = torch.as_tensor(depth, dtype=torch.float32)
    pts, dirs = _ray_points(camera, z)
    # tangents by central differences (one-sided at the grid's border)
    pu = torch.zeros_like(pts)
    pv = torch.zeros_like(pts)
    pu[:, 1:-1] = 0.5 * (pts[:, 2:] - pts[:, :-2])
    pu[:, 0], pu[:, -1] = pts[:, 1] - pts[:, 0], pts[:, -1] - pts[:, -2]
    pv[1:-1] = 0.5 * (pts[2:] - pts[:-2])
    pv[0], pv[-1] = pts[1] - pts[0], pts[-1] - pts[-2]
    sel = torch.as_tensor(valid, dtype=torch.bool)
    edge_map = boundary_pixels(valid, diagonal=True)
    edge = torch.as_tensor(edge_map)[sel]
    p, d, tu, tv, zz = pts[sel], dirs[sel], pu[sel], pv[sel], z[sel]
    if opt.edge_inset_px > 0 and bool(edge.any()):
        # move silhouette Gaussians a fraction of a pixel inwards, on their own depth
        ei, ej = np.nonzero(edge_map)
        nimg = torch.as_tensor(_edge_normals(valid, np.stack([ei, ej], -1)))
        nimg = torch.nn.functional.normalize(nimg, dim=-1)
        uv = torch.stack([torch.as_tensor(ej), torch.as_tensor(ei)], -1).float() + 0.5 - opt.edge_inset_px * nimg
        o_e, d_e = camera.rays(uv)
        forward = camera.viewmats[0, 2, :3]
        z_e = torch.as_tensor(depth[ei, ej], dtype=torch.float32)
        # edge entries of the selection are in the same row-major order as np.nonzero(edge_map)
        p = p.clone()
        p[edge] = o_e[0] + d_e[0] * (z_e / (d_e[0] @ forward).clamp_min(1e-6))[:, None]
    n = torch.linalg.cross(tu, tv, dim=-1)
    # pixels near the silhouette face the camera: their colours are blended with the background
    # (anti-aliasing, soft masks), and discs on the grazing surface there would show them to side
    # views as light seams; facing the camera they are edge-on from the side
    from scipy.ndimage import distance_transform_edt

    band = torch.as_tensor(distance_transform_edt(valid) <= opt.silhouette_band_px)[sel] | edge
    bad = (n.norm(dim=-1) < 1e-12) | band
    n = torch.where(bad[:, None], -d, n)
    n = torch.nn.functional.normalize(n, dim=-1)
    cos = (n * d).sum(-1).abs().clamp_min(1.0 / opt.max_stretch)
    cos = torch.where(band, torch.ones_like(cos), cos)
    t1 = d - (d * n).sum(-1, keepdim=True) * n
    x_axis = camera.camtoworlds[0, :3, 0].expand_as(t1)
    small = t1.norm(dim=-1) < 1e-6
    t1 = torch.where(small[:, None], x_axis - (x_axis * n).sum(-1, keepdim=True) * n, t1)
    t1 = torch.nn.functional.normalize(t1, dim=-1)
    t2 = torch.linalg.cross(n, t1, dim=-1)
    rot = torch.stack([t1, t2, n], dim=-1)  # columns: local axes in the world
    focal = float(camera.Ks[0, 0, 0])
    sig = opt.sigma_px if sigma_px is None else sigma_px
    sigma = torch.where(edge, torch.full_like(zz, min(opt.edge_sigma_px, sig)), torch.full_like(zz, sig))
    foot = zz / focal * sigma  # (N,) metres
    scales = torch.stack([foot / cos, foot, foot * opt.flatness], dim=-1)
    colours = torch.as_tensor(rgb, dtype=torch.float32)[sel].clamp(0, 1)
    opac = torch.full((p.shape[0],), opt.opacity)
    if coverage is not None:
        opac = opac * torch.as_tensor(coverage, dtype=torch.float32)[sel].clamp(0.02, 1.0)
    shN = None
    if side_rgb is not None:
        # view-dependent colour (SH degree 1) in the silhouette band: the photo's colour seen from the
        # input camera, the inner colour ``side_rgb`` from the side: c(v) = side + (photo - side) (v . d)
        side = torch.as_tensor(side_rgb, dtype=torch.float32)[sel].clamp(0, 1)
        side = torch.where(band[:, None], side, colours)
        b = colours - side  # (N, 3)
        shN = torch.stack(
            [-b * d[:, 1:2] / SH_C1, b * d[:, 2:3] / SH_C1, -b * d[:, 0:1] / SH_C1], dim=1
        )  # (N, 3 coefficients, 3 channels), the basis of humansplat.render.projection.eval_sh
        colours = side
    return Gaussians.from_activated(p, scales, rotmat_to_quat(rot), opac, colours, shN=shN)


def _wall_gaussians(
    camera: Cameras,
    pix: np.ndarray,
    normals: np.ndarray,
    z0: np.ndarray,
    z1: np.ndarray,
    c0: np.ndarray,
    c1: np.ndarray,
    opt: PriorOptions,
    inset_px: float = 0.0,
) -> Gaussians:
    """Columns of Gaussians along the rays of grid pixels ``pix`` (M, 2) (row, col), from camera
    depth ``z0`` to ``z1`` (M,), colours blended from ``c0`` to ``c1`` (M, 3).

    A wall runs along the ray (elongated to fill its depth step) and along the image-space edge
    (``back_sigma_px``), and is thin across the edge (``edge_sigma_px``) whose direction in the image is
    ``normals`` (M, 2) (du, dv): seen from the side it is a closed strip, seen from the input camera
    it stays inside its pixel. ``inset_px`` moves the columns that many grid pixels against
    ``normals`` (inwards for outward silhouette normals): a column's Gaussians all project onto
    one point of the input view, where their opacities add up.
    """
    if len(pix) == 0:
        return Gaussians.empty()
    focal = float(camera.Ks[0, 0, 0])
    z0t = torch.as_tensor(z0, dtype=torch.float32)
    z1t = torch.as_tensor(z1, dtype=torch.float32)
    foot = torch.minimum(z0t, z1t) / focal  # metres per pixel
    length = (z1t - z0t).abs()
    count = torch.ceil(length / (opt.wall_step_px * foot)).clamp(1, opt.max_wall_gaussians).long()
    col = torch.repeat_interleave(torch.arange(len(pix)), count)
    starts = torch.cumsum(count, 0) - count
    k = torch.arange(int(count.sum())) - starts[col]
    frac = (k.float() + 0.5) / count[col].float()  # (G,) position along the column in (0, 1)
    depth = z0t[col] + frac * (z1t[col] - z0t[col])
    nimg = torch.nn.functional.normalize(torch.as_tensor(normals, dtype=torch.float32), dim=-1)
    uv = torch.as_tensor(pix[:, ::-1].copy(), dtype=torch.float32) + 0.5 - inset_px * nimg  # (M, 2) (u, v)
    nimg = nimg[col]
    origins, dirs = camera.rays(uv[col])
    forward = camera.viewmats[0, 2, :3]
    d = dirs[0]
    t = depth / (d @ forward).clamp_min(1e-6)
    means = origins[0] + d * t[:, None]
    c2w = camera.camtoworlds[0, :3, :3]
    across = nimg[:, 0:1] * c2w[:, 0] + nimg[:, 1:2] * c2w[:, 1]  # image-space edge normal in the world
    across = across - (across * d).sum(-1, keepdim=True) * d
    bad = across.norm(dim=-1) < 1e-6
    across = torch.where(bad[:, None], c2w[:, 0].expand_as(across), across)
    across = torch.nn.functional.normalize(across - (across * d).sum(-1, keepdim=True) * d, dim=-1)
    along_edge = torch.linalg.cross(d, across, dim=-1)
    rot = torch.stack([across, along_edge, d], dim=-1)
    f = foot[col]
    along_ray = torch.maximum(0.6 * length[col] / count[col].float(), f * opt.back_sigma_px)
    scales = torch.stack([f * opt.edge_sigma_px, f * opt.back_sigma_px * 1.2, along_ray], dim=-1)
    w = frac[:, None]
    colours = (1 - w) * torch.as_tensor(c0, dtype=torch.float32)[col] + w * torch.as_tensor(c1, dtype=torch.float32)[col]
    opac = torch.full((len(col),), opt.opacity)
    return Gaussians.from_activated(means, scales, rotmat_to_quat(rot), opac, colours.clamp(0, 1))


def _edge_normals(mask: np.ndarray, pix: np.ndarray) -> np.ndarray:
    """Outward image-space normals (M, 2) (du, dv) of ``mask``'s edge at pixels ``pix`` (M, 2) (row, col)."""
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(mask.astype(np.float32), 1.0)
    gv, gu = np.gradient(smooth)
    return -np.stack([gu[pix[:, 0], pix[:, 1]], gv[pix[:, 0], pix[:, 1]]], -1)


def _depth_jumps(depth: np.ndarray, mask: np.ndarray, threshold: np.ndarray, max_jump: float, nearer_first: bool):
    """Pixel pairs (p, q) of 4-neighbours inside ``mask`` whose depths differ by more than
    ``threshold`` (S, S) at p and at most ``max_jump`` metres. Returns (pixels of p (M, 2), depth at p (M,), depth at q (M,),
    image direction p -> q (M, 2) (du, dv)), with p the nearer pixel when ``nearer_first``
    (front layer), else the farther one (back layer)."""
    pix, zp, zq, dirs = [], [], [], []
    S0, S1 = depth.shape
    for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        a = (slice(max(0, -di), S0 - max(0, di)), slice(max(0, -dj), S1 - max(0, dj)))  # p
        b = (slice(max(0, di), S0 - max(0, -di)), slice(max(0, dj), S1 - max(0, -dj)))  # q = p + (di, dj)
        da, db = depth[a], depth[b]
        both = mask[a] & mask[b]
        diff = (db - da) if nearer_first else (da - db)
        hit = both & (diff > threshold[a]) & (diff <= max_jump)
        ii, jj = np.nonzero(hit)
        pix.append(np.stack([ii + a[0].start, jj + a[1].start], -1))
        zp.append(da[hit])
        zq.append(db[hit])
        dirs.append(np.tile(np.array([[dj, di]], dtype=np.float32), (len(ii), 1)))
    return np.concatenate(pix), np.concatenate(zp), np.concatenate(zq), np.concatenate(dirs)


# ---------------------------------------------------------------------------------------- surfaces
def body_depths(body_fit: BodyFit, camera: Cameras) -> tuple[MeshRaster, MeshRaster, MeshRaster]:
    """Where each pixel's ray of ``camera`` enters the fitted body, leaves the first part it
    entered, and leaves the body for the last time.

    All three come from :func:`humansplat.render.mesh.rasterize_mesh`. The first exit is the nearest
    *back-facing* triangle (a ray leaves a closed surface through back faces). For the farthest
    hit the body is inverted along the rays (a point at depth z moves to depth K / z on its own
    ray), which turns the farthest surface into the nearest; its depth is mapped back with
    z = K / z'. The inversion bends triangles slightly; for the body's small triangles the error
    is well below a millimetre.

    Returns:
        (front, first_exit, far): :class:`humansplat.render.mesh.MeshRaster` each, depths in
        camera metres (``first_exit.depth`` and ``far.depth`` are -inf where empty).
    """
    verts = body_fit.vertices.detach().float().cpu()
    faces = body_fit.faces.detach().cpu().long()
    z = camera.world_to_camera(verts)[0, :, 2]
    front = rasterize_mesh(verts, faces, camera)
    centre = camera.centers[0]
    # back-facing triangles (outward normals from the winding; flipped if the mesh is inside out)
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    normals = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    outward = 1.0 if float((v0 * torch.linalg.cross(v1, v2, dim=-1)).sum()) >= 0 else -1.0
    facing_away = outward * (normals * ((v0 + v1 + v2) / 3 - centre)).sum(-1) > 0
    first = rasterize_mesh(verts, faces[facing_away], camera)
    first.depth = torch.where(first.coverage, first.depth, -torch.inf)
    if bool(facing_away.any()):  # back to indices into all faces
        away = torch.nonzero(facing_away).squeeze(-1)
        first.face_id = torch.where(first.coverage, away[first.face_id.clamp_min(0)], -1)
    k = float(z[z > 0].median()) ** 2 if bool((z > 0).any()) else 1.0
    # the inverted body in the world frame: same rays (through the camera centre), depth K / z
    inv = centre + (verts - centre) * (k / z.clamp_min(1e-6) ** 2)[:, None]
    inv = torch.where((z > 0)[:, None], inv, verts)  # points behind the camera stay there (dropped)
    far = rasterize_mesh(inv, faces, camera)
    far.depth = torch.where(far.coverage, k / far.depth.clamp_min(1e-12), -torch.inf)
    return front, first, far


def _background_holes(
    rgb: np.ndarray, mask: np.ndarray, body: np.ndarray, opt: PriorOptions, background: np.ndarray | None = None
) -> np.ndarray:
    """(S, S) bool: pixels of ``mask`` that show the background (a hole between an arm and the body,
    sky between hair wisps) and must not become part of the person. ``rgb`` (S, S, 3): the photo's
    colours in [0, 1] on the grid of ``mask``.

    A hole is background-coloured (within ``hole_colour_distance`` of the crop's white, or of the
    photo's own ``background`` (S0, S0, 3) estimated behind the person (``PersonCrop.background``;
    NaN where unknown): the wall seen between an arm and the body), not deep
    inside the fitted body (a white shirt is; ``hole_body_inset_px``), and at least 3 x 3 pixels
    (an opening removes the one-pixel rim of anti-aliased silhouette pixels), and each connected
    hole covers at most ``hole_max_share`` of the mask.
    """
    from scipy.ndimage import binary_opening, distance_transform_edt, label

    if opt.hole_colour_distance <= 0:
        return np.zeros(mask.shape, dtype=bool)
    light = np.linalg.norm(1.0 - rgb, axis=-1) < opt.hole_colour_distance
    if background is not None:
        behind = _resize_image(np.asarray(background, dtype=np.float32), mask.shape[0])
        with np.errstate(invalid="ignore"):
            light |= np.linalg.norm(behind - rgb, axis=-1) < opt.hole_colour_distance
    deep = distance_transform_edt(body) > opt.hole_body_inset_px
    holes = binary_opening(mask & light & ~deep, structure=np.ones((3, 3), dtype=bool))
    # a large white region is a garment (a white dress beyond the legs), not a gap: keep it
    labels, n = label(holes)
    if n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        holes &= sizes[labels] <= opt.hole_max_share * mask.sum()
    return holes


def misplaced_hands(rgb: np.ndarray, mask: np.ndarray, body: np.ndarray, front_part: np.ndarray, opt: PriorOptions) -> np.ndarray:
    """(S, S) bool: pixels where the fitted body shows its hands but the photo does not: chromaticities
    farther than ``hand_skin_distance`` from the person's skin (:func:`_skin_colour`), or brightness
    outside :data:`_SKIN_BRIGHTNESS` x the skin's, in connected pieces that hold a 3 x 3 block.

    The fit's hands often miss the photo's by a hand's width (a hand on the belly fitted hanging
    beside the thigh); their depth would push a hand-shaped piece of the trousers out of the body.
    Those pixels take the depth of their surroundings instead. Gloves count as misplaced too (they
    then lie on their surroundings). None when no face or head shows skin to compare with, or
    ``hand_skin_distance`` is 0. ``rgb`` (S, S, 3) in [0, 1]; ``mask``, ``body`` (S, S) bool;
    ``front_part`` (S, S) part labels.
    """
    hands = body & (front_part == PART_NAMES.index("hands"))
    if opt.hand_skin_distance <= 0 or not hands.any():
        return np.zeros(mask.shape, dtype=bool)
    skin = _skin_colour(rgb, mask & ~hands, front_part)  # from the face or head, never the hands themselves
    if skin is None:
        return np.zeros(mask.shape, dtype=bool)
    from scipy.ndimage import binary_erosion, label

    # skin under other light (a sunlit hand, a face in the shade of a cap) keeps its hue: compare
    # chromaticities, and brightness only within a wide range (black cloth is not skin)
    total = rgb.sum(-1)
    bright = total / max(float(skin.sum()), 1e-6)
    chroma = rgb / np.maximum(total, 1e-6)[..., None]
    far = np.linalg.norm(chroma - skin / max(float(skin.sum()), 1e-6), axis=-1) > opt.hand_skin_distance
    other = hands & (far | (bright < _SKIN_BRIGHTNESS[0]) | (bright > _SKIN_BRIGHTNESS[1]))
    # a miss is a connected piece with some 3 x 3 block of other colours (a palm; its fingers come
    # with it); thin chains along a real hand's rim (blended with the background, shaded) are not
    labels, _ = label(other, structure=np.ones((3, 3), dtype=bool))
    solid = np.unique(labels[binary_erosion(other, structure=np.ones((3, 3), dtype=bool))])
    return np.isin(labels, solid[solid > 0])


def _clothing_depth(mask: np.ndarray, body: np.ndarray, metres_per_px: float, opt: PriorOptions) -> np.ndarray:
    """(S, S) metres that clothes and hair add to the body's depth, front and back.

    At each silhouette pixel the person extends ``d`` pixels past the fitted body (distance to the
    nearest body pixel: a coat's or a skirt's width beyond the legs, hair beyond the head); every
    mask pixel takes the value of its nearest silhouette pixel, smoothed (``clothing_smooth_px``),
    times ``clothing_depth`` and capped at ``clothing_max_m``. 0 where the body reaches the silhouette.
    """
    from scipy.ndimage import distance_transform_edt

    if opt.clothing_depth <= 0 or not body.any():
        return np.zeros(mask.shape)
    edge = boundary_pixels(mask)
    excess = np.where(edge, distance_transform_edt(~body), 0.0)
    spread = blur_masked(nearest_fill(excess, edge), mask, opt.clothing_smooth_px)
    return np.minimum(opt.clothing_depth * spread * metres_per_px, opt.clothing_max_m)


def skirt_profile(mask: np.ndarray, body: np.ndarray, front_part: np.ndarray, roundness: float) -> np.ndarray:
    """(S, S) half thickness in pixels of garments that join the legs (a skirt, a dress, a long coat):
    in each image row below the torso where one run of the mask holds leg pixels and at least a
    quarter of it is not the body (cloth between and beside the legs), the run is an elliptic cross-
    section ``roundness`` x its half-width deep (a skirt seen from the side is about as deep as it is
    wide; the legs under it are not). 0 elsewhere (trousers: the legs are their own runs)."""
    out = np.zeros(mask.shape)
    if roundness <= 0:
        return out
    legs = body & (front_part == PART_NAMES.index("legs"))
    torso = body & (front_part == PART_NAMES.index("torso"))
    for y in np.nonzero(legs.any(axis=1) & ~torso.any(axis=1))[0]:
        row = mask[y]
        edges = np.diff(np.r_[0, row.astype(np.int8), 0])
        for x0, x1 in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):  # runs [x0, x1)
            run_body = body[y, x0:x1]
            if not legs[y, x0:x1].any() or (~run_body).mean() < 0.25:
                continue
            a = 0.5 * (x1 - x0)
            x = np.arange(x0, x1) + 0.5 - (x0 + a)
            out[y, x0:x1] = roundness * a * np.sqrt(np.clip(1.0 - (x / a) ** 2, 0.0, None))
    return out


_skirt_profile = skirt_profile  # the names tests/test_prior_quality.py imports
_misplaced_hands = misplaced_hands


def prior_surfaces(body_fit: BodyFit, options: PriorOptions | None = None) -> PriorSurfaces:
    """Front/back depth of the person on the geometry grid (step 1 of the module docstring)."""
    from scipy.ndimage import distance_transform_edt

    opt = options or PriorOptions()
    S = int(opt.geometry_resolution)
    cam = body_fit.camera.resize(S, S)
    mask = _resize_image(np.asarray(body_fit.crop.mask, dtype=np.float32), S) > 0.5
    if not mask.any():
        from ..errors import InputError

        raise InputError("the person mask is empty at the reconstruction resolution; use a photo where the person is larger")
    front_r, back_r, far_r = body_depths(body_fit, cam)
    back_r.depth = torch.where(back_r.coverage, back_r.depth, far_r.depth)  # open meshes: no back face hit
    back_r.face_id = torch.where(back_r.coverage, back_r.face_id, far_r.face_id)
    cov = front_r.coverage.numpy()
    front_d, back_d, far_d = front_r.depth.numpy(), back_r.depth.numpy(), far_r.depth.numpy()
    rgb = _resize_image(np.asarray(body_fit.crop.rgb, dtype=np.float32) / 255.0, S)  # the photo on this grid
    mask = mask & ~_background_holes(rgb, mask, cov, opt, body_fit.crop.background)
    body = cov & mask
    parts = body_fit.parts.cpu().long()
    faces = body_fit.faces.cpu().long()
    verts_z = cam.project(body_fit.vertices.detach().float())[1][0]
    default_mid = float(verts_z.median())
    focal = float(cam.Ks[0, 0, 0])

    def labels(fm: np.ndarray) -> np.ndarray:
        hit = fm >= 0
        lab = np.zeros(fm.shape, dtype=np.int64)
        lab[hit] = parts[faces[torch.as_tensor(fm[hit]), 0]].numpy()
        if not hit.any():
            return np.full(fm.shape, PART_NAMES.index("torso"), dtype=np.int64)
        return nearest_fill(lab, hit)

    front_part = labels(front_r.face_id.numpy())
    fitted = body  # where the fitted body shows: its outline in the photo (clothes beyond it, skirts)
    body = fitted & ~misplaced_hands(rgb, mask, fitted, front_part, opt)  # where its depth is trusted
    front_b = np.where(cov, front_d, 0.0).astype(np.float64)
    back_b = np.where(cov, np.maximum(back_d, front_d), 0.0).astype(np.float64)
    # clothes and hair add depth beyond the body model: as much in front and behind as they add
    # at the sides in the photo (hair on the head only behind, so the face stays where it is)
    extra = _clothing_depth(mask, fitted, default_mid / focal, opt)
    on_head = np.isin(front_part, [PART_NAMES.index("head"), PART_NAMES.index("face")])
    front_b = front_b - np.where(on_head, 0.0, extra)
    back_b = back_b + extra
    far_b = np.where(cov, np.maximum(far_d + extra, back_b), 0.0).astype(np.float64)
    mid_known = 0.5 * (front_b + back_b)
    half_known = 0.5 * (back_b - front_b)
    mid = harmonic_fill(np.where(body, mid_known, 0.0), body, mask, default_mid)
    half = harmonic_fill(np.where(body, half_known, 0.0), body, mask, 0.0, zero_boundary=~mask)
    dist_px = distance_transform_edt(mask)
    inflated = opt.inflation * dist_px * mid / focal
    half = np.where(body, half, np.maximum(half, inflated))
    if opt.smooth_px > 0:  # smooth the filled thickness; the body's own surfaces stay exact
        half = np.where(body, half, blur_masked(half, mask, opt.smooth_px))
    half = np.maximum(half, 0.5 / focal * mid)  # at least a pixel footprint thick
    # a skirt or a long coat is about as deep as it is wide: an elliptic cross-section per row
    skirt = skirt_profile(mask, fitted, front_part, opt.skirt_roundness) * mid / focal
    half = np.maximum(half, skirt)
    front_b = np.where(skirt > 0, np.minimum(front_b, mid - skirt), front_b)
    back_b = np.where(skirt > 0, np.maximum(back_b, mid + skirt), back_b)
    front = np.where(mask, np.where(body, front_b, mid - half), 0.0)
    back = np.where(mask, np.where(body, np.maximum(back_b, front_b + 2 * half), mid + half), 0.0)
    # extend outside the mask (nearest value) so that finite differences at the silhouette are one-sided
    front = nearest_fill(front, mask)
    back = nearest_fill(back, mask)
    far = nearest_fill(np.where(body, np.maximum(far_b, back), back), mask)

    return PriorSurfaces(
        camera=cam,
        mask=mask,
        body=body,
        front_depth=front.astype(np.float32),
        back_depth=back.astype(np.float32),
        front_part=front_part,
        back_part=labels(back_r.face_id.numpy()),
        far_depth=far.astype(np.float32),
        far_part=labels(far_r.face_id.numpy()),
    )


def _skin_colour(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray) -> np.ndarray | None:
    """(3,) the person's skin colour: the median of the visible face, or (when the fit labels no
    face) of the lower half of the visible head, or of the hands; None when none shows (8 pixels)."""
    face = mask & (front_part == PART_NAMES.index("face"))
    if face.sum() < 8:
        face = mask & (front_part == PART_NAMES.index("head"))
        rows = np.nonzero(face.any(axis=1))[0]
        if len(rows):
            face[: (rows[0] + rows[-1]) // 2 + 1] = False  # the lower half: the face, not the hair
    if face.sum() < 8:
        face = mask & (front_part == PART_NAMES.index("hands"))
    return np.median(rgb[face], axis=0) if face.sum() >= 8 else None


def _hair_colour(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, skin: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
    """(3,) colour for the back of the head: the median of the visible head pixels in the upper half
    of the head that are not skin-coloured (hair, a hat); a dark brown when fewer than 8 show (a bald or short-haired head
    seen from the front shows little hair, and a skin-toned back of the head looks wrong)."""
    head = mask & np.isin(front_part, [PART_NAMES.index("head"), PART_NAMES.index("face")])
    rows = np.nonzero(head.any(axis=1))[0]
    if len(rows):  # the upper half: hair is on top (a beard or a scarf below is not)
        head[(rows[0] + rows[-1]) // 2 + 1 :] = False
    if skin is not None:
        head &= np.linalg.norm(rgb - skin, axis=-1) > _SKIN_DISTANCE
    if head.sum() >= 8:
        return np.median(rgb[head], axis=0)
    return _DEFAULT_HAIR if skin is not None else 0.6 * fallback


_SKIN_BRIGHTNESS = (0.35, 3.0)
"""Range of brightness (sum of RGB) relative to the face's skin within which a hand pixel may be skin."""
_SKIN_DISTANCE = 0.15
"""RGB distance (0-1 scale) within which a colour counts as the face's skin colour."""
_DEFAULT_HAIR = np.array([0.22, 0.16, 0.12])
"""Hair colour for the back of a head when the photo shows (almost) none."""


def _lateral_bands(part: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(left, right): (S, S) bool each: in each row, the pixels of ``part`` within ``fraction`` of that
    row's span of the part from its leftmost (rightmost) pixel, at least one pixel: the part's two
    sides, where the outermost garment shows (an open jacket's sides, not the shirt between them)."""
    cols = np.arange(part.shape[1])[None, :]
    has = part.any(axis=1)
    left = np.where(has, np.argmax(part, axis=1), 0)[:, None]
    right = np.where(has, part.shape[1] - 1 - np.argmax(part[:, ::-1], axis=1), 0)[:, None]
    width = np.maximum(1.0, fraction * (right - left + 1))
    return part & (cols - left < width), part & (right - cols < width)


def _lateral_band(part: np.ndarray, fraction: float) -> np.ndarray:
    """(S, S) bool: both of :func:`_lateral_bands`."""
    left, right = _lateral_bands(part, fraction)
    return left | right


def _garment_match(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, opt: PriorOptions) -> np.ndarray:
    """(S, S) weight in [0, 1]: how well each pixel's colour matches the *outermost garment* of its part.

    For each part and block of rows, the colours seen on the part's sides (:func:`_lateral_band`)
    are the outer garment's palette (every colour of a checked dress shows at its sides; an open
    jacket shows only the jacket there). A pixel whose colour is within ``garment_match`` (RGB
    distance) of at least ``garment_support`` of the colours on *each* side is that garment (weight 1, falling to 0 at
    twice the distance): its colour may continue round the back. A shirt in a jacket's opening, a
    print on the front only, or a hand in front of a coat does not match and gets the garment's
    colour on the back instead.
    """
    size = mask.shape[0]
    block = max(4, size // 32)
    t0 = opt.garment_match
    weight = np.ones(mask.shape)
    rng = np.random.default_rng(0)
    for k in range(len(PART_NAMES)):
        part = mask & (front_part == k)
        bands = _lateral_bands(part, opt.garment_side_fraction)
        if min(int(b.sum()) for b in bands) < 4:
            continue
        for y0 in range(0, size, block):
            here = part[y0 : y0 + block]
            if not here.any():
                continue
            lo, hi = max(0, y0 - block // 2), min(size, y0 + block + block // 2)
            px = rgb[y0 : y0 + block][here]  # (P, 3)
            d = np.zeros(len(px))
            for band in bands:  # the garment shows on both sides: a colour seen on one only (the
                # shirt next to one edge of a turned person's jacket) is not the outer layer
                ref = rgb[lo:hi][band[lo:hi]]
                if len(ref) < 4:
                    ref = rgb[band]
                if len(ref) > 64:
                    ref = ref[rng.choice(len(ref), 64, replace=False)]
                # distance to the colour's ``garment_support`` nearest share of the palette: a few
                # stray pixels on the sides (a shirt's edge, anti-aliasing) are not a garment
                dist = np.sqrt(((px[:, None, :] - ref[None]) ** 2).sum(-1))
                q = max(1, int(opt.garment_support * len(ref)))
                d = np.maximum(d, np.partition(dist, q - 1, axis=1)[:, q - 1])
            sub = weight[y0 : y0 + block]
            sub[here] = np.clip(2.0 - d / t0, 0.0, 1.0)
    return weight


def _back_colours(
    rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, back_parts: Sequence[np.ndarray], opt: PriorOptions
) -> list[np.ndarray]:
    """Colours for the unseen side on a grid, one (S, S, 3) map per part map of ``back_parts`` (the back
    layer, the far layer): garments, not parts. What depends on the photo alone is computed once.

    Per part and image row band, the *outer garment colour* is the median over the part's sides
    (:func:`_lateral_band`; the outermost layer shows there: an open coat over a shirt). Pixels
    whose colour belongs to that garment (:func:`_garment_match`) continue round the
    back as the photo blurred (a pattern continues), mixed with the garment colour by
    ``back_part_mix``; pixels that do not (a shirt in a jacket's opening, a print on the front only)
    get the garment colour. Where the front and back part labels differ (an arm in front of the
    torso) the back part's garment colour is used alone. The back of the head takes the hair
    colour (:func:`_hair_colour`), never the face's skin.
    """
    blurred = blur_masked(rgb.astype(np.float64), mask, opt.back_blur_px)
    garment = _garment_match(rgb, mask, front_part, opt)
    medians = {}
    sels = {}
    for k in range(len(PART_NAMES)):
        # a part's colour from its sides: the outermost garment (an open coat over a shirt) shows
        # there, and it is what covers the back; of those, the colours both sides show
        sel = mask & (front_part == k)
        side = _lateral_band(sel, opt.garment_side_fraction)
        if side.sum() >= 8:
            sel = side
            if (side & (garment >= 0.5)).sum() >= 8:
                sel = side & (garment >= 0.5)
        if sel.sum() >= 8:
            medians[k] = np.median(rgb[sel], axis=0)
            sels[k] = sel
    fallback = np.median(rgb[mask], axis=0) if mask.any() else np.full(3, 0.5)
    head, face = PART_NAMES.index("head"), PART_NAMES.index("face")
    hair = _hair_colour(rgb, mask, front_part, _skin_colour(rgb, mask, front_part), fallback)
    # a part's colour per image row band: garments change down the body (a dress over the legs,
    # shoes below trousers), so the legs' back at dress height takes the dress's colour
    size = mask.shape[0]
    band = max(1, int(round(opt.part_row_band * size)))
    med = np.empty((len(PART_NAMES), size, 3))
    for k in range(len(PART_NAMES)):
        med[k] = medians.get(k, fallback)
        if k not in sels:
            continue
        rows_with = np.nonzero(sels[k].any(axis=1) | np.any([(bp == k).any(axis=1) for bp in back_parts], axis=0))[0]
        for y in rows_with:
            y0, y1 = max(0, y - band), min(size, y + band + 1)
            vals = rgb[y0:y1][sels[k][y0:y1]]
            if len(vals) >= 8:
                med[k, y] = np.median(vals, axis=0)
    rows = np.broadcast_to(np.arange(size)[:, None], mask.shape)
    blurred_w = blur_masked(garment, mask, opt.back_blur_px)  # soft transitions between garments
    long_hair = _long_hair(rgb, mask, front_part, hair, opt, medians.get(PART_NAMES.index("torso")))
    outs = []
    for back_part in back_parts:
        # where something else is in front (an arm over the torso), the photo says nothing about the back
        keep = np.where(front_part != back_part, 0.0, (1.0 - opt.back_part_mix) * blurred_w)[..., None]
        out = keep * blurred + (1 - keep) * med[back_part, rows]
        is_head = (front_part == head) | (front_part == face) | (back_part == head) | (back_part == face)
        out[is_head | long_hair] = hair
        outs.append(np.clip(out, 0.0, 1.0))
    return outs


def _long_hair(
    rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, hair: np.ndarray, opt: PriorOptions, clothes: np.ndarray | None = None
) -> np.ndarray:
    """(S, S) bool: where long hair covers the back below the head. Hair that falls past the chin shows
    in the photo as hair-coloured pixels (within ``hair_match`` of ``hair``) connected to the head
    below it, beside the neck and over the shoulders; behind, it hangs down the back as far: in every
    row from the head down to the lowest such pixel, across the columns the hair spans in the photo
    (at least the head's width). Nothing when no hair falls below the head (short hair, a bald head),
    or when the ``clothes`` below it (3,) have the hair's colour (a dark puffer under black hair: the
    photo cannot tell the one from the other, and the creases of the coat would pass for strands)."""
    from scipy.ndimage import label

    if opt.hair_match <= 0 or (clothes is not None and np.linalg.norm(clothes - hair) < opt.hair_match):
        return np.zeros(mask.shape, dtype=bool)
    on_head = mask & np.isin(front_part, [PART_NAMES.index("head"), PART_NAMES.index("face")])
    head_rows = np.nonzero(on_head.any(axis=1))[0]
    if len(head_rows) < 4:
        return np.zeros(mask.shape, dtype=bool)
    like = mask & (np.linalg.norm(rgb - hair, axis=-1) < opt.hair_match)
    labels, _ = label(like | on_head)
    ids = np.unique(labels[on_head])
    hairy = np.isin(labels, ids[ids > 0]) & like
    bottom = head_rows[-1]
    below = np.nonzero(hairy[bottom + 1 :].any(axis=1))[0]
    if len(below) == 0:
        return np.zeros(mask.shape, dtype=bool)
    lowest = bottom + 1 + int(below.max())
    head_cols = np.nonzero(on_head.any(axis=0))[0]
    cols = np.nonzero(hairy[head_rows[0] : lowest + 1].any(axis=0))[0]
    c0, c1 = min(cols.min(), head_cols.min()), max(cols.max(), head_cols.max())
    out = np.zeros(mask.shape, dtype=bool)
    out[head_rows[0] : lowest + 1, c0 : c1 + 1] = True
    return out & mask


# ---------------------------------------------------------------------------------------- main entry
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
        side walls; with
        ``return_layers``, also ``{"visible" | "back" | "far" | "walls": slice}``.
    """
    from scipy.ndimage import distance_transform_edt

    opt = options or PriorOptions()
    crop = body_fit.crop
    crop_size = int(crop.rgb.shape[0])
    res = int(opt.resolution) if opt.resolution is not None else min(crop_size, 512)
    surf = prior_surfaces(body_fit, opt)
    photo = np.asarray(crop.rgb, dtype=np.float32) / 255.0
    mask_f = np.asarray(crop.mask, dtype=np.float32)
    holes = (_resize_image(mask_f, surf.mask.shape[0]) > 0.5) & ~surf.mask  # background seen through the person
    if holes.any():
        mask_f = mask_f * ~_resize_nearest(holes, crop_size)

    def layer_maps(size: int):
        cam = body_fit.camera.resize(size, size)
        mask = _resize_image(mask_f, size) > 0.5
        front = _resize_depth(surf.front_depth, size)
        back = _resize_depth(surf.back_depth, size)
        return cam, mask, front, back

    # 1. visible layer
    cam_f, mask_f_grid, front_f, _ = layer_maps(res)
    rgb_f = _resize_image(photo, res) if res != crop_size else photo
    inner_f = distance_transform_edt(mask_f_grid) > opt.silhouette_band_px
    side_f = nearest_fill(rgb_f, inner_f) if inner_f.any() else None
    cover_f = None
    if side_f is not None:
        # edge pixels blended with the (white) background: the person's colour at partial opacity,
        # so that no light rim shows from other views (the input view renders the same blend)
        cover_f = np.where(inner_f, 1.0, _coverage(rgb_f, side_f))
        # the person's colour: the nearest inner colour plus what the blend does not explain (texture)
        a = cover_f[..., None]
        unblended = side_f + (rgb_f - (a * side_f + (1 - a))) / np.maximum(a, 0.3)
        side_f = np.where(inner_f[..., None], side_f, np.clip(unblended, 0.0, 1.0))
    colour_f = rgb_f if side_f is None else np.where(inner_f[..., None], rgb_f, side_f)
    visible = _surface_gaussians(cam_f, front_f, mask_f_grid, colour_f, opt, side_rgb=side_f, coverage=cover_f)

    # 2. back layer, on back-grid pixels entirely inside the mask shrunk by ``back_inset_px`` crop
    #    pixels: seen from the input camera it never widens the silhouette
    rb = int(opt.back_resolution)
    cam_b, _, front_bk, back_bk = layer_maps(rb)
    inner = distance_transform_edt(mask_f > 0.5) > opt.back_inset_px
    mask_b = _resize_image(inner.astype(np.float32), rb) > 0.999
    # colours for unseen surfaces come from the person's inside: pixels on the silhouette are
    # blended with the background (anti-aliasing, soft masks) and would draw light seams
    solid = distance_transform_edt(mask_b) > opt.colour_inset_px
    rgb_b = _resize_image(photo, rb)
    if solid.any():
        rgb_b = nearest_fill(rgb_b, solid)
    fpart_b = _resize_nearest(surf.front_part, rb)
    bpart_b = _resize_nearest(surf.back_part, rb)
    far_part_b = _resize_nearest(surf.far_part, rb)
    back_rgb, far_rgb = _back_colours(rgb_b, mask_b, fpart_b, (bpart_b, far_part_b), opt)
    back_layer = _surface_gaussians(cam_b, back_bk, mask_b, back_rgb, opt, sigma_px=opt.back_sigma_px)
    focal_b = float(cam_b.Ks[0, 0, 0])
    thresh = opt.wall_step_px * front_bk / focal_b

    # 2b. far layer: where body parts overlap along the ray (an arm in front of the torso), the
    #     last exit (the torso's back) closes the back view; no walls join it to the nearer part
    far_bk = _resize_depth(surf.far_depth, rb)
    far_mask = mask_b & (far_bk > back_bk + thresh)
    if far_mask.any():
        far_layer = _surface_gaussians(cam_b, far_bk, far_mask, far_rgb, opt, sigma_px=opt.back_sigma_px)
    else:
        far_layer = Gaussians.empty()

    # 3. side walls on the back grid: silhouette (front -> back) and depth jumps of both layers
    edge = boundary_pixels(mask_b)
    ei, ej = np.nonzero(edge)
    epix = np.stack([ei, ej], -1)
    walls = [
        _wall_gaussians(
            cam_b, epix, _edge_normals(mask_b, epix), front_bk[edge], back_bk[edge], rgb_b[edge], back_rgb[edge], opt,
            inset_px=opt.wall_inset_px,
        )
    ]
    # a jump wall stays between its own pixel's front and back (never in front of the visible layer)
    # jumps deeper than max_jump_m separate two parts (a raised foot before the other leg): no wall
    pix, zp, zq, dirs = _depth_jumps(front_bk, mask_b, thresh, opt.max_jump_m, nearer_first=True)
    fc = rgb_b[pix[:, 0], pix[:, 1]]
    zq = np.minimum(zq, back_bk[pix[:, 0], pix[:, 1]])
    walls.append(_wall_gaussians(cam_b, pix, dirs, zp, zq, fc, fc, opt))
    pix, zp, zq, dirs = _depth_jumps(back_bk, mask_b, thresh, opt.max_jump_m, nearer_first=False)
    bc = back_rgb[pix[:, 0], pix[:, 1]]
    zq = np.maximum(zq, front_bk[pix[:, 0], pix[:, 1]])
    walls.append(_wall_gaussians(cam_b, pix, dirs, zq, zp, bc, bc, opt))
    parts = [visible, back_layer] + ([far_layer] if len(far_layer) else []) + [w for w in walls if len(w)]
    gaussians = cover_surface(Gaussians.cat(parts), cam_f)
    if opt.colour_iterations > 0:
        gaussians = refine_colours(
            gaussians, len(visible), cam_f, mask_f_grid, rgb_f, opt.colour_iterations,
            edge=None if side_f is None else ~inner_f, max_opacity=opt.opacity,
        )
    if return_layers:
        nv, nb, nf = len(visible), len(back_layer), len(far_layer)
        return gaussians, {
            "visible": slice(0, nv),
            "back": slice(nv, nv + nb),
            "far": slice(nv + nb, nv + nb + nf),
            "walls": slice(nv + nb + nf, len(gaussians)),
        }
    return gaussians


def refine_colours(
    gaussians: Gaussians,
    n_visible: int,
    camera: Cameras,
    valid: np.ndarray,
    target: np.ndarray,
    iterations: int,
    step: float = 1.0,
    edge: np.ndarray | None = None,
    max_opacity: float = 0.98,
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
