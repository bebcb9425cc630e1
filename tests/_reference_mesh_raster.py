"""The project's former NumPy z-buffer mesh rasteriser, kept only as a reference for the tests.

:func:`humansplat.render.mesh.rasterize_mesh` (torch) replaced it; ``tests/test_mesh_render.py``
checks that the two agree (coverage and depth) on a body mesh. Pixel convention:
:mod:`humansplat.cameras` (pixel centres at +0.5). Triangles with a vertex closer than ``near`` are
dropped here (the torch rasteriser clips them instead).
"""

from __future__ import annotations

import numpy as np
import torch

from humansplat.cameras import Cameras
from humansplat.render.mesh import MeshRaster


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def reference_rasterize_mesh(
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
        :class:`~humansplat.render.mesh.MeshRaster` (CPU tensors).
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
    face_id, bary_out, depth_out = face_id.reshape(H, W), bary_out.reshape(H, W, 3), depth_out.reshape(H, W)
    return MeshRaster(torch.from_numpy(face_id), torch.from_numpy(bary_out), torch.from_numpy(depth_out))
