"""Compiled (numba) twin of :func:`humansplat.render.binning.bin_gaussians`: the same tile lists.

No general sort: a stable radix sort puts the visible Gaussians in depth order (near first, ties in
index order, as the PyTorch binning's stable sort), then a counting sort by tile (count per tile,
prefix sum, scatter in depth order) keeps every tile's list depth-sorted. The counting and the
scattering split the tile rows into bands, one per share of the threads (:mod:`.kernels`). The tile rectangle of a
footprint is computed with the PyTorch binning's float arithmetic, so the lists are identical.

Shapes: C cameras, N Gaussians per camera, M visible, P intersecting pairs, T tiles.
"""

from __future__ import annotations

import numpy as np
import torch

from .binning import TileBins
from .kernels import jit, run_split, workers

__all__ = ["bin_compiled"]


def _radix_order(keys, digits):  # pragma: no cover - compiled
    """Stable ascending order (M,) of unsigned integer ``keys`` (M,): LSD radix sort, 8 bits a pass,
    a pass skipped when all keys share its digit. ``digits`` (passes + 1,) in the keys' dtype: the
    shift of every pass, then the digit mask 255."""
    m = keys.shape[0]
    order = np.arange(m)
    spare = np.empty(m, np.int64)
    cur = keys.copy()
    cur_spare = np.empty_like(keys)
    mask = digits[digits.shape[0] - 1]
    for p in range(digits.shape[0] - 1):
        shift = digits[p]
        counts = np.zeros(257, np.int64)
        for i in range(m):
            counts[np.int64((cur[i] >> shift) & mask) + 1] += 1
        if counts.max() == m:
            continue
        for d in range(256):
            counts[d + 1] += counts[d]
        for i in range(m):
            d = np.int64((cur[i] >> shift) & mask)
            pos = counts[d]
            counts[d] = pos + 1
            spare[pos] = order[i]
            cur_spare[pos] = cur[i]
        order, spare = spare, order
        cur, cur_spare = cur_spare, cur
    return order


def _depth_order(radii, keys, digits):  # pragma: no cover - compiled
    """Ids (M,) of the visible Gaussians (``radii`` (G, 2) > 0) into the flattened (G, ...) ones, in
    depth order: ``keys`` (G,) are the depths as order-preserving unsigned integers (``digits``: see
    :func:`_radix_order`)."""
    m = 0
    for g in range(radii.shape[0]):
        if radii[g, 0] > 0:
            m += 1
    visible = np.empty(m, np.int64)
    m = 0
    for g in range(radii.shape[0]):
        if radii[g, 0] > 0:
            visible[m] = g
            m += 1
    return visible[_radix_order(keys[visible], digits)]


