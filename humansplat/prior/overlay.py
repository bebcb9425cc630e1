"""Overlays of the structure prior for people: landmarks, the person mask and the fitted body's parts.

Every ``draw_*`` function returns a uint8 (S, S, 3) image the size of the crop. The mesh helpers
(:func:`rasterize_mesh`, :func:`shade_mesh`) are a small z-buffer rasteriser in NumPy, used by the
overlays and by :mod:`humansplat.prior.synthetic`. Pixel convention: :mod:`humansplat.cameras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..cameras import Cameras
from .parts import PART_COLORS, PART_NAMES

if TYPE_CHECKING:
    from .body_fit import BodyFit
    from .person import PersonCrop

__all__ = [
    "POSE_CONNECTIONS",
    "MeshRaster",
    "draw_body_parts",
    "draw_landmarks",
    "draw_mask",
    "part_color_table",
    "rasterize_mesh",
    "shade_mesh",
    "vertex_normals",
]

POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)
"""Skeleton edges between MediaPipe Pose landmarks (indices into the 33 points)."""


@dataclass
class MeshRaster:
    """Which triangle covers each pixel.

    Attributes:
        face_id: (H, W) int64 triangle index, -1 where no triangle covers the pixel centre.
        bary: (H, W, 3) float32 perspective-correct barycentric coordinates (0 where empty).
        depth: (H, W) float32 camera depth in metres (inf where empty).
    """

    face_id: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def coverage(self) -> np.ndarray:
        """(H, W) bool, pixels covered by the mesh."""
        return self.face_id >= 0


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def rasterize_mesh(
    vertices: torch.Tensor | np.ndarray,
    faces: torch.Tensor | np.ndarray,
    camera: Cameras,
    near: float = 0.01,
) -> MeshRaster:
    """Z-buffer rasterisation of a triangle mesh into one camera (pixel centres sampled).

    Args:
        vertices: (V, 3) world points (metres).
        faces: (F, 3) int triangle indices.
        camera: one camera (its first view is used); the image is ``camera.height x camera.width``.
        near: triangles with a vertex closer than ``near`` metres are dropped.

    Returns:
        :class:`MeshRaster`.
    """
    H, W = camera.height, camera.width
    verts = torch.as_tensor(_as_numpy(vertices), dtype=torch.float32)
    uv_t, z_t = camera[0].to("cpu").project(verts)
    uv = uv_t[0].numpy().astype(np.float64)
    z = z_t[0].numpy().astype(np.float64)
    tri = _as_numpy(faces).astype(np.int64)
    face_id = np.full(H * W, -1, dtype=np.int64)
    bary_out = np.zeros((H * W, 3), dtype=np.float32)
    depth_out = np.full(H * W, np.inf, dtype=np.float32)

    zt = z[tri]  # (F, 3)
    keep = (zt > near).all(axis=1)
    p = uv[tri]  # (F, 3, 2)
    # Pixel centres at +0.5: a triangle covers centres (j + 0.5, i + 0.5) inside it.
    lo = np.floor(p.min(axis=1) - 0.5).astype(np.int64) + 1  # first pixel index whose centre may be inside
    hi = np.floor(p.max(axis=1) - 0.5).astype(np.int64)  # last one
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [W - 1, H - 1])
    ext = hi - lo + 1  # (F, 2)
    area = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1])
    keep &= (ext > 0).all(axis=1) & (np.abs(area) > 1e-12)
    size = ext.max(axis=1)

    frag_pix, frag_face, frag_depth, frag_bary = [], [], [], []
    edges = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    prev = 0
    for s in edges:
        sel = np.nonzero(keep & (size > prev) & (size <= s))[0]
        prev = s
        if sel.size == 0:
            continue
        # Candidate pixels: an s x s block from each triangle's first pixel, in chunks to bound memory.
        off = np.stack(np.meshgrid(np.arange(s), np.arange(s), indexing="xy"), -1).reshape(-1, 2)  # (s*s, 2)
        chunk = max(1, 2_000_000 // (s * s))
        for start in range(0, sel.size, chunk):
            fs = sel[start : start + chunk]
            pix = lo[fs, None, :] + off[None]  # (n, s*s, 2) integer pixel (x, y)
            inb = (pix <= hi[fs, None, :]).all(-1)
            cx = pix[..., 0] + 0.5
            cy = pix[..., 1] + 0.5
            a, b, c = p[fs, 0], p[fs, 1], p[fs, 2]  # (n, 2)
            ar = area[fs][:, None]
            w0 = ((b[:, None, 0] - cx) * (c[:, None, 1] - cy) - (c[:, None, 0] - cx) * (b[:, None, 1] - cy)) / ar
            w1 = ((c[:, None, 0] - cx) * (a[:, None, 1] - cy) - (a[:, None, 0] - cx) * (c[:, None, 1] - cy)) / ar
            w2 = 1.0 - w0 - w1
            inside = inb & (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
            if not inside.any():
                continue
            n_idx, k_idx = np.nonzero(inside)
            f = fs[n_idx]
            ws = np.stack([w0[n_idx, k_idx], w1[n_idx, k_idx], w2[n_idx, k_idx]], -1)
            inv_z = ws / zt[f]  # perspective-correct interpolation of 1/z
            denom = inv_z.sum(-1)
            frag_bary.append((inv_z / denom[:, None]).astype(np.float32))
            frag_depth.append((1.0 / denom).astype(np.float32))
            frag_face.append(f)
            frag_pix.append(pix[n_idx, k_idx, 1] * W + pix[n_idx, k_idx, 0])
    if frag_pix:
        pix_all = np.concatenate(frag_pix)
        depth_all = np.concatenate(frag_depth)
        order = np.lexsort((depth_all, pix_all))
        pix_sorted = pix_all[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = pix_sorted[1:] != pix_sorted[:-1]
        win = order[first]
        face_id[pix_all[win]] = np.concatenate(frag_face)[win]
        bary_out[pix_all[win]] = np.concatenate(frag_bary)[win]
        depth_out[pix_all[win]] = depth_all[win]
    return MeshRaster(face_id.reshape(H, W), bary_out.reshape(H, W, 3), depth_out.reshape(H, W))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals (outward for counter-clockwise faces seen from outside)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def shade_mesh(
    raster: MeshRaster,
    vertices: torch.Tensor | np.ndarray,
    faces: torch.Tensor | np.ndarray,
    vertex_colors: np.ndarray,
    camera: Cameras,
    ambient: float = 0.35,
) -> np.ndarray:
    """Lambert shading with a head light (from the camera) of a rasterised mesh.

    Args:
        raster: :func:`rasterize_mesh` output for this mesh and camera.
        vertices: (V, 3) world points; faces: (F, 3).
        vertex_colors: (V, 3) float albedo in [0, 1].
        camera: the camera of ``raster``.
        ambient: share of light that does not depend on the normal.

    Returns:
        (H, W, 3) float32 shaded colour in [0, 1] (0 where the mesh does not cover the pixel).
    """
    v = _as_numpy(vertices).astype(np.float64)
    f = _as_numpy(faces).astype(np.int64)
    normals = vertex_normals(v, f)
    cov = raster.coverage
    fid = raster.face_id[cov]
    w = raster.bary[cov].astype(np.float64)[..., None]  # (n, 3, 1)
    tri = f[fid]  # (n, 3)
    pos = (v[tri] * w).sum(1)
    nrm = (normals[tri] * w).sum(1)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    centre = camera.centers[0].detach().cpu().numpy().astype(np.float64)
    view = centre - pos
    view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
    lambert = np.abs((nrm * view).sum(1))  # two-sided: inner surfaces seen through holes stay lit
    col = (np.asarray(vertex_colors, dtype=np.float64)[tri] * w).sum(1)
    out = np.zeros(raster.face_id.shape + (3,), dtype=np.float32)
    out[cov] = (col * (ambient + (1.0 - ambient) * lambert)[:, None]).clip(0.0, 1.0)
    return out


def part_color_table() -> np.ndarray:
    """(len(PART_NAMES), 3) float colours in [0, 1] of the parts (from ``PART_COLORS``)."""
    return np.array([PART_COLORS[name] for name in PART_NAMES], dtype=np.float64) / 255.0


# ---------------------------------------------------------------------------------------------- drawings
_LEFT = (255, 140, 0)  # the subject's left side
_RIGHT = (0, 150, 255)  # the subject's right side
_CENTRE = (255, 255, 255)
_LEFT_IDS = {1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
_HAND_CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)


def _landmark_color(i: int) -> tuple[int, int, int]:
    if i in _LEFT_IDS:
        return _LEFT
    if i == 0:
        return _CENTRE
    return _RIGHT


def draw_landmarks(crop: PersonCrop, min_confidence: float = 0.2) -> np.ndarray:
    """The crop with its landmarks: the 33-point skeleton (subject's left orange, right blue;
    landmarks below ``min_confidence`` are left out), face mesh points and hand skeletons when present.

    Returns:
        (S, S, 3) uint8.
    """
    from PIL import Image, ImageDraw

    S = crop.size
    ss = 2  # drawn at twice the size, then downsampled: smooth lines
    scale = S / 512.0
    base = Image.fromarray(np.ascontiguousarray(crop.rgb)).resize((S * ss, S * ss), Image.BILINEAR)
    # Dim the photo a little so the skeleton stands out.
    base = Image.blend(base, Image.new("RGB", base.size, (0, 0, 0)), 0.25)
    draw = ImageDraw.Draw(base)
    lm = crop.landmarks
    pts = np.asarray(lm.body, dtype=np.float64) * ss
    ok = np.asarray(lm.body_confidence) >= min_confidence
    width = max(2, round(3 * scale * ss))
    radius = max(2.0, 4.5 * scale * ss)
    if lm.face is not None:  # faint dots: the face stays visible under the 468 points
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        fdraw = ImageDraw.Draw(layer)
        r = max(1.0, 0.8 * scale * ss)
        for u, v in np.asarray(lm.face, dtype=np.float64) * ss:
            fdraw.ellipse([u - r, v - r, u + r, v + r], fill=(170, 255, 170, 110))
        base = Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB")
        draw = ImageDraw.Draw(base)
    for hand, color in ((lm.left_hand, _LEFT), (lm.right_hand, _RIGHT)):
        if hand is None:
            continue
        hp = np.asarray(hand, dtype=np.float64) * ss
        for a, b in _HAND_CONNECTIONS:
            draw.line([tuple(hp[a]), tuple(hp[b])], fill=color, width=max(1, width // 2))
    for a, b in POSE_CONNECTIONS:
        if ok[a] and ok[b]:
            ca, cb = _landmark_color(a), _landmark_color(b)
            color = ca if ca == cb else _CENTRE  # edges across the body (shoulders, hips) are white
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=(20, 20, 20), width=width + 2 * ss)
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=color, width=width)
    for i in np.nonzero(ok)[0]:
        u, v = pts[i]
        draw.ellipse([u - radius - ss, v - radius - ss, u + radius + ss, v + radius + ss], fill=(20, 20, 20))
        draw.ellipse([u - radius, v - radius, u + radius, v + radius], fill=_landmark_color(int(i)))
    return np.asarray(base.resize((S, S), Image.LANCZOS), dtype=np.uint8)


def _contour(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of ``mask`` (bool) next to a pixel outside it."""
    pad = np.pad(mask, 1, mode="constant")
    inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~inner


