"""Triangle-mesh rendering: the one mesh rasteriser of the project.

Every mesh render in HumanSplat (overlays of the fitted body, prior mode's body depths, synthetic
people, training renders of scans, the novel-view evaluation's ground truth) goes through this
module. Conventions: :mod:`humansplat.cameras` (OpenCV, world-to-camera, pixel centres at +0.5).

API (plain functions over plain tensors, gsplat-style):

* :class:`TexturedMesh`: vertices, faces and the colours (texture + UVs and/or vertex colours),
  optional per-vertex semantic parts.
* :func:`rasterize_mesh` -> :class:`MeshRaster`: which triangle covers each pixel centre, with
  perspective-correct barycentrics and camera depth (z-buffered).
* :func:`interpolate`: per-vertex or per-corner attributes at each pixel.
* :func:`sample_texture`: bilinear texture look-up.
* :func:`render_mesh` -> :class:`MeshRender`: RGB, alpha, depth, normals and part masks of C views,
  supersampled for soft edges.

Shapes: C cameras, V vertices, F faces, T texture coordinates, H, W image, Ht, Wt texture size.
UV convention: OBJ's, u to the right, v **up**, (0, 0) = bottom-left corner of the texture image
(loaders of formats with v down, e.g. glTF, flip v).

STATUS: interface fixed; the implementation below is a first version on top of the NumPy z-buffer
in :mod:`humansplat.prior.overlay` and is to be replaced by a vectorised torch one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..cameras import Cameras

__all__ = [
    "MeshRaster",
    "MeshRender",
    "TexturedMesh",
    "face_normals",
    "interpolate",
    "rasterize_mesh",
    "render_mesh",
    "sample_texture",
    "vertex_normals",
]


@dataclass
class TexturedMesh:
    """A coloured triangle mesh (a scan, a synthetic person, a fitted body).

    Attributes:
        vertices: (V, 3) float32, metres, world frame.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside.
        vertex_colors: (V, 3) float32 in [0, 1], or None.
        uvs: (T, 2) float32 texture coordinates (UV convention: module docstring), or None.
        face_uvs: (F, 3) int64 indices into ``uvs``, or None (then ``uvs`` is per vertex, T = V).
        texture: (Ht, Wt, 3) float32 in [0, 1], or None. When a texture and UVs are present they
            give the colour; otherwise ``vertex_colors``; otherwise mid grey.
        parts: (V,) int64 semantic part labels (:data:`humansplat.prior.parts.PART_NAMES`), or None.
        name: a label for messages (e.g. the file it came from).
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    vertex_colors: torch.Tensor | None = None
    uvs: torch.Tensor | None = None
    face_uvs: torch.Tensor | None = None
    texture: torch.Tensor | None = None
    parts: torch.Tensor | None = None
    name: str = "mesh"
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vertices = torch.as_tensor(self.vertices, dtype=torch.float32)
        self.faces = torch.as_tensor(self.faces, dtype=torch.long)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"{self.name}: vertices must be (V, 3), got {tuple(self.vertices.shape)}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"{self.name}: faces must be (F, 3), got {tuple(self.faces.shape)}")
        V = self.vertices.shape[0]
        if len(self.faces) and (int(self.faces.min()) < 0 or int(self.faces.max()) >= V):
            raise ValueError(f"{self.name}: face indices must lie in [0, {V}), got [{int(self.faces.min())}, {int(self.faces.max())}]")
        if self.vertex_colors is not None:
            self.vertex_colors = torch.as_tensor(self.vertex_colors, dtype=torch.float32)
            if tuple(self.vertex_colors.shape) != (V, 3):
                raise ValueError(f"{self.name}: vertex_colors must be (V, 3) = ({V}, 3), got {tuple(self.vertex_colors.shape)}")
        if self.uvs is not None:
            self.uvs = torch.as_tensor(self.uvs, dtype=torch.float32)
        if self.face_uvs is not None:
            self.face_uvs = torch.as_tensor(self.face_uvs, dtype=torch.long)
            if tuple(self.face_uvs.shape) != tuple(self.faces.shape):
                raise ValueError(f"{self.name}: face_uvs must be (F, 3) like faces, got {tuple(self.face_uvs.shape)}")
        if self.texture is not None:
            self.texture = torch.as_tensor(self.texture, dtype=torch.float32)
        if self.parts is not None:
            self.parts = torch.as_tensor(self.parts, dtype=torch.long)
            if tuple(self.parts.shape) != (V,):
                raise ValueError(f"{self.name}: parts must be (V,) = ({V},), got {tuple(self.parts.shape)}")

    @property
    def has_texture(self) -> bool:
        """True when a texture image and texture coordinates are present."""
        return self.texture is not None and self.uvs is not None


