"""Meshes as Gaussians: the ground truth turned into a "perfect reconstruction" for sanity checks.

:func:`mesh_to_gaussians` samples the surface densely (area-weighted, seeded), gives each sample the
mesh's colour there (texture or vertex colours), a small isotropic scale and full opacity. Rendered
with :func:`humansplat.render.render`, it looks like :func:`humansplat.render.mesh.render_mesh` with
flat albedo (``ambient=1``), which is what the evaluation harness checks itself with.

Shapes: N Gaussians / samples, F faces.
"""

from __future__ import annotations

import math

import torch

from ..gaussians import Gaussians
from ..render.mesh import TexturedMesh, sample_texture, vertex_normals

__all__ = ["mesh_to_gaussians", "sample_surface"]


def sample_surface(mesh: TexturedMesh, spacing: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Area-weighted random points on ``mesh`` with their colours.

    Args:
        mesh: the mesh (any frame; metres).
        spacing: mean distance between samples (metres); N = 2 * area / spacing^2.
        seed: random seed (deterministic for a seed).

    Returns:
        points (N, 3) float32 in the mesh's frame, colours (N, 3) float32 in [0, 1], unit normals
        (N, 3) float32 (interpolated vertex normals, outwards for counter-clockwise faces).
    """
    if not spacing > 0:
        raise ValueError(f"spacing must be > 0 metres, got {spacing}")
    v, f = mesh.vertices.float(), mesh.faces
    corners = v[f]  # (F, 3, 3)
    area = 0.5 * torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1).norm(dim=-1)
    total = float(area.sum())
    if len(f) == 0 or total <= 0:
        return torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 3)
    n = max(1, int(round(2.0 * total / spacing**2)))
    gen = torch.Generator().manual_seed(int(seed))
    face = torch.multinomial(area, n, replacement=True, generator=gen)
    r1, r2 = torch.rand(n, generator=gen), torch.rand(n, generator=gen)
    s = r1.sqrt()
    bary = torch.stack([1.0 - s, s * (1.0 - r2), s * r2], dim=-1)  # uniform on the triangle
    points = (corners[face] * bary[..., None]).sum(1)
    if mesh.has_texture:
        fuv = mesh.face_uvs if mesh.face_uvs is not None else f
        uv = (mesh.uvs[fuv[face]] * bary[..., None]).sum(1)
        colors = sample_texture(mesh.texture, uv)
    elif mesh.vertex_colors is not None:
        colors = (mesh.vertex_colors[f[face]] * bary[..., None]).sum(1)
    else:
        colors = torch.full((n, 3), 0.5)
    normals = torch.nn.functional.normalize((vertex_normals(v, f)[f[face]] * bary[..., None]).sum(1), dim=-1, eps=1e-12)
    return points, colors.clamp(0.0, 1.0), normals


def _boundary_points(mesh: TexturedMesh, step: float) -> torch.Tensor:
    """(M, 3) points every ``step`` metres along the mesh's open boundary (edges of one face)."""
    f = mesh.faces
    edges = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).sort(dim=1).values
    unique, counts = torch.unique(edges, dim=0, return_counts=True)
    border = unique[counts == 1]
    if len(border) == 0:
        return torch.zeros(0, 3)
    a, b = mesh.vertices[border[:, 0]], mesh.vertices[border[:, 1]]
    k = int(max(1, math.ceil(float((b - a).norm(dim=-1).max()) / step)))
    t = torch.linspace(0.0, 1.0, k + 1)
    return (a[:, None] + t[None, :, None] * (b - a)[:, None]).reshape(-1, 3)


def mesh_to_gaussians(
    mesh: TexturedMesh,
    spacing: float = 0.004,
    scale: float = 0.3,
    opacity: float = 0.99,
    inset: float = 0.0,
    trim: float = 0.0,
    keep_axis: tuple[float, float, float] | None = None,
    seed: int = 0,
) -> Gaussians:
    """The mesh as N small opaque isotropic Gaussians on its surface (same frame as the mesh).

    Args:
        mesh: the mesh (metres).
        spacing: mean sample spacing in metres (:func:`sample_surface`); keep it below the size of a
            pixel on the subject so the surface has no holes.
        scale: standard deviation of each Gaussian as a multiple of ``spacing``.
        opacity: opacity of every Gaussian.
        inset: metres each Gaussian moves inwards along the surface normal. Splatting spreads every
            Gaussian by the renderer's low-pass (0.3 px^2) and many overlapping Gaussians saturate,
            so silhouettes grow by about half a pixel; an inset of that size (in metres at the
            subject) cancels it.
        trim: samples closer than ``trim`` metres to an open boundary of the mesh (a hem, the edge
            of a sheet) are dropped, which cancels the same growth where no normal can.
        keep_axis: a direction (e.g. the world's up axis) along which the samples at the two ends
            of the mesh (within 2 x ``inset``) do not move, so the mesh's extent along it (its
            height) stays exact; None moves every sample along its full normal.
        seed: sampling seed.
    """
    points, colors, normals = sample_surface(mesh, spacing, seed)
    if trim > 0 and len(points):
        edge_points = _boundary_points(mesh, 0.5 * trim)
        if len(edge_points):
            from scipy.spatial import cKDTree

            dist = cKDTree(edge_points.numpy()).query(points.numpy())[0]
            keep = torch.from_numpy(dist >= trim)
            points, colors, normals = points[keep], colors[keep], normals[keep]
    if keep_axis is not None and len(points):
        axis = torch.nn.functional.normalize(torch.as_tensor(keep_axis, dtype=torch.float32), dim=0)
        h = points @ axis
        ends = (h < h.min() + 2.0 * inset) | (h > h.max() - 2.0 * inset)
        normals = torch.where(ends[:, None], normals - (normals @ axis)[:, None] * axis, normals)
    points = points - float(inset) * normals
    n = len(points)
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return Gaussians.from_activated(
        means=points,
        scales=torch.full((n, 3), scale * spacing),
        quats=quats,
        opacities=torch.full((n,), opacity),
        rgb=colors,
    )
