"""A coloured triangle mesh of a Gaussian avatar, saved as binary glTF (.glb).

The mesh is the boundary of the avatar's solid: the Gaussians' means (opacity >= ``min_opacity``)
are voxelised, the shell is closed (dilation), its inside filled, smoothed, and the 0.5 level set
is extracted with marching cubes (scikit-image). Vertex colours are the mean colour of the nearest
opaque Gaussians. Fine for previews, printing a figurine, or a browser's glTF viewer; the Gaussians
themselves (.ply) keep the full appearance.

Axes: glTF is y-up and right-handed with the model facing +z; our world is the input camera's
OpenCV frame (y down, the person facing -z). The mesh is saved as (x, -y, -z), centred on the
bounding-box centre of the Gaussians, in metres.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..gaussians import Gaussians
from ..geometry import opencv_to_gltf

if TYPE_CHECKING:
    import trimesh

__all__ = ["gaussians_to_mesh", "save_glb"]


def gaussians_to_mesh(
    gaussians: Gaussians,
    resolution: int = 128,
    min_opacity: float = 0.3,
    close_voxels: int = 2,
    smooth_voxels: float = 1.0,
    colour_neighbours: int = 4,
) -> trimesh.Trimesh:
    """Closed, vertex-coloured mesh around the Gaussians (module docstring), in glTF axes.

    Args:
        gaussians: the avatar (world = input camera frame).
        resolution: voxels along the longest side of the bounding box.
        min_opacity: Gaussians below this opacity are ignored.
        close_voxels: dilation/erosion radius (voxels) that closes gaps in the shell before filling.
        smooth_voxels: Gaussian smoothing (voxels) of the filled solid before marching cubes.
        colour_neighbours: opaque Gaussians averaged for each vertex colour.

    Returns:
        a ``trimesh.Trimesh`` with per-vertex RGBA colours (uint8).

    Raises:
        ValueError: no Gaussian is opaque enough, or ``resolution`` < 8.
    """
    import trimesh
    from scipy import ndimage
    from scipy.spatial import cKDTree
    from skimage.measure import marching_cubes

    if resolution < 8:
        raise ValueError(f"mesh resolution must be >= 8 voxels, got {resolution!r}")
    keep = (gaussians.opacities >= min_opacity).detach().cpu().numpy()
    if not keep.any():
        raise ValueError(f"no Gaussian has opacity >= {min_opacity}; nothing to mesh")
    means = gaussians.means.detach().float().cpu().numpy()[keep].astype(np.float64)
    rgb = gaussians.rgb.detach().float().cpu().numpy()[keep]
    lo, hi = means.min(axis=0), means.max(axis=0)
    voxel = float((hi - lo).max()) / resolution
    voxel = voxel if voxel > 0 else 1e-3
    pad = close_voxels + int(np.ceil(3 * smooth_voxels)) + 2
    origin = lo - pad * voxel
    dims = np.ceil((hi - lo) / voxel).astype(np.int64) + 1 + 2 * pad
    idx = np.clip(np.floor((means - origin) / voxel).astype(np.int64), 0, dims - 1)
    occ = np.zeros(tuple(dims), dtype=bool)
    occ[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    if close_voxels > 0:
        ball = ndimage.generate_binary_structure(3, 1)
        occ = ndimage.binary_dilation(occ, ball, iterations=close_voxels)
        occ = ndimage.binary_fill_holes(occ)
        occ = ndimage.binary_erosion(occ, ball, iterations=close_voxels, border_value=0)
    else:
        occ = ndimage.binary_fill_holes(occ)
    field = ndimage.gaussian_filter(occ.astype(np.float32), smooth_voxels) if smooth_voxels > 0 else occ.astype(np.float32)
    if field.max() <= 0.5:
        raise ValueError("the avatar is too thin to mesh at this resolution; raise the resolution")
    verts, faces, _, _ = marching_cubes(field, level=0.5)
    verts = origin + verts * voxel  # voxel index -> world (marching cubes works in index space)
    k = max(1, min(colour_neighbours, len(means)))
    _, nn = cKDTree(means).query(verts, k=k)
    nn = nn.reshape(len(verts), k)
    colours = rgb[nn].mean(axis=1)
    centre = (lo + hi) / 2
    gl = opencv_to_gltf(verts - centre)
    # the axis flip (det = +1 for two flips) keeps orientation; marching cubes' faces point outwards
    vc = np.concatenate([np.clip(colours * 255 + 0.5, 0, 255), np.full((len(verts), 1), 255.0)], axis=1)
    mesh = trimesh.Trimesh(vertices=gl, faces=faces[:, ::-1], vertex_colors=vc.astype(np.uint8), process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def save_glb(gaussians: Gaussians, path: str | Path, resolution: int = 128, **kwargs) -> Path:
    """Write the avatar's coloured mesh (:func:`gaussians_to_mesh`) as binary glTF to ``path``.

    Returns:
        the path written. ``kwargs`` go to :func:`gaussians_to_mesh`.
    """
    path = Path(path)
    mesh = gaussians_to_mesh(gaussians, resolution=resolution, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = mesh.export(file_type="glb")
    path.write_bytes(data)
    return path
