"""Tiled front-to-back rasterisation of screen-space Gaussians in pure PyTorch (CPU-fast).

Image formation is gsplat's (``rasterize_to_pixels``): for each pixel centre and its tile's
depth-sorted Gaussians, ``alpha = min(0.999, o * exp(-power))``, Gaussians with
``alpha < 1/255`` are skipped, compositing stops before the transmittance would reach 1e-4.
(One tie differs, on a set of measure zero: an alpha of exactly 1/255 is skipped here, kept by gsplat.)

How it is fast without a kernel
-------------------------------
* Tiles advance through their lists in lock step, in rounds of K Gaussians (K doubles each round,
  32, 64, ... 256): a round processes padded (tiles, 256 pixels, K) blocks, and a tile leaves as
  soon as all its pixels are opaque or its list ends. Opaque surfaces stop after a few rounds.
* ``log(alpha)`` before clamping is a quadratic polynomial of the pixel position, so one batched
  matmul of (pixels, 6) monomials by (6, K) per-Gaussian coefficients evaluates it for a whole
  block (coordinates are centred on the tile to keep float32 accurate to ~1e-5).
* In-place operations on preallocated buffers (fresh large CPU tensors cost page faults).
* Backward is a custom autograd function: it replays the rounds back to front with gsplat's
  suffix sums, and reduces per-pixel gradients to per-Gaussian ones with one more matmul of
  the same monomials (moments), so nothing of size (pixels x Gaussians) is kept between passes.

Shapes: G screen-space Gaussians (cameras x Gaussians, flattened), D value channels, T tiles,
S = tile_size^2 pixels per tile, A tiles in a block, K Gaussians per tile in a block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .binning import TileBins
from .compiled import compiled_available
from .formation import ALPHA_MAX, ALPHA_MIN, T_MIN

__all__ = ["RasterOptions", "needs_grad", "rasterize_tiles", "tiles_to_images", "uses_compiled"]

_LOG_ALPHA_MAX = math.log(ALPHA_MAX)
_NEG = -1.0e4  # log-opacity of the padding Gaussian: exp(-1e4) == 0


@dataclass(frozen=True)
class RasterOptions:
    """Tuning knobs of the tiled rasteriser (results do not depend on them).

    Attributes:
        first_chunk: Gaussians per tile in the first round; doubles every round.
        max_chunk: the most Gaussians per tile in one round.
        block_elements: pixels x Gaussians evaluated per block (working-set size; about 4 MB
            per float32 buffer at the default).
        compiled: without a gradient, on CPU tensors, ``render_torch`` projects, bins and composites
            with the compiled kernels (:mod:`humansplat.render.compiled` and its siblings) when numba
            is installed (same image to float rounding, several times faster); False always uses the
            PyTorch stages. :func:`rasterize_tiles` itself is always PyTorch.
    """

    first_chunk: int = 32
    max_chunk: int = 256
    block_elements: int = 1 << 20
    compiled: bool = True


def _monomials(tile_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(S, 6) [x^2, xy, y^2, x, y, 1] of the pixel centres, relative to the tile centre."""
    s = torch.arange(tile_size * tile_size, device=device)
    x = (s % tile_size).to(dtype) + 0.5 - tile_size / 2.0
    y = torch.div(s, tile_size, rounding_mode="floor").to(dtype) + 0.5 - tile_size / 2.0
    return torch.stack([x * x, x * y, y * y, x, y, torch.ones_like(x)], dim=-1)


