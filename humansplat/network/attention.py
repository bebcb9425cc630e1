"""Attention for the latent reconstruction transformer.

Two kinds:

* **Self-attention** over all latent tokens of all views (the intra-attention blocks):
  :func:`dispatch_attention` runs PyTorch's ``scaled_dot_product_attention`` (flash / memory-efficient
  kernels on CUDA) or xformers' memory-efficient attention when it imports and the tensors are on CUDA.
* **Geometry-aware inter-attention with projection-aware windows**: latent tokens (queries) attend
  to the human prior tokens (keys / values), but a query of view ``v`` at patch cell ``(i, j)`` only
  sees the prior tokens whose projection into view ``v`` falls in the ``K_win x K_win`` window of
  patch cells centred on its own cell: ``|row - i| <= r`` and ``|col - j| <= r`` with
  ``K_win = 2 r + 1`` (odd; the research code planned ``K_win = 2`` but never applied the mask, a
  centred window needs an odd size). Prior tokens behind a camera (``key_valid`` false) are seen by
  no query of that view. **A query that sees no prior token gets a zero update** (not NaN, not a
  uniform average), so its residual stream passes unchanged.

  :func:`window_attention` is the fast implementation: the patch grid is cut into ``block x block``
  tiles; each prior token is binned into the (at most a few) tiles whose window-dilated region
  ``(block + 2 r)^2`` contains its cell; tiles without keys are skipped; the others, sorted by key
  count, are processed in chunks of at most ``chunk_slots`` gathered keys: each tile gathers its keys
  (padded to the chunk's fullest tile, with a key padding mask) and a batched SDPA applies the
  per-query window mask. Its cost is ``O(Q * (block + 2 r)^2 * keys per cell)``: it grows with the
  window and linearly with the number of queries, never with ``queries x all prior tokens``, and
  the memory of the gathered keys is bounded by ``chunk_slots``. (At 512 px, 5 x 32 x 32 queries and
  4,096 prior tokens on a human-sized body, it scores 1.1 M query-key pairs where the dense
  reference scores 21 M; ``benchmarks/network.py`` measures both.) :func:`_dense_window_attention`
  is the reference with the explicit (Q, K) mask; tests compare the two (values and gradients).

Shapes: B batch, V views, Hp x Wp patch cells per view, K prior tokens, nh heads, dh head width,
D = nh * dh model width. Patch cells are integer (row, col) on the view's token grid: a point at
continuous token-grid pixel ``(u, v)`` (pixel centres at +0.5, see :mod:`humansplat.cameras`) lies in
cell ``(floor(v), floor(u))``; cells outside the grid are allowed (they can still fall in the
windows of border queries).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AttentionBackend",
    "InterAttentionImpl",
    "xformers_available",
    "dispatch_attention",
    "points_to_cells",
    "window_mask",
    "window_attention",
    "_dense_window_attention",
    "SelfAttention",
    "GeometryAwareInterAttention",
]

AttentionBackend = Literal["auto", "sdpa", "xformers"]
"""``sdpa``: torch SDPA; ``xformers``: xformers memory-efficient attention (CUDA); ``auto``: xformers
when it imports and the tensors are on CUDA, else SDPA."""

InterAttentionImpl = Literal["window", "dense"]
"""``window``: the tiled gather implementation; ``dense``: the explicit (Q, K) mask reference."""

_CELL_LIMIT = 1 << 20  # cells are clamped to +-this before the integer cast (far-off projections)


def xformers_available() -> bool:
    """True when ``xformers.ops`` imports (it only runs on CUDA tensors)."""
    try:
        import xformers.ops  # noqa: F401
    except Exception:
        return False
    return True


def dispatch_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: AttentionBackend = "auto"
) -> torch.Tensor:
    """Unmasked multi-head attention.

    Args:
        q: (B, nh, Lq, dh); k, v: (B, nh, Lk, dh).
        backend: see :data:`AttentionBackend`.

    Returns:
        (B, nh, Lq, dh).
    """
    if backend not in ("auto", "sdpa", "xformers"):
        raise ValueError(f"unknown attention backend {backend!r}; use 'auto', 'sdpa' or 'xformers'")
    use_xformers = q.is_cuda and xformers_available() and backend in ("auto", "xformers")
    if backend == "xformers" and not use_xformers:
        raise RuntimeError(
            "attention backend 'xformers' needs the xformers package and CUDA tensors; "
            "install xformers matching your torch build or use backend='sdpa'"
        )
    if use_xformers:
        import xformers.ops as xops

        # [B, nh, L, dh] -> [B, L, nh, dh] (xformers' layout)
        out = xops.memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return out.transpose(1, 2)
    return F.scaled_dot_product_attention(q, k, v)


# ---------------------------------------------------------------------------------------------- windows
def points_to_cells(uv: torch.Tensor, depth: torch.Tensor, min_depth: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-grid pixel coordinates -> integer patch cells.

    Args:
        uv: (..., 2) continuous coordinates on the token grid (one unit = one patch; pixel centres
            at +0.5), e.g. ``cameras.resize(Wp, Hp).project(points)[0]``.
        depth: (...) camera depth of the points (metres).
        min_depth: points at or behind this depth are invalid (behind the camera).

    Returns:
        cells: (..., 2) int64 (row, col) = (floor(v), floor(u)), clamped to +-2^20.
        valid: (...) bool, in front of the camera with finite coordinates.
    """
    finite = torch.isfinite(uv).all(dim=-1) & torch.isfinite(depth)
    valid = finite & (depth > min_depth)
    safe = torch.where(finite[..., None], uv, torch.zeros_like(uv)).clamp(-_CELL_LIMIT, _CELL_LIMIT)
    cells = torch.floor(safe).to(torch.int64).flip(-1)  # (u, v) -> (row, col)
    return cells, valid


