"""Compiled CPU compositing (numba): the tiled rasteriser's forward pass, tiles shared by threads.

The same image formation as :func:`humansplat.render.rasterize.rasterize_tiles` (gsplat's): per
pixel centre, ``alpha = min(0.999, o * exp(-power))`` over the tile's depth-sorted list, alphas
``<= 1/255`` skipped, compositing stopped before the transmittance would fall to ``<= 1e-4``. What
makes it fast on a CPU is what the batched PyTorch version cannot do:

* each Gaussian visits only the pixels of its tile inside the bounding box of the ellipse where its
  alpha can exceed 1/255 (``power < ln(255 o)``), and evaluates the exponential only inside the
  ellipse;
* each pixel stops on its own when it is opaque; each row keeps the column span of its pixels still
  compositing (it shrinks from both ends as they stop), the tile the span of its rows still
  compositing, and the tile stops when none is left;
* the kernel releases the GIL and Python threads share the tiles (:mod:`.kernels`), so no numba
  threading layer is involved and concurrent renders (the app's parallel requests) are safe.

Forward only (no gradient): used when nothing needs one (views, turntables, quality checks); the
PyTorch rasteriser keeps the differentiable path. Arithmetic is in the inputs' dtype (float32 or
float64; the tests hold float64 to the dense reference at 1e-10). The kernel is compiled on first
use (a few seconds) and cached on disk by numba.

Shapes: G screen-space Gaussians, D value channels, T tiles, S = tile_size^2 pixels per tile.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .binning import TileBins
from .formation import ALPHA_MAX, ALPHA_MIN, T_MIN
from .kernels import compiled_available, jit, run_split, workers

__all__ = ["compiled_available", "composite_images_compiled"]


def _composite(flat_ids, offsets, means2d, conics, opacities, values, centres, k, tile_size, tiles_x, tiles_y, out,
               background, depth_out, alpha_out, share, shares):  # pragma: no cover - compiled
    """Fill ``out`` (C, H, W, D+1): per pixel, sum of w_k values_k and, last, sum of w_k (tile pixels
    outside the H x W image are dropped); this call does the blocks of :data:`_BLOCK` tiles numbered
    ``share`` modulo ``shares``.

    With a ``background`` of 3 values (D = 4: colour and depth), the pixels are finished instead:
    ``out`` (C, H, W, 3) gets ``colour + (1 - alpha) background``, ``depth_out`` (C, H, W, 1) the
    depth divided by alpha (0 where alpha is 0) and ``alpha_out`` (C, H, W, 1) alpha; else
    ``background`` is empty and the two others unused.

    Float arrays share one dtype (float32 or float64) and every constant comes from ``k`` (see
    :func:`composite_images_compiled`) or ``centres`` (pixel centres ``i + 0.5``), so the arithmetic
    stays in that dtype.
    """
    half, one, two, alpha_max, alpha_min, t_min, widen, slack = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    zero = k[1] - k[1]
    n_tiles = offsets.shape[0] - 1
    n_values = values.shape[1]
    per_image = tiles_x * tiles_y
    S = tile_size * tile_size
    finish = background.shape[0] == 3  # then every pixel is written, empty tiles included
    for t in range(n_tiles):
        if (t // _BLOCK) % shares != share:
            continue
        start = offsets[t]
        end = offsets[t + 1]
        if start == end and not finish:  # out is zeros already
            continue
        local = t % per_image
        x0 = (local % tiles_x) * tile_size
        y0 = (local // tiles_x) * tile_size
        trans = np.ones(S, out.dtype)  # 0 once a pixel has stopped
        acc = np.zeros((S, n_values + 1), out.dtype)
        # live pixels of row j lie in columns [lo[j], hi[j]); live rows in [row_lo, row_hi)
        lo = np.zeros(tile_size, np.int64)
        hi = np.full(tile_size, tile_size)
        row_lo, row_hi = 0, tile_size
        for q in range(start, end):
            g = flat_ids[q]
            o = opacities[g]
            if not min(o, alpha_max) > alpha_min:  # its alpha never exceeds 1/255 (power >= 0)
                continue
            mx = means2d[g, 0]
            my = means2d[g, 1]
            a = conics[g, 0]
            b = conics[g, 1]
            c = conics[g, 2]
            # tile-local rows [j0, j1) and columns [b0, b1) of the bounding box of the ellipse
            # {power < ln(255 o)} (slightly widened: the alpha test decides)
            j0, j1 = row_lo, row_hi
            b0, b1 = 0, tile_size
            ha = half * a
            if n_values == 4:  # the renderer's colour + depth: kept in registers
                v0, v1, v2, v3 = values[g, 0], values[g, 1], values[g, 2], values[g, 3]
            else:
                v0 = v1 = v2 = v3 = zero
            det = a * c - b * b
            reach = math.log(o / alpha_min)
            if det > zero and a > zero and c > zero and math.isfinite(det):
                ey = math.sqrt(two * reach * a / det) * widen + slack
                j0 = max(j0, math.ceil(my - ey - half) - y0)
                j1 = min(j1, math.floor(my + ey - half) + 1 - y0)
                ex = math.sqrt(two * reach * c / det) * widen + slack
                b0 = max(b0, math.ceil(mx - ex - half) - x0)
                b1 = min(b1, math.floor(mx + ex - half) + 1 - x0)
            for j in range(j0, j1):
                i0 = max(lo[j], b0)
                i1 = min(hi[j], b1)
                dy = centres[y0 + j] - my
                bdy = b * dy
                cdy = half * c * dy * dy
                for i in range(i0, i1):
                    s = j * tile_size + i
                    t_now = trans[s]
                    if t_now == zero:
                        continue
                    dx = centres[x0 + i] - mx
                    power = dx * (ha * dx + bdy) + cdy  # 0.5 (a dx^2 + c dy^2) + b dx dy
                    if power > reach + slack:  # alpha <= 1/255 without the exp
                        continue
                    alpha = min(o * math.exp(-power), alpha_max)
                    if not alpha > alpha_min:
                        continue
                    t_next = t_now * (one - alpha)
                    if not t_next > t_min:  # this pixel stops: shrink its row's live span
                        trans[s] = zero
                        while lo[j] < hi[j] and trans[j * tile_size + lo[j]] == zero:
                            lo[j] += 1
                        while hi[j] > lo[j] and trans[j * tile_size + hi[j] - 1] == zero:
                            hi[j] -= 1
                        continue
                    w = alpha * t_now
                    if n_values == 4:
                        acc[s, 0] += w * v0
                        acc[s, 1] += w * v1
                        acc[s, 2] += w * v2
                        acc[s, 3] += w * v3
                    else:
                        for d in range(n_values):
                            acc[s, d] += w * values[g, d]
                    acc[s, n_values] += w
                    trans[s] = t_next
            while row_lo < row_hi and lo[row_lo] >= hi[row_lo]:
                row_lo += 1
            while row_hi > row_lo and lo[row_hi - 1] >= hi[row_hi - 1]:
                row_hi -= 1
            if row_lo == row_hi:
                break
        cam = t // per_image
        for j in range(min(tile_size, out.shape[1] - y0)):
            for i in range(min(tile_size, out.shape[2] - x0)):
                s = j * tile_size + i
                if finish:
                    alpha = acc[s, 4]
                    for d in range(3):
                        out[cam, y0 + j, x0 + i, d] = acc[s, d] + (one - alpha) * background[d]
                    depth_out[cam, y0 + j, x0 + i, 0] = acc[s, 3] / alpha if alpha > zero else zero
                    alpha_out[cam, y0 + j, x0 + i, 0] = alpha
                else:
                    for d in range(n_values + 1):
                        out[cam, y0 + j, x0 + i, d] = acc[s, d]


_BLOCK = 4
"""Tiles are dealt to the shares in blocks of this many (neighbouring tiles cost alike)."""
_SHARES_PER_THREAD = 4
"""Shares of the tiles per thread: a thread that finishes early takes another (uneven tiles balance)."""
_KERNEL = jit(_composite, fastmath={"contract", "afn", "arcp"})


def composite_images_compiled(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
    values: torch.Tensor,
    bins: TileBins,
    width: int,
    height: int,
    background: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward-only compositing of C images (CPU tensors), what
    :func:`~humansplat.render.rasterize.rasterize_tiles` composites, laid out as images; with a
    ``background`` the finished images (as the renderer returns them), made in the same pass.

    Args:
        means2d: (G, 2) pixel coordinates (pixel centres at +0.5).
        conics: (G, 3) inverse 2D covariances (a, b, c).
        opacities: (G,) in (0, 1).
        values: (G, D) values to composite.
        bins: tile lists (:func:`~humansplat.render.binning.bin_gaussians`).
        width, height: image size in pixels (at most the tiles' extent).
        background: None, or (3,) colour composited under the image; then ``values`` must be (G, 4),
            colour and depth.

    Returns:
        (C, H, W, D + 1) in the inputs' dtype: ``sum_k w_k values_k`` per pixel and, last,
        ``alpha = sum_k w_k`` (no gradient). With a ``background``: (rgb, alpha, depth) of shapes
        (C, H, W, 3), (C, H, W, 1), (C, H, W, 1): ``rgb = sum_k w_k colour_k + (1 - alpha) background``,
        ``depth = sum_k w_k depth_k / alpha`` (0 where alpha is 0).
    """
    if _KERNEL is None:
        raise RuntimeError("the compiled rasteriser needs numba (pip install numba)")
    dtype = means2d.dtype if means2d.dtype in (torch.float32, torch.float64) else torch.float32
    np_dtype = np.float32 if dtype == torch.float32 else np.float64

    def arr(x: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(x.detach().cpu().to(dtype).numpy())

    C = bins.n_cameras
    if background is not None:
        if values.shape[1] != 4 or background.numel() != 3:
            raise ValueError(f"a background needs (G, 4) colour + depth values and 3 colours, got {tuple(values.shape)}")
        out = np.empty((C, height, width, 3), dtype=np_dtype)
        depth, alpha = np.empty((C, height, width, 1), dtype=np_dtype), np.empty((C, height, width, 1), dtype=np_dtype)
        bg = arr(background.reshape(3))
    else:
        out = np.zeros((C, height, width, values.shape[1] + 1), dtype=np_dtype)
        depth = alpha = np.zeros((0, 0, 0, 0), dtype=np_dtype)
        bg = np.zeros(0, dtype=np_dtype)
    side = max(bins.tiles_x, bins.tiles_y) * bins.tile_size
    centres = np.arange(side, dtype=np_dtype) + np_dtype(0.5)
    k = np.array([0.5, 1.0, 2.0, ALPHA_MAX, ALPHA_MIN, T_MIN, 1.0 + 1e-6, 1e-6], dtype=np_dtype)
    args = (
        np.ascontiguousarray(bins.flat_ids.cpu().numpy()),
        np.ascontiguousarray(bins.offsets.cpu().numpy()),
        arr(means2d), arr(conics), arr(opacities), arr(values), centres, k,
        bins.tile_size, bins.tiles_x, bins.tiles_y, out, bg, depth, alpha,
    )
    threads = workers()
    run_split(_KERNEL, args, 1 if threads == 1 else threads * _SHARES_PER_THREAD)  # shares write disjoint tiles
    if background is not None:
        return torch.from_numpy(out), torch.from_numpy(alpha), torch.from_numpy(depth)
    return torch.from_numpy(out)