def _rects(means2d, radii, ids, k, tiles_y, n_per_camera, rects, share, shares):  # pragma: no cover - compiled
    """Tile rectangles (M, 4) of the Gaussians ``ids`` (this share of them): first and end column, first
    and end row, rows numbered across the images (``camera * tiles_y + row``). ``radii`` (G, 2) in the
    means' dtype, ``k`` = (0, tiles_x, tiles_y, tile edge) in the means' dtype."""
    zero, kx, ky, tile = k[0], k[1], k[2], k[3]
    m = ids.shape[0]
    for v in range(share * m // shares, (share + 1) * m // shares):
        g = ids[v]
        mx, my, rx, ry = means2d[g, 0], means2d[g, 1], radii[g, 0], radii[g, 1]
        base = (g // n_per_camera) * tiles_y
        rects[v, 0] = int(min(max(np.floor((mx - rx) / tile), zero), kx))
        rects[v, 1] = int(min(max(np.ceil((mx + rx) / tile), zero), kx))
        rects[v, 2] = base + int(min(max(np.floor((my - ry) / tile), zero), ky))
        rects[v, 3] = base + int(min(max(np.ceil((my + ry) / tile), zero), ky))


def _band(n_rows, share, shares):  # pragma: no cover - compiled
    """The rows [first, end) of tiles (numbered across the images) that share ``share`` of ``shares`` bins."""
    return share * n_rows // shares, (share + 1) * n_rows // shares


def _count(rects, tiles_x, n_rows, counts, share, shares):  # pragma: no cover - compiled
    """counts[t + 1] = pairs of tile t, for the tiles of this share's band of rows."""
    first, end = _band(n_rows, share, shares)
    for v in range(rects.shape[0]):
        for row in range(max(rects[v, 2], first), min(rects[v, 3], end)):
            for tx in range(rects[v, 0], rects[v, 1]):
                counts[row * tiles_x + tx + 1] += 1


def _scatter(ids, rects, tiles_x, n_rows, cursor, flat_ids, share, shares):  # pragma: no cover - compiled
    """Append every Gaussian, in depth order, to the lists of its tiles in this share's band of rows
    (``cursor``: each tile's next free slot)."""
    first, end = _band(n_rows, share, shares)
    for v in range(rects.shape[0]):
        for row in range(max(rects[v, 2], first), min(rects[v, 3], end)):
            for tx in range(rects[v, 0], rects[v, 1]):
                t = row * tiles_x + tx
                flat_ids[cursor[t]] = ids[v]
                cursor[t] += 1


_radix_order = jit(_radix_order)
_band = jit(_band)
_DEPTH_ORDER = jit(_depth_order)
_RECTS = jit(_rects)
_COUNT = jit(_count)
_SCATTER = jit(_scatter)
_SHARES_PER_THREAD = 2
"""Bands of tile rows per thread in the counting and the scattering (rows differ in cost)."""
_MIN_SPLIT = 10_000
"""Fewer visible Gaussians than this are binned on one thread (thread hand-offs would cost more)."""


def _sortable(depths: np.ndarray) -> np.ndarray:
    """Depths (G,) float32/float64 -> unsigned integers in the same order (IEEE bits, sign flipped)."""
    as_uint = np.uint32 if depths.dtype == np.float32 else np.uint64
    bits = depths.view(as_uint)
    sign = as_uint(1) << as_uint(8 * depths.itemsize - 1)
    return np.where(bits & sign, ~bits, bits | sign)


@torch.no_grad()
def bin_compiled(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, width: int, height: int,
                 tile_size: int = 16) -> TileBins:
    """:func:`~humansplat.render.binning.bin_gaussians` compiled (CPU tensors): the same arguments and
    the same :class:`~humansplat.render.binning.TileBins`.

    Raises:
        RuntimeError: numba is not installed.
        ValueError: ``tile_size`` is not positive.
    """
    if _DEPTH_ORDER is None:
        raise RuntimeError("the compiled binning needs numba (pip install numba)")
    if tile_size <= 0:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    C = depths.shape[0]
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    dtype = means2d.dtype if means2d.dtype in (torch.float32, torch.float64) else torch.float32
    mean = np.ascontiguousarray(means2d.detach().cpu().reshape(-1, 2).to(dtype).numpy())
    keys = _sortable(np.ascontiguousarray(depths.detach().cpu().reshape(-1).to(dtype).numpy()))
    digits = np.array([*range(0, 8 * keys.itemsize, 8), 255], keys.dtype)
    radii_f = np.ascontiguousarray(radii.cpu().reshape(-1, 2).to(dtype).numpy())
    ids = _DEPTH_ORDER(radii_f, keys, digits)
    rects = np.empty((len(ids), 4), np.int64)
    n_rows = C * tiles_y
    shares = min(n_rows, workers() * _SHARES_PER_THREAD) if len(ids) >= _MIN_SPLIT else 1
    k = np.array([0, tiles_x, tiles_y, tile_size], mean.dtype)
    run_split(_RECTS, (mean, radii_f, ids, k, tiles_y, len(keys) // max(C, 1), rects), shares)
    offsets = np.zeros(C * tiles_y * tiles_x + 1, np.int64)
    run_split(_COUNT, (rects, tiles_x, n_rows, offsets), shares)
    np.cumsum(offsets, out=offsets)
    flat_ids = np.empty(int(offsets[-1]), np.int64)
    run_split(_SCATTER, (ids, rects, tiles_x, n_rows, offsets[:-1].copy(), flat_ids), shares)
    return TileBins(torch.from_numpy(flat_ids), torch.from_numpy(offsets), tile_size, tiles_x, tiles_y, C)