def window_mask(
    query_cells: torch.Tensor, key_cells: torch.Tensor, key_valid: torch.Tensor, radius: int
) -> torch.Tensor:
    """Which keys each query may see: ``|dr| <= radius``, ``|dc| <= radius`` and the key is valid.

    Args:
        query_cells: (..., Q, 2) int64 (row, col); key_cells: (..., K, 2); key_valid: (..., K) bool
            (leading dimensions broadcast).

    Returns:
        (..., Q, K) bool.
    """
    d = (query_cells[..., :, None, :] - key_cells[..., None, :, :]).abs()
    return (d <= radius).all(dim=-1) & key_valid[..., None, :]


def _check_window_inputs(q, k, v, key_cells, key_valid, radius) -> None:
    if q.ndim != 6:
        raise ValueError(f"queries must be (B, V, Hp, Wp, nh, dh), got {tuple(q.shape)}")
    b, views, _, _, nh, dh = q.shape
    if k.shape != v.shape or k.ndim != 4 or k.shape[0] != b or k.shape[2:] != (nh, dh):
        raise ValueError(f"keys/values must be (B={b}, K, nh={nh}, dh={dh}), got {tuple(k.shape)} / {tuple(v.shape)}")
    kk = k.shape[1]
    if key_cells.shape != (b, views, kk, 2) or key_valid.shape != (b, views, kk):
        raise ValueError(
            f"key_cells must be (B, V, K, 2) = {(b, views, kk, 2)} and key_valid (B, V, K), "
            f"got {tuple(key_cells.shape)} and {tuple(key_valid.shape)}"
        )
    if int(radius) < 0:
        raise ValueError(f"window radius must be >= 0, got {radius}")


def _grid_cells(rows: int, cols: int, device: torch.device) -> torch.Tensor:
    """(rows * cols, 2) int64 (row, col) of a grid in row-major order."""
    r, c = torch.meshgrid(
        torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij"
    )
    return torch.stack([r, c], dim=-1).reshape(-1, 2)