def draw_mask(crop: PersonCrop, color: tuple[int, int, int] = (0, 200, 255)) -> np.ndarray:
    """The crop with the person mask: background darkened, the person tinted with ``color`` in
    proportion to the mask, and the mask's outline (mask > 0.5) drawn.

    Returns:
        (S, S, 3) uint8.
    """
    rgb = crop.rgb.astype(np.float32)
    m = np.clip(np.asarray(crop.mask, dtype=np.float32), 0.0, 1.0)[..., None]
    tint = np.asarray(color, dtype=np.float32)
    person = 0.7 * rgb + 0.3 * tint
    background = 0.35 * rgb
    out = m * person + (1.0 - m) * background
    edge = _contour(crop.mask > 0.5)
    out[edge] = tint
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_body_parts(fit: BodyFit, alpha: float = 0.6, outline: bool = True) -> np.ndarray:
    """The fitted body, its parts coloured (``PART_COLORS``) and shaded, blended over the photo.

    Args:
        fit: a :class:`~humansplat.prior.body_fit.BodyFit` (its crop's photo and camera are used).
        alpha: opacity of the body over the photo, in [0, 1].
        outline: draw the body's silhouette outline in white.

    Returns:
        (S, S, 3) uint8.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    crop = fit.crop
    cam = fit.camera
    raster = rasterize_mesh(fit.vertices, fit.faces, cam)
    albedo = part_color_table()[_as_numpy(fit.parts).astype(np.int64)]
    shaded = shade_mesh(raster, fit.vertices, fit.faces, albedo, cam, ambient=0.45) * 255.0
    cov = raster.coverage[..., None].astype(np.float32)
    photo = crop.rgb.astype(np.float32) if crop is not None else np.full(shaded.shape, 255.0, np.float32)
    out = (1.0 - alpha * cov) * photo + alpha * cov * shaded
    if outline:
        out[_contour(raster.coverage)] = 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