@dataclass
class MeshRaster:
    """Which triangle covers each pixel centre of one camera.

    Attributes:
        face_id: (H, W) int64 triangle index, -1 where no triangle covers the pixel centre.
        bary: (H, W, 3) float32 perspective-correct barycentric coordinates (0 where empty).
        depth: (H, W) float32 camera depth z in metres (inf where empty).
    """

    face_id: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor

    @property
    def coverage(self) -> torch.Tensor:
        """(H, W) bool, pixels covered by the mesh."""
        return self.face_id >= 0


@dataclass
class MeshRender:
    """What :func:`render_mesh` returns (channel-last, like :class:`humansplat.render.RenderOutput`).

    Attributes:
        rgb: (C, H, W, 3) float32 in [0, 1], composited over the background.
        alpha: (C, H, W) float32 in [0, 1], share of covered sub-samples.
        depth: (C, H, W) float32 camera depth in metres, mean over covered sub-samples; 0 where empty.
        normal: (C, H, W, 3) float32 unit world-frame normals (interpolated vertex normals, facing
            the camera); 0 where empty.
        parts: (C, P, H, W) float32 soft masks of the semantic parts (z-buffered; they sum to alpha),
            or None when the mesh has no parts.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor
    parts: torch.Tensor | None = None


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(F, 3) unnormalised face normals ``(v1 - v0) x (v2 - v0)`` (length = twice the area)."""
    v = torch.as_tensor(vertices)
    f = torch.as_tensor(faces, dtype=torch.long)
    return torch.linalg.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]], dim=-1)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(V, 3) unit area-weighted vertex normals (outward for counter-clockwise faces)."""
    v = torch.as_tensor(vertices, dtype=torch.float32)
    f = torch.as_tensor(faces, dtype=torch.long)
    fn = face_normals(v, f)
    vn = torch.zeros_like(v)
    for k in range(3):
        vn.index_add_(0, f[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)


def rasterize_mesh(vertices: torch.Tensor, faces: torch.Tensor, camera: Cameras, near: float = 0.01) -> MeshRaster:
    """Z-buffer rasterisation of a triangle mesh into one camera (pixel centres sampled).

    Args:
        vertices: (V, 3) world points (metres).
        faces: (F, 3) int triangle indices.
        camera: one camera (its first view is used); the image is ``camera.height x camera.width``.
        near: triangles with a vertex closer than ``near`` metres are dropped.

    Returns:
        :class:`MeshRaster` (CPU tensors).
    """
    from ..prior.overlay import rasterize_mesh as _numpy_rasterize

    r = _numpy_rasterize(vertices, faces, camera, near=near)
    return MeshRaster(torch.from_numpy(r.face_id), torch.from_numpy(r.bary), torch.from_numpy(r.depth))


def interpolate(raster: MeshRaster, faces: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Attributes at each pixel: barycentric blend of the covering triangle's corners.

    Args:
        raster: :func:`rasterize_mesh` output.
        faces: (F, 3) the faces that were rasterised.
        values: (V, D) per-vertex values, or (F, 3, D) per-corner values.

    Returns:
        (H, W, D) float32, 0 where no triangle covers the pixel.
    """
    values = torch.as_tensor(values, dtype=torch.float32)
    faces = torch.as_tensor(faces, dtype=torch.long)
    cov = raster.coverage
    fid = raster.face_id[cov]
    corners = values[faces[fid]] if values.ndim == 2 else values[fid]  # (n, 3, D)
    out = torch.zeros(raster.face_id.shape + (values.shape[-1],), dtype=torch.float32)
    out[cov] = (corners * raster.bary[cov][..., None]).sum(1)
    return out


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear look-up of ``texture`` (Ht, Wt, D) at ``uv`` (..., 2) (UV convention: module docstring).

    Texel (row i, column j) has its centre at ``u = (j + 0.5) / Wt``, ``v = 1 - (i + 0.5) / Ht``;
    coordinates outside [0, 1] wrap around (repeat), as OBJ and glTF viewers do by default.

    Returns:
        (..., D) float32.
    """
    tex = torch.as_tensor(texture, dtype=torch.float32)
    Ht, Wt, D = tex.shape
    uv = torch.as_tensor(uv, dtype=torch.float32)
    lead = uv.shape[:-1]
    uv = uv.reshape(-1, 2)
    x = torch.remainder(uv[:, 0], 1.0) * Wt - 0.5
    y = (1.0 - torch.remainder(uv[:, 1], 1.0)) * Ht - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    xs = (torch.stack([x0, x0 + 1]) % Wt)
    ys = (torch.stack([y0, y0 + 1]) % Ht)
    flat = tex.reshape(-1, D)
    c00 = flat[ys[0] * Wt + xs[0]]
    c01 = flat[ys[0] * Wt + xs[1]]
    c10 = flat[ys[1] * Wt + xs[0]]
    c11 = flat[ys[1] * Wt + xs[1]]
    out = (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy
    return out.reshape(*lead, D)


def render_mesh(
    mesh: TexturedMesh,
    cameras: Cameras,
    *,
    supersample: int = 2,
    background: float | tuple[float, float, float] = 1.0,
    ambient: float = 1.0,
    num_parts: int | None = None,
) -> MeshRender:
    """Render a coloured mesh into C views, ``supersample`` x ``supersample`` samples per pixel.

    Args:
        mesh: the mesh and its colours.
        cameras: C views sharing one image size H x W.
        supersample: samples per pixel side (soft, antialiased edges; 1 = pixel centres only).
        background: grey level or RGB in [0, 1] behind the mesh.
        ambient: 1 = flat albedo (the same colour from every view, like renders of scans with baked
            lighting); lower values add a head light (Lambert, two-sided), which changes with the view.
        num_parts: P for ``MeshRender.parts`` (default: :data:`PART_NAMES` length when the mesh has parts).

    Returns:
        :class:`MeshRender` on the CPU.
    """
    from ..prior.parts import PART_NAMES

    s = int(supersample)
    if s < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    H, W = cameras.height, cameras.width
    big = cameras.to("cpu").resize(W * s, H * s)
    verts, faces = mesh.vertices, mesh.faces
    vn = vertex_normals(verts, faces)
    P = (num_parts or len(PART_NAMES)) if mesh.parts is not None else 0
    bg = torch.as_tensor(background, dtype=torch.float32).expand(3)
    rgbs, alphas, depths, normals, parts = [], [], [], [], []
    for c in range(len(cameras)):
        r = rasterize_mesh(verts, faces, big[c])
        cov = r.coverage
        if mesh.has_texture:
            fuv = mesh.face_uvs if mesh.face_uvs is not None else faces
            uv = interpolate(r, faces, mesh.uvs[fuv])  # per-corner UVs (F, 3, 2)
            albedo = sample_texture(mesh.texture, uv)
        elif mesh.vertex_colors is not None:
            albedo = interpolate(r, faces, mesh.vertex_colors)
        else:
            albedo = torch.full(cov.shape + (3,), 0.5)
        n = torch.nn.functional.normalize(interpolate(r, faces, vn), dim=-1, eps=1e-12)
        pos = interpolate(r, faces, verts)
        view = torch.nn.functional.normalize(big.centers[c] - pos, dim=-1, eps=1e-12)
        cosine = (n * view).sum(-1)
        n = torch.where((cosine < 0)[..., None], -n, n)  # facing the camera
        shade = ambient + (1.0 - ambient) * cosine.abs()
        col = (albedo * shade[..., None]).clamp(0.0, 1.0)
        covf = cov.float()
        rgb = col * covf[..., None] + (1.0 - covf[..., None]) * bg
        depth = torch.where(cov, r.depth, torch.zeros(()))
        rgbs.append(rgb.reshape(H, s, W, s, 3).mean((1, 3)))  # [H s, W s, 3] -> [H, W, 3]
        a = covf.reshape(H, s, W, s).mean((1, 3))
        alphas.append(a)
        dsum = depth.reshape(H, s, W, s).sum((1, 3))
        cnt = covf.reshape(H, s, W, s).sum((1, 3))
        depths.append(torch.where(cnt > 0, dsum / cnt.clamp_min(1), torch.zeros(())))
        nsum = (n * covf[..., None]).reshape(H, s, W, s, 3).sum((1, 3))
        normals.append(torch.nn.functional.normalize(nsum, dim=-1, eps=1e-12))
        if P:
            labels = interpolate(r, faces, torch.nn.functional.one_hot(mesh.parts, P).float())
            # the part of the vertex with the largest weight: crisp labels inside a triangle
            hard = torch.nn.functional.one_hot(labels.argmax(-1), P).float() * covf[..., None]
            parts.append(hard.reshape(H, s, W, s, P).mean((1, 3)).permute(2, 0, 1))
    return MeshRender(
        rgb=torch.stack(rgbs),
        alpha=torch.stack(alphas),
        depth=torch.stack(depths),
        normal=torch.stack(normals),
        parts=torch.stack(parts) if P else None,
    )