def _masked_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """SDPA where rows of ``mask`` that see nothing give exactly zero (values and gradients).

    q: (G, nh, Lq, dh); k, v: (G, nh, Lk, dh) with Lk >= 1; mask: (G, Lq, Lk) bool.
    Returns the output (G, nh, Lq, dh) and which rows saw a key (G, Lq) bool.
    """
    has_any = mask.any(dim=-1)  # (G, Lq)
    # Give empty rows one (any) key so softmax stays finite; their output is zeroed below.
    first = torch.zeros_like(mask)
    first[..., 0] = True
    safe = torch.where(has_any[..., None], mask, first)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=safe[:, None])
    return out * has_any[:, None, :, None].to(out.dtype), has_any


def _empty_result(q: torch.Tensor, return_seen: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    out = torch.zeros_like(q)
    return (out, torch.zeros(q.shape[:4], dtype=torch.bool, device=q.device)) if return_seen else out


def _dense_window_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_cells: torch.Tensor,
    key_valid: torch.Tensor,
    radius: int,
    return_seen: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Reference window attention with the explicit (Q, K) mask (cost O(V Hp Wp x K)).

    Args:
        q: (B, V, Hp, Wp, nh, dh) queries on each view's patch grid.
        k, v: (B, K, nh, dh) prior keys and values (shared by all views).
        key_cells: (B, V, K, 2) int64 (row, col) cell of each prior token's projection into view v.
        key_valid: (B, V, K) bool (false: behind view v's camera; seen by no query of view v).
        radius: r, the window is (2 r + 1) x (2 r + 1) cells.
        return_seen: also return which queries saw at least one prior token, (B, V, Hp, Wp) bool.

    Returns:
        (B, V, Hp, Wp, nh, dh); zero for queries that see no prior token.
    """
    _check_window_inputs(q, k, v, key_cells, key_valid, radius)
    b, views, hp, wp, nh, dh = q.shape
    if k.shape[1] == 0:
        return _empty_result(q, return_seen)
    qc = _grid_cells(hp, wp, q.device)  # (Hp*Wp, 2)
    mask = window_mask(qc[None, None], key_cells, key_valid, int(radius))  # (B, V, Hp*Wp, K)
    mask = mask.reshape(b, views * hp * wp, -1)
    # [B, V, Hp, Wp, nh, dh] -> [B, nh, V*Hp*Wp, dh]
    qf = q.reshape(b, views * hp * wp, nh, dh).transpose(1, 2)
    out, seen = _masked_sdpa(qf, k.transpose(1, 2), v.transpose(1, 2), mask)
    # [B, nh, V*Hp*Wp, dh] -> [B, V, Hp, Wp, nh, dh]
    out = out.transpose(1, 2).reshape(b, views, hp, wp, nh, dh)
    return (out, seen.reshape(b, views, hp, wp)) if return_seen else out


def window_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_cells: torch.Tensor,
    key_valid: torch.Tensor,
    radius: int,
    block: int = 4,
    return_seen: bool = False,
    chunk_slots: int = 1 << 16,
    stats: dict[str, int] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Projection-aware window attention, tiled (same arguments and result as
    :func:`_dense_window_attention`; see the module docstring for the algorithm and its cost).

    Args:
        block: tile side in patch cells. Larger tiles gather fewer copies of each key (memory
            ``~ (block + 2r)^2 / block^2`` copies) but score more (query, key) pairs
            (``~ (block + 2r)^2`` cells per query). 4 suits r = 1..2.
        chunk_slots: at most this many gathered key slots (tiles x padded keys) per batched SDPA;
            bounds peak memory (``~ chunk_slots * D * 2`` gathered values) whatever the input size.
            Tiles are sorted by key count so that padding inside a chunk stays small; tiles
            without keys are skipped (their queries get zero).
        stats: if given, filled with the work done: ``tiles`` (non-empty tiles), ``chunks``,
            ``slots`` (gathered key slots incl. padding) and ``pairs`` (scored query-key pairs).

    Returns:
        (B, V, Hp, Wp, nh, dh); zero for queries that see no prior token.
    """
    _check_window_inputs(q, k, v, key_cells, key_valid, radius)
    t, r = int(block), int(radius)
    if t < 1:
        raise ValueError(f"window block must be >= 1, got {block}")
    if chunk_slots < 1:
        raise ValueError(f"chunk_slots must be >= 1, got {chunk_slots}")
    b, views, hp, wp, nh, dh = q.shape
    kk = k.shape[1]
    device = q.device
    if kk == 0:
        return _empty_result(q, return_seen)
    nty, ntx = -(-hp // t), -(-wp // t)
    n_groups = b * views * nty * ntx

    # 1. bin every valid (b, v, key) into the tiles whose dilated region [t*ti - r, t*ti + t + r)
    #    contains its cell: ti in [floor((row - r) / t), floor((row + r) / t)] (same for columns).
    na = 2 * r // t + 2  # candidate tiles per axis (a superset)
    rows, cols = key_cells[..., 0], key_cells[..., 1]  # (B, V, K)
    offs = torch.arange(na, device=device)
    ti = torch.div(rows - r, t, rounding_mode="floor")[..., None] + offs  # (B, V, K, na)
    tj = torch.div(cols - r, t, rounding_mode="floor")[..., None] + offs
    ok_i = (ti <= torch.div(rows + r, t, rounding_mode="floor")[..., None]) & (ti >= 0) & (ti < nty)
    ok_j = (tj <= torch.div(cols + r, t, rounding_mode="floor")[..., None]) & (tj >= 0) & (tj < ntx)
    member = ok_i[..., :, None] & ok_j[..., None, :] & key_valid[..., None, None]  # (B, V, K, na, na)
    bi, vi, ki, ai, aj = member.nonzero(as_tuple=True)
    if bi.numel() == 0:
        return _empty_result(q, return_seen)
    group = ((bi * views + vi) * nty + ti[bi, vi, ki, ai]) * ntx + tj[bi, vi, ki, aj]

    # 2. memberships sorted by tile: tile g owns entries starts[g] .. starts[g] + counts[g] - 1.
    order = torch.argsort(group, stable=True)
    bi, vi, ki = bi[order], vi[order], ki[order]
    member_key = bi * kk + ki  # index into the flattened (B*K) keys
    member_cell = key_cells[bi, vi, ki]  # (P, 2)
    counts = torch.bincount(group, minlength=n_groups)
    starts = torch.cumsum(counts, 0) - counts
    tiles = torch.nonzero(counts).squeeze(1)  # non-empty tiles, fullest first
    tiles = tiles[torch.argsort(counts[tiles], descending=True, stable=True)]
    tile_counts = counts[tiles].tolist()

    # [B, V, Hp, Wp, nh, dh] -> pad to whole tiles -> [G, nh, t*t, dh]
    qp = F.pad(q, (0, 0, 0, 0, 0, ntx * t - wp, 0, nty * t - hp))
    qt = qp.reshape(b, views, nty, t, ntx, t, nh, dh).permute(0, 1, 2, 4, 6, 3, 5, 7)
    qt = qt.reshape(n_groups, nh, t * t, dh)
    k_flat, v_flat = k.reshape(b * kk, nh, dh), v.reshape(b * kk, nh, dh)
    local = _grid_cells(t, t, device)  # (t*t, 2)

    # 3. chunks of tiles with similar key counts: gather, mask each query's window, one SDPA each.
    outs, seens = [], []
    work = {"tiles": len(tile_counts), "chunks": 0, "slots": 0, "pairs": 0}
    i = 0
    while i < len(tiles):
        slots = tile_counts[i]  # the chunk's fullest tile sets its padded length
        n = max(1, min(len(tiles) - i, chunk_slots // slots))
        ids = tiles[i:i + n]
        i += n
        work["chunks"] += 1
        work["slots"] += n * slots
        work["pairs"] += n * slots * t * t
        j = torch.arange(slots, device=device)
        present = j[None, :] < counts[ids][:, None]  # (n, L)
        entry = torch.where(present, starts[ids][:, None] + j[None, :], torch.zeros_like(present, dtype=torch.long))
        within = ids % (nty * ntx)
        origin = torch.stack([torch.div(within, ntx, rounding_mode="floor"), within % ntx], dim=-1) * t  # (n, 2)
        mask = window_mask(origin[:, None, :] + local[None], member_cell[entry], present, r)  # (n, t*t, L)
        flat = member_key[entry].reshape(-1)
        # [B*K, nh, dh] -> [n, L, nh, dh] -> [n, nh, L, dh]
        kg = k_flat.index_select(0, flat).reshape(n, slots, nh, dh).transpose(1, 2)
        vg = v_flat.index_select(0, flat).reshape(n, slots, nh, dh).transpose(1, 2)
        out, seen = _masked_sdpa(qt.index_select(0, ids), kg, vg, mask)
        outs.append(out)
        seens.append(seen)
    if stats is not None:
        stats.update(work)
    out = qt.new_zeros(qt.shape).index_copy(0, tiles, torch.cat(outs))
    # [G, nh, t*t, dh] -> [B, V, Hp, Wp, nh, dh]
    out = out.reshape(b, views, nty, ntx, nh, t, t, dh).permute(0, 1, 2, 5, 3, 6, 4, 7)
    out = out.reshape(b, views, nty * t, ntx * t, nh, dh)[:, :, :hp, :wp]
    if not return_seen:
        return out
    seen = torch.zeros(n_groups, t * t, dtype=torch.bool, device=device).index_copy(0, tiles, torch.cat(seens))
    # [G, t*t] -> [B, V, Hp, Wp]
    seen = seen.reshape(b, views, nty, ntx, t, t).permute(0, 1, 2, 4, 3, 5).reshape(b, views, nty * t, ntx * t)
    return out, seen[:, :, :hp, :wp]


# ---------------------------------------------------------------------------------------------- modules
class SelfAttention(nn.Module):
    """Multi-head self-attention over a token sequence (B, L, D) -> (B, L, D)."""

    def __init__(self, dim: int, num_heads: int, backend: AttentionBackend = "auto") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.backend = backend
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        # [B, L, 3D] -> [3, B, nh, L, dh]
        qkv = self.to_qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = dispatch_attention(qkv[0], qkv[1], qkv[2], self.backend)
        # [B, nh, L, dh] -> [B, L, D]
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class GeometryAwareInterAttention(nn.Module):
    """Latent tokens attend to human prior tokens inside their projection windows.

    ``forward(tokens (B, V, Hp, Wp, D), prior (B, K, D), key_cells (B, V, K, 2), key_valid (B, V, K))``
    returns the update (B, V, Hp, Wp, D) that the caller adds to the residual stream. The update is
    exactly zero for queries that see no prior token (the output projection's bias included).
    ``window_size`` is K_win (odd, in patches); ``block`` the tile side of :func:`window_attention`.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, block: int = 4) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        if window_size < 1 or window_size % 2 == 0:
            raise ValueError(f"window_size (K_win) must be a positive odd number of patches, got {window_size}")
        self.num_heads = num_heads
        self.radius = window_size // 2
        self.block = block
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(
        self,
        tokens: torch.Tensor,
        prior: torch.Tensor,
        key_cells: torch.Tensor,
        key_valid: torch.Tensor,
        impl: InterAttentionImpl = "window",
    ) -> torch.Tensor:
        b, views, hp, wp, d = tokens.shape
        nh, dh = self.num_heads, d // self.num_heads
        q = self.to_q(tokens).reshape(b, views, hp, wp, nh, dh)
        k = self.to_k(prior).reshape(b, -1, nh, dh)
        v = self.to_v(prior).reshape(b, -1, nh, dh)
        if impl == "window":
            out, seen = window_attention(q, k, v, key_cells, key_valid, self.radius, self.block, return_seen=True)
        elif impl == "dense":
            out, seen = _dense_window_attention(q, k, v, key_cells, key_valid, self.radius, return_seen=True)
        else:
            raise ValueError(f"unknown inter-attention impl {impl!r}; use 'window' or 'dense'")
        return self.to_out(out.reshape(b, views, hp, wp, d)) * seen[..., None].to(out.dtype)
