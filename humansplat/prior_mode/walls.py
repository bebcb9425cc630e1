"""Side walls: columns of ray-aligned Gaussians that close the gaps between the front and back layers.

At the silhouette a wall runs from the front depth to the back depth; between neighbouring pixels at a
depth jump of either layer it closes the step, so side views have no holes and the avatar is not a
cardboard cut-out (step 4 of :mod:`.build`).

Shapes: S back-grid side (pixels), M wall columns; depths are camera z in metres.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from ..geometry import rotmat_to_quat
from ..imaging import boundary_pixels
from .placement import BACK_SIGMA_PX, EDGE_SIGMA_PX, OPACITY, edge_normals

__all__ = ["MAX_JUMP_M", "MAX_WALL_GAUSSIANS", "WALL_INSET_PX", "WALL_STEP_PX", "side_walls", "step_threshold"]

WALL_STEP_PX = 2.5
"""Spacing of wall Gaussians along the ray, in pixel footprints; a depth step of more than one spacing
between neighbouring pixels needs a wall."""
MAX_JUMP_M = 0.12
"""Depth jumps between neighbouring pixels up to this (metres) are closed by a wall; deeper ones separate two
body parts (a raised foot before the other leg) and stay open."""
WALL_INSET_PX = 0.5
"""Silhouette walls stand this many back-grid pixels inside the silhouette: seen from the input camera they
never widen it."""
MAX_WALL_GAUSSIANS = 24
"""Cap of Gaussians per wall column (a long column gets longer Gaussians instead)."""


def step_threshold(camera: Cameras, depth: np.ndarray) -> np.ndarray:
    """(S, S) metres: one wall spacing (:data:`WALL_STEP_PX` pixel footprints) at camera depth ``depth``
    (S, S) of ``camera``'s grid; a depth step beyond it is a gap between layers or pixels."""
    return WALL_STEP_PX * depth / float(camera.Ks[0, 0, 0])


def _wall_gaussians(
    camera: Cameras,
    pix: np.ndarray,
    normals: np.ndarray,
    z0: np.ndarray,
    z1: np.ndarray,
    c0: np.ndarray,
    c1: np.ndarray,
    inset_px: float = 0.0,
) -> Gaussians:
    """Columns of Gaussians along the rays of grid pixels ``pix`` (M, 2) (row, col), from camera
    depth ``z0`` to ``z1`` (M,), colours blended from ``c0`` to ``c1`` (M, 3).

    A wall runs along the ray (elongated to fill its depth step) and along the image-space edge
    (:data:`~.placement.BACK_SIGMA_PX`), and is thin across the edge (:data:`~.placement.EDGE_SIGMA_PX`)
    whose direction in the image is ``normals`` (M, 2) (du, dv): seen from the side it is a closed
    strip, seen from the input camera it stays inside its pixel. ``inset_px`` moves the columns that
    many grid pixels against ``normals`` (inwards for outward silhouette normals): a column's Gaussians
    all project onto one point of the input view, where their opacities add up.
    """
    if len(pix) == 0:
        return Gaussians.empty()
    focal = float(camera.Ks[0, 0, 0])
    z0t = torch.as_tensor(z0, dtype=torch.float32)
    z1t = torch.as_tensor(z1, dtype=torch.float32)
    foot = torch.minimum(z0t, z1t) / focal  # metres per pixel
    length = (z1t - z0t).abs()
    count = torch.ceil(length / (WALL_STEP_PX * foot)).clamp(1, MAX_WALL_GAUSSIANS).long()
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
    along_ray = torch.maximum(0.6 * length[col] / count[col].float(), f * BACK_SIGMA_PX)
    scales = torch.stack([f * EDGE_SIGMA_PX, f * BACK_SIGMA_PX * 1.2, along_ray], dim=-1)
    w = frac[:, None]
    colours = (1 - w) * torch.as_tensor(c0, dtype=torch.float32)[col] + w * torch.as_tensor(c1, dtype=torch.float32)[col]
    opac = torch.full((len(col),), OPACITY)
    return Gaussians.from_activated(means, scales, rotmat_to_quat(rot), opac, colours.clamp(0, 1))


def _depth_jumps(depth: np.ndarray, mask: np.ndarray, threshold: np.ndarray, nearer_first: bool):
    """Pixel pairs (p, q) of 4-neighbours inside ``mask`` whose depths differ by more than
    ``threshold`` (S, S) at p and at most :data:`MAX_JUMP_M`. Returns (pixels of p (M, 2), depth at p
    (M,), depth at q (M,), image direction p -> q (M, 2) (du, dv)), with p the nearer pixel when
    ``nearer_first`` (front layer), else the farther one (back layer)."""
    pix, zp, zq, dirs = [], [], [], []
    S0, S1 = depth.shape
    for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        a = (slice(max(0, -di), S0 - max(0, di)), slice(max(0, -dj), S1 - max(0, dj)))  # p
        b = (slice(max(0, di), S0 - max(0, -di)), slice(max(0, dj), S1 - max(0, -dj)))  # q = p + (di, dj)
        da, db = depth[a], depth[b]
        both = mask[a] & mask[b]
        diff = (db - da) if nearer_first else (da - db)
        hit = both & (diff > threshold[a]) & (diff <= MAX_JUMP_M)
        ii, jj = np.nonzero(hit)
        pix.append(np.stack([ii + a[0].start, jj + a[1].start], -1))
        zp.append(da[hit])
        zq.append(db[hit])
        dirs.append(np.tile(np.array([[dj, di]], dtype=np.float32), (len(ii), 1)))
    return np.concatenate(pix), np.concatenate(zp), np.concatenate(zq), np.concatenate(dirs)


def side_walls(
    camera: Cameras,
    mask: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    front_rgb: np.ndarray,
    back_rgb: np.ndarray,
) -> list[Gaussians]:
    """The walls on the back grid of ``camera``: (silhouette, front-layer jumps, back-layer jumps), each
    possibly empty. ``mask`` (S, S) bool; ``front``, ``back`` (S, S) camera depths; ``front_rgb``,
    ``back_rgb`` (S, S, 3) the layers' colours, blended along the silhouette walls. A jump wall stays
    between its own pixel's front and back (never in front of the visible layer)."""
    threshold = step_threshold(camera, front)
    edge = boundary_pixels(mask)
    ei, ej = np.nonzero(edge)
    epix = np.stack([ei, ej], -1)
    silhouette = _wall_gaussians(
        camera, epix, edge_normals(mask, epix), front[edge], back[edge], front_rgb[edge], back_rgb[edge],
        inset_px=WALL_INSET_PX,
    )
    pix, zp, zq, dirs = _depth_jumps(front, mask, threshold, nearer_first=True)
    fc = front_rgb[pix[:, 0], pix[:, 1]]
    zq = np.minimum(zq, back[pix[:, 0], pix[:, 1]])
    front_jumps = _wall_gaussians(camera, pix, dirs, zp, zq, fc, fc)
    pix, zp, zq, dirs = _depth_jumps(back, mask, threshold, nearer_first=False)
    bc = back_rgb[pix[:, 0], pix[:, 1]]
    zq = np.maximum(zq, front[pix[:, 0], pix[:, 1]])
    back_jumps = _wall_gaussians(camera, pix, dirs, zq, zp, bc, bc)
    return [silhouette, front_jumps, back_jumps]
