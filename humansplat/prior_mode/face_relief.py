"""The face's relief from Face Mesh's depths: metric camera depths over the face of a close-up.

Face Mesh (:func:`~humansplat.prior.mediapipe_detector.detect_face_mesh`) gives each of its 468 points
a depth z relative to the face's centre, in pixels of the image's scale (weak perspective). At the
face's distance D from a camera of focal length f (pixels) a pixel spans D / f metres, so the points'
camera depths are ``offset + z * D / f``, each on its own pixel's ray. D is the median depth of the
head's surface under the points; the offset puts the face's rim (its outline and cheeks) on that
surface (the median of the differences over the rim points the face itself does not hide). The points
joined by Face Mesh's triangles (:func:`face_mesh_topology`) are rasterised with a z-buffer, so the far
side of the nose of a turned face stays hidden; the eyes and the mouth, holes in the mesh, are filled
harmonically. The face's depth replaces the head's surface, blended over a band inside the face's edge
where the face meets the rest of the head (:data:`BLEND_SHARE` of the face's size); where the face's
edge is the person's outline (the nose of a face in profile) there is nothing to join and no band.

Shapes: S grid side (pixels); maps are (S, S); depths are camera z in metres; face points (n, 3)
(u, v, z) in grid pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..cameras import Cameras
from ..imaging import harmonic_fill
from ..prior.landmarks import FACE_CHEEKS, FACE_LANDMARK_COUNT, FACE_NOSE_TIP, FACE_OVAL
from ..render.mesh import rasterize_mesh

__all__ = [
    "BLEND_SHARE",
    "VISIBLE_TOLERANCE_M",
    "FaceRelief",
    "FaceTopology",
    "apply_relief",
    "face_mesh_topology",
    "face_relief",
]

BLEND_SHARE = 0.12
"""Width of the band inside the face's edge over which its relief fades into the head's surface, as a
share of the face's size (the square root of its area in pixels): about 2 cm."""
VISIBLE_TOLERANCE_M = 0.005
"""A face point lying more than this many metres behind the face's rasterised surface at its own pixel
is hidden (the far side of the nose of a turned face): it does not place the face."""


@dataclass(frozen=True)
class FaceTopology:
    """Which points of a face make its surface and which place it on the head.

    Attributes:
        triangles: (T, 3) int64 point indices.
        rim: indices of the points the face is placed by (its outline and cheeks).
        nose_tip: index of the tip of the nose.
        cheeks: indices of points on the cheeks (the nose's height is measured against them).
    """

    triangles: np.ndarray
    rim: tuple[int, ...]
    nose_tip: int
    cheeks: tuple[int, ...]


@dataclass
class FaceRelief:
    """The face's surface on a grid.

    Attributes:
        depth: (S, S) float64 camera depth (metres) of the face where it shows (0 elsewhere).
        weight: (S, S) float64 in [0, 1]: how much the face's depth replaces the head's surface (0
            where the face does not show, rising to 1 over the blend band inside its edge).
        point_depth: (n,) float64 camera depth (metres) of every face point.
        nose_in_front_m: how far the tip of the nose lies in front of the cheeks (metres).
    """

    depth: np.ndarray
    weight: np.ndarray
    point_depth: np.ndarray
    nose_in_front_m: float


@lru_cache(maxsize=1)
def face_mesh_topology() -> FaceTopology:
    """Face Mesh's topology: its triangles (every three points its tessellation joins pairwise), the face
    oval and the cheeks as the rim (:mod:`humansplat.prior.landmarks`)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    neighbours: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = {tuple(sorted((a, b, c))) for a, b in FACEMESH_TESSELATION for c in neighbours[a] & neighbours[b]}
    return FaceTopology(
        triangles=np.array(sorted(triangles), dtype=np.int64),
        rim=tuple(FACE_OVAL) + tuple(FACE_CHEEKS),
        nose_tip=FACE_NOSE_TIP,
        cheeks=tuple(FACE_CHEEKS),
    )


def _at_pixels(values: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values at the pixels holding the points ``uv`` (n, 2), (n,) bool: the point lies on the grid)."""
    size = values.shape[0]
    ij = np.floor(uv[:, ::-1]).astype(np.int64)
    on = ((ij >= 0) & (ij < size)).all(axis=1)
    out = np.zeros(len(uv), dtype=values.dtype)
    out[on] = values[ij[on, 0], ij[on, 1]]
    return out, on