class _Plan:
    """Per-call constants: tile origins, list starts, padded Gaussian parameters."""

    def __init__(self, bins: TileBins, means2d, conics, opacities, values, opts: RasterOptions):
        self.bins = bins
        self.opts = opts
        dtype, device = means2d.dtype, means2d.device
        ts = bins.tile_size
        self.S = ts * ts
        self.G = means2d.shape[0]
        self.D = values.shape[1]
        self.feats = _monomials(ts, dtype, device)  # (S, 6)
        t = torch.arange(bins.n_tiles, device=device)
        half = ts / 2.0
        self.centre_x = (t % bins.tiles_x).to(dtype) * ts + half  # (T,)
        self.centre_y = (torch.div(t, bins.tiles_x, rounding_mode="floor") % bins.tiles_y).to(dtype) * ts + half
        self.starts = bins.offsets[:-1]
        self.counts = bins.counts
        # Row G is a padding Gaussian that evaluates to alpha 0 everywhere.
        pad = means2d.new_tensor([[0.0, 0.0, 0.0, 0.0, 0.0, _NEG]])
        params = torch.cat([means2d, conics, torch.log(opacities)[:, None]], dim=1)  # (G, 6)
        self.params = torch.cat([params, pad])  # (G + 1, 6): mx, my, a, b, c, log o
        ones = values.new_ones(self.G, 1)
        self.values = torch.cat([torch.cat([values, ones], dim=1), values.new_zeros(1, self.D + 1)])  # (G+1, D+1)
        self.flat_ids = bins.flat_ids
        self.bufs: list[torch.Tensor] = []
        self.ensure_buffers(3)

    def ensure_buffers(self, count: int) -> None:
        """Allocate working buffers (block_elements plus one oversize block) up to ``count``."""
        n = self.opts.block_elements + self.opts.max_chunk * self.S
        while len(self.bufs) < count:
            self.bufs.append(torch.empty(n, dtype=self.params.dtype, device=self.params.device))

    def buffer(self, i: int, A: int, K: int) -> torch.Tensor:
        return self.bufs[i][: A * self.S * K].view(A, self.S, K)

    def gather(self, tiles: torch.Tensor, pos: int, K: int):
        """Padded ids (A, K) of the Gaussians at list positions [pos, pos + K) of ``tiles``."""
        ar = torch.arange(pos, pos + K, device=tiles.device)
        valid = ar[None, :] < self.counts.index_select(0, tiles)[:, None]
        idx = (self.starts.index_select(0, tiles)[:, None] + ar[None, :]).clamp_max_(max(self.flat_ids.numel() - 1, 0))
        ids = self.flat_ids.index_select(0, idx.view(-1)).view(idx.shape)
        return ids.masked_fill_(~valid, self.G)

    def gather_values(self, gids: torch.Tensor) -> torch.Tensor:
        """(A, K, D+1) values of the Gaussians ``gids`` (A, K), last channel 1 (0 for padding)."""
        return self.values.index_select(0, gids.view(-1)).view(*gids.shape, self.D + 1)

    def coefficients(self, tiles: torch.Tensor, gids: torch.Tensor):
        """Polynomial coefficients (A, 6, K) of log(alpha) and the centred parameters they used."""
        p = self.params.index_select(0, gids.view(-1)).view(*gids.shape, 6)  # (A, K, 6)
        mx = p[..., 0] - self.centre_x.index_select(0, tiles)[:, None]
        my = p[..., 1] - self.centre_y.index_select(0, tiles)[:, None]
        a, b, c, lo = p[..., 2], p[..., 3], p[..., 4], p[..., 5]
        lin_x = a * mx + b * my
        lin_y = c * my + b * mx
        const = lo - 0.5 * (mx * lin_x + my * lin_y)
        coef = torch.stack([-0.5 * a, -b, -0.5 * c, lin_x, lin_y, const], dim=1)
        return coef, (mx, my, a, b, c, lin_x, lin_y)

    def alphas(self, tiles, gids, A: int, K: int, want_clamped: bool = False):
        """alpha (A, S, K) in buffer 0 (clamped at 0.999, 0 below 1/255) and the clamp mask."""
        coef, centred = self.coefficients(tiles, gids)
        q = self.buffer(0, A, K)
        torch.matmul(self.feats, coef, out=q)
        clamped = q > _LOG_ALPHA_MAX if want_clamped else None
        q.clamp_max_(_LOG_ALPHA_MAX).exp_()
        F.threshold_(q, ALPHA_MIN, 0.0)
        return q, clamped, centred

    def transmittance(self, alpha: torch.Tensor, t_start: torch.Tensor):
        """Odds alpha/(1-alpha) (A, S, K) in buffer 2, kept transmittance in buffer 1, end transmittance (A, S).

        The kept transmittance is ``T_{k+1}`` (after Gaussian k, starting from ``t_start``) where
        it is > 1e-4, else 0, so ``odds * kept = alpha_k * T_k`` is the blend weight of Gaussian k
        with gsplat's early stop (0 from the Gaussian that would bring T to <= 1e-4 on).
        """
        A, _, K = alpha.shape
        om = torch.neg(alpha, out=self.buffer(1, A, K)).add_(1.0)
        odds = torch.div(alpha, om, out=self.buffer(2, A, K))  # <= 999
        om[:, :, 0].mul_(t_start)
        trans = om.cumprod_(2)
        t_end = trans[:, :, -1].clone()
        F.threshold_(trans, T_MIN, 0.0)
        return odds, trans, t_end

    def rounds(self):
        """Chunk sizes: first_chunk, doubling, capped at max_chunk."""
        k = self.opts.first_chunk
        while True:
            yield k
            k = min(2 * k, self.opts.max_chunk)

    def blocks(self, active: torch.Tensor, pos: int, k_round: int):
        """Split active tiles (sorted by remaining list length) into blocks: (tiles, K)."""
        remaining = self.counts[active] - pos
        remaining, order = torch.sort(remaining)
        active = active[order]
        per_block = max(1, self.opts.block_elements // (self.S * k_round))
        rem_list = remaining.tolist()
        for i in range(0, active.numel(), per_block):
            j = min(i + per_block, active.numel())
            yield active[i:j], min(k_round, int(rem_list[j - 1]))


def _forward(plan: _Plan, record: bool):
    """Composite every tile; returns acc (T, D+1, S) (last channel: alpha) and the schedule."""
    bins = plan.bins
    dtype, device = plan.params.dtype, plan.params.device
    T, S = bins.n_tiles, plan.S
    acc = torch.zeros(T, plan.D + 1, S, dtype=dtype, device=device)
    trans_run = torch.ones(T, S, dtype=dtype, device=device)
    schedule = []
    active = torch.nonzero(plan.counts > 0).squeeze(1)
    pos = 0
    for k_round in plan.rounds():
        if active.numel() == 0:
            break
        for tiles, K in plan.blocks(active, pos, k_round):
            A = tiles.numel()
            gids = plan.gather(tiles, pos, K)
            t_start = trans_run.index_select(0, tiles)
            alpha, _, _ = plan.alphas(tiles, gids, A, K)
            odds, trans, t_end = plan.transmittance(alpha, t_start)
            w = odds.mul_(trans)  # (A, S, K)
            # [A, D+1, K] @ [A, K, S] -> [A, D+1, S]: colour, depth and alpha of every pixel
            acc.index_add_(0, tiles, torch.bmm(plan.gather_values(gids).transpose(1, 2), w.transpose(1, 2)))
            trans_run.index_copy_(0, tiles, t_end)
            if record:
                schedule.append((tiles, pos, K, t_start))
        pos += k_round
        keep = (plan.counts.index_select(0, active) > pos) & (trans_run.index_select(0, active).amax(dim=1) > T_MIN)
        active = active[keep]
    return acc, schedule


def _backward(plan: _Plan, schedule, grad_acc: torch.Tensor):
    """Gradients (G+1, 6) w.r.t. [mx, my, a, b, c, log o] and (G+1, D+1) w.r.t. the values.

    ``grad_acc``: (T, D+1, S) gradient of the loss w.r.t. :func:`_forward`'s ``acc``.
    """
    dtype, device = plan.params.dtype, plan.params.device
    g_params = torch.zeros(plan.G + 1, 6, dtype=dtype, device=device)
    g_values = torch.zeros(plan.G + 1, plan.D + 1, dtype=dtype, device=device)
    suffix_run = torch.zeros(plan.bins.n_tiles, plan.S, dtype=dtype, device=device)
    feats_t = plan.feats.t()  # (6, S)
    plan.ensure_buffers(5)
    for tiles, pos, K, t_start in reversed(schedule):
        A = tiles.numel()
        gids = plan.gather(tiles, pos, K)
        vals = plan.gather_values(gids)  # (A, K, D+1)
        g_out = grad_acc.index_select(0, tiles)  # (A, D+1, S)
        alpha, clamped, (mx, my, a, b, c, lin_x, lin_y) = plan.alphas(tiles, gids, A, K, want_clamped=True)
        odds, trans, _ = plan.transmittance(alpha, t_start)
        w = torch.mul(odds, trans, out=alpha)  # alpha itself is no longer needed
        # [A, S, D+1] @ [A, D+1, K] -> [A, S, K]: dL/dw
        g_w = torch.bmm(g_out.transpose(1, 2), vals.transpose(1, 2), out=plan.buffer(3, A, K))
        s = torch.mul(w, g_w, out=plan.buffer(4, A, K))
        s.cumsum_(2)
        last = s[:, :, -1].clone()
        later = suffix_run.index_select(0, tiles)
        suffix = s.neg_().add_((last + later)[:, :, None])  # sum of w_j g_j over j > k (all rounds)
        # dL/dalpha_k = (T_{k+1} g_k - suffix_k) / (1 - alpha_k); dL/dq = alpha_k * dL/dalpha_k.
        g_q = g_w.mul_(trans).sub_(suffix).mul_(odds).masked_fill_(clamped, 0.0)
        suffix_run.index_copy_(0, tiles, later + last)
        m0, m1, m2, m3, m4, m5 = torch.matmul(feats_t, g_q).unbind(1)  # [6, S] @ [A, S, K] -> [A, 6, K]
        g_pair = torch.stack(
            [
                m3 * a + m4 * b - m5 * lin_x,
                m3 * b + m4 * c - m5 * lin_y,
                -0.5 * m0 + m3 * mx - 0.5 * m5 * mx * mx,
                -m1 + m3 * my + m4 * mx - m5 * mx * my,
                -0.5 * m2 + m4 * my - 0.5 * m5 * my * my,
                m5,
            ],
            dim=-1,
        )  # (A, K, 6)
        flat = gids.view(-1)
        g_params.index_add_(0, flat, g_pair.view(-1, 6))
        g_vals = torch.bmm(g_out, w)  # [A, D+1, S] @ [A, S, K] -> [A, D+1, K]
        g_values.index_add_(0, flat, g_vals.transpose(1, 2).reshape(-1, plan.D + 1))
    return g_params, g_values


class _RasterizeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, opacities, values, bins, opts):
        plan = _Plan(bins, means2d, conics, opacities, values, opts)
        acc, schedule = _forward(plan, record=True)
        ctx.plan = plan
        ctx.schedule = schedule
        ctx.save_for_backward(opacities)
        return acc

    @staticmethod
    def backward(ctx, grad_acc):
        (opacities,) = ctx.saved_tensors
        plan = ctx.plan
        g_params, g_values = _backward(plan, ctx.schedule, grad_acc.contiguous())
        G = plan.G
        return (
            g_params[:G, 0:2],
            g_params[:G, 2:5],
            g_params[:G, 5] / opacities,
            g_values[:G, : plan.D],
            None,
            None,
        )


