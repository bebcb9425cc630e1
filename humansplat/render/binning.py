"""Tile binning: which screen-space Gaussians touch which image tiles, front to back.

Like gsplat's ``isect_tiles`` + ``isect_offset_encode``: the image of each camera is cut into
``tile_size`` x ``tile_size`` tiles; a projected Gaussian intersects every tile touched by its
footprint bounding box (:attr:`Projected.radii`); each tile's list is sorted by camera depth.
One stable sort over all (camera, tile, Gaussian) pairs, no Python loop over tiles or cameras.

Shapes: C cameras, N Gaussians per camera, G = C * N flattened (camera-major) Gaussians,
P intersecting pairs, T = C * tiles_y * tiles_x tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["TileBins", "bin_gaussians"]


@dataclass
class TileBins:
    """Front-to-back Gaussian lists of every tile of C images.

    Attributes:
        flat_ids: (P,) int64 index into the flattened (C * N) Gaussians, grouped by tile (in tile
            order), depth-sorted (near first) inside each tile.
        offsets: (T + 1,) int64, tile ``t``'s list is ``flat_ids[offsets[t]:offsets[t + 1]]``.
            Tiles are numbered camera-major, then row-major: ``t = (c * tiles_y + ty) * tiles_x + tx``.
        tile_size: tile edge in pixels.
        tiles_x, tiles_y: tiles per image row and column (``ceil(W / tile_size)``, ``ceil(H / tile_size)``).
        n_cameras: C.
    """

    flat_ids: torch.Tensor
    offsets: torch.Tensor
    tile_size: int
    tiles_x: int
    tiles_y: int
    n_cameras: int

    @property
    def n_tiles(self) -> int:
        return self.n_cameras * self.tiles_y * self.tiles_x

    @property
    def counts(self) -> torch.Tensor:
        """(T,) int64 number of Gaussians in each tile's list."""
        return self.offsets[1:] - self.offsets[:-1]


def _depth_order(depths: torch.Tensor) -> torch.Tensor:
    """Indices that sort ``depths`` (M,) near first, stable. Non-negative IEEE floats order like
    their bit patterns read as integers, and a stable integer sort is several times faster on a
    CPU than a float argsort (33 vs 89 ms for 632k float32)."""
    as_int = {torch.float32: torch.int32, torch.float64: torch.int64}.get(depths.dtype)
    if as_int is None or depths.numel() == 0 or bool((depths < 0).any()):
        return torch.sort(depths, stable=True).indices
    return torch.sort(depths.contiguous().view(as_int), stable=True).indices


@torch.no_grad()
def bin_gaussians(
    means2d: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    tile_size: int = 16,
) -> TileBins:
    """Intersect projected Gaussians with image tiles and sort each tile's list by depth.

    Args:
        means2d: (C, N, 2) projected means in pixels.
        radii: (C, N, 2) int footprint half extents in pixels; Gaussians with radius 0 are skipped.
        depths: (C, N) camera depths (sort key, near first).
        width, height: image size in pixels.
        tile_size: tile edge in pixels.

    Returns:
        :class:`TileBins` on the inputs' device.
    """
    if tile_size <= 0:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    C, N = depths.shape
    device = depths.device
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    n_tiles = C * tiles_x * tiles_y

    flat = torch.nonzero(radii[..., 0].reshape(-1) > 0).squeeze(1)  # (M,) visible, index into C * N
    cam = torch.div(flat, N, rounding_mode="floor")
    mean = means2d.reshape(-1, 2).index_select(0, flat)  # (M, 2)
    rad = radii.reshape(-1, 2).index_select(0, flat).to(mean.dtype)  # (M, 2)
    lo = torch.floor((mean - rad) / tile_size)
    hi = torch.ceil((mean + rad) / tile_size)
    tx0 = lo[:, 0].clamp(0, tiles_x).long()
    tx1 = hi[:, 0].clamp(0, tiles_x).long()
    ty0 = lo[:, 1].clamp(0, tiles_y).long()
    ty1 = hi[:, 1].clamp(0, tiles_y).long()
    span_x = (tx1 - tx0).int()
    counts = span_x * (ty1 - ty0).int()  # (M,) tiles touched by each Gaussian
    first_tile = ((cam * tiles_y + ty0) * tiles_x + tx0).int()  # top-left tile of each footprint

    # Expand in depth order, then one stable sort by tile keeps each tile's list depth-sorted.
    # Pair arrays are int32 (half the memory traffic of int64).
    order = _depth_order(depths.reshape(-1).index_select(0, flat))
    flat, first_tile, span_x, counts = (x.index_select(0, order) for x in (flat, first_tile, span_x, counts))
    total = int(counts.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return TileBins(empty, torch.zeros(n_tiles + 1, dtype=torch.long, device=device), tile_size,
                        tiles_x, tiles_y, C)
    src = torch.repeat_interleave(counts)  # (P,) index into the depth-sorted visible Gaussians
    starts = torch.cumsum(counts, 0, dtype=torch.int32) - counts
    local = torch.arange(total, device=device, dtype=torch.int32) - starts.index_select(0, src)
    sx = span_x.index_select(0, src)
    row = torch.div(local, sx, rounding_mode="floor")
    # tile id = first tile + row * tiles_x + column, column = local - row * sx
    tile_ids = first_tile.index_select(0, src) + local + row * (tiles_x - sx)
    tile_ids, perm = torch.sort(tile_ids, stable=True)
    flat_ids = flat.index_select(0, src.index_select(0, perm))
    per_tile = torch.bincount(tile_ids, minlength=n_tiles)
    offsets = torch.zeros(n_tiles + 1, dtype=torch.long, device=device)
    torch.cumsum(per_tile, 0, out=offsets[1:])
    return TileBins(flat_ids, offsets, tile_size, tiles_x, tiles_y, C)