def _raster(points: np.ndarray, depth: np.ndarray, triangles: np.ndarray, camera: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """((S, S) depth, (S, S) coverage) of the triangles over ``points`` (n, 2) pixels put at camera
    ``depth`` (n,) metres on their own rays."""
    K = camera.Ks[0].double().numpy()
    xy = (points - K[:2, 2]) / np.diag(K)[:2] * depth[:, None]
    cam = torch.from_numpy(np.concatenate([xy, depth[:, None]], axis=1)).double()
    c2w = camera.camtoworlds[0].double().cpu()
    world = (cam @ c2w[:3, :3].T + c2w[:3, 3]).float()
    raster = rasterize_mesh(world, torch.from_numpy(triangles), camera)
    return raster.depth.double().numpy(), raster.coverage.numpy()


def face_relief(
    face: np.ndarray, camera: Cameras, surface: np.ndarray, mask: np.ndarray, topology: FaceTopology | None = None
) -> FaceRelief | None:
    """The face's surface (module docstring).

    Args:
        face: (n, 3) face points (u, v, z) in pixels of ``camera``'s grid (Face Mesh's 468 by default).
        camera: the grid's camera (S x S).
        surface: (S, S) camera depths (metres) of the head where ``mask`` (S, S) bool.
        topology: the face points' :class:`FaceTopology`; None = :func:`face_mesh_topology`.

    Returns:
        :class:`FaceRelief`, or None when fewer than 4 rim points lie on the mask.
    """
    from scipy.ndimage import binary_fill_holes, distance_transform_edt

    topo = topology or face_mesh_topology()
    face = np.asarray(face, dtype=np.float64)
    if face.ndim != 2 or face.shape[1] != 3 or (topology is None and len(face) != FACE_LANDMARK_COUNT):
        raise ValueError(f"face must be (n, 3) (u, v, z) points (Face Mesh's: n = 468), got {face.shape}")
    uv = face[:, :2]
    under, on = _at_pixels(surface.astype(np.float64), uv)
    on &= _at_pixels(mask.astype(np.uint8), uv)[0] > 0
    if on.sum() < 4:
        return None
    offset = float(np.median(under[on]))  # the face's distance
    relative = face[:, 2] * offset / float(camera.Ks[0, 0, 0])  # metres, negative towards the camera
    rim = np.zeros(len(face), dtype=bool)
    rim[list(topo.rim)] = True
    for _ in range(2):  # place the rim the face does not hide on the head; once more at the new depth
        depth = relative + offset
        raster, covered = _raster(uv, depth, topo.triangles, camera)
        seen = _at_pixels(np.where(covered, raster, np.inf), uv)[0] >= depth - VISIBLE_TOLERANCE_M
        anchors = rim & on & seen
        if anchors.sum() < 4:
            return None
        offset += float(np.median(under[anchors] - depth[anchors]))
    depth = relative + offset
    raster, covered = _raster(uv, depth, topo.triangles, camera)
    region = binary_fill_holes(covered)  # the eyes and the mouth are holes in Face Mesh's triangles
    values = harmonic_fill(np.where(covered, raster, 0.0), covered, region, offset)
    region &= mask
    band = max(BLEND_SHARE * float(np.sqrt(region.sum())), 1.0)
    t = np.clip(distance_transform_edt(region | ~mask) / band, 0.0, 1.0)
    weight = np.where(region, t * t * (3.0 - 2.0 * t), 0.0)  # smoothstep: no kink at either end
    return FaceRelief(
        depth=np.where(region, values, 0.0),
        weight=weight,
        point_depth=depth,
        nose_in_front_m=float(np.mean(depth[list(topo.cheeks)]) - depth[topo.nose_tip]),
    )


def apply_relief(relief: FaceRelief, front: np.ndarray) -> np.ndarray:
    """``front`` (S, S) depths with the face's relief blended in by its weight."""
    return np.where(relief.weight > 0, relief.weight * relief.depth + (1.0 - relief.weight) * front, front)