def needs_grad(*tensors: torch.Tensor) -> bool:
    """True when autograd will differentiate through ``tensors`` (grad mode on, one requires grad)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def uses_compiled(options: RasterOptions, device: torch.device, grad: bool) -> bool:
    """Whether ``render_torch`` takes the compiled forward path (no gradient, CPU, numba, ``options.compiled``)."""
    return options.compiled and not grad and device.type == "cpu" and compiled_available()


def rasterize_tiles(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
    values: torch.Tensor,
    bins: TileBins,
    options: RasterOptions | None = None,
) -> torch.Tensor:
    """Alpha-composite screen-space Gaussians into tiles, front to back.

    Args:
        means2d: (G, 2) pixel coordinates (pixel centres at +0.5).
        conics: (G, 3) inverse 2D covariances (a, b, c).
        opacities: (G,) in (0, 1).
        values: (G, D) per-Gaussian values to composite (colour, depth, ...).
        bins: tile lists from :func:`humansplat.render.binning.bin_gaussians` (ids index G).
        options: tuning knobs (:class:`RasterOptions`).

    Returns:
        (T, D + 1, S) per tile and channel: ``sum_k w_k values_k`` at each of the S tile pixels
        and, last, ``alpha = sum_k w_k``.
        Differentiable w.r.t. the four tensors (custom backward) when any requires grad.
    """
    opts = options or RasterOptions()
    grad = needs_grad(means2d, conics, opacities, values)
    if grad:
        return _RasterizeFunction.apply(means2d, conics, opacities, values, bins, opts)
    with torch.no_grad():
        acc, _ = _forward(_Plan(bins, means2d, conics, opacities, values, opts), record=False)
    return acc


def tiles_to_images(tiles: torch.Tensor, bins: TileBins, width: int, height: int) -> torch.Tensor:
    """(T, X, S) per-tile channels -> (C, H, W, X) images (differentiable reshape and crop)."""
    ts = bins.tile_size
    x = tiles.reshape(bins.n_cameras, bins.tiles_y, bins.tiles_x, -1, ts, ts)
    # [C, ty, tx, X, y, x] -> [C, ty, y, tx, x, X] -> [C, H', W', X]
    x = x.permute(0, 1, 4, 2, 5, 3).reshape(bins.n_cameras, bins.tiles_y * ts, bins.tiles_x * ts, -1)
    return x[:, :height, :width]
