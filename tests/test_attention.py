"""Projection-aware window attention: the tiled implementation equals the dense masked reference."""

from __future__ import annotations

import pytest
import torch

from humansplat.network.attention import (
    GeometryAwareInterAttention,
    _dense_window_attention,
    dispatch_attention,
    points_to_cells,
    window_attention,
    window_mask,
)


def _random_case(b, views, hp, wp, k, heads=2, dh=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, views, hp, wp, heads, dh, generator=g, dtype=dtype)
    keys = torch.randn(b, k, heads, dh, generator=g, dtype=dtype)
    values = torch.randn(b, k, heads, dh, generator=g, dtype=dtype)
    # cells inside, on and beyond the grid's border (those can still be in border windows)
    cells = torch.stack(
        [torch.randint(-4, hp + 4, (b, views, k), generator=g), torch.randint(-4, wp + 4, (b, views, k), generator=g)],
        dim=-1,
    )
    valid = torch.rand(b, views, k, generator=g) > 0.2
    return q, keys, values, cells, valid


@pytest.mark.parametrize(
    "b,views,hp,wp,k,radius,block",
    [
        (1, 1, 4, 4, 12, 1, 4),
        (2, 3, 5, 7, 40, 1, 4),  # grid not a multiple of the tile
        (1, 2, 8, 8, 100, 2, 3),
        (2, 2, 6, 5, 60, 1, 1),  # one query per tile
        (1, 3, 3, 3, 10, 0, 2),  # 1x1 windows
        (1, 2, 4, 6, 30, 3, 2),  # windows larger than tiles
    ],
)
@pytest.mark.parametrize("chunk_slots", [1 << 16, 5])  # one chunk / about one tile per chunk
def test_window_equals_dense_values_and_gradients(b, views, hp, wp, k, radius, block, chunk_slots):
    q, keys, values, cells, valid = _random_case(b, views, hp, wp, k)
    for t in (q, keys, values):
        t.requires_grad_(True)
    fast, seen_fast = window_attention(
        q, keys, values, cells, valid, radius, block, return_seen=True, chunk_slots=chunk_slots
    )
    ref, seen_ref = _dense_window_attention(q, keys, values, cells, valid, radius, return_seen=True)
    assert fast.shape == q.shape
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(seen_fast, seen_ref)
    weights = torch.randn_like(fast)
    grads_fast = torch.autograd.grad((fast * weights).sum(), (q, keys, values))
    grads_ref = torch.autograd.grad((ref * weights).sum(), (q, keys, values))
    for gf, gr in zip(grads_fast, grads_ref):
        torch.testing.assert_close(gf, gr, rtol=1e-10, atol=1e-12)


def test_dense_reference_matches_explicit_softmax():
    q, keys, values, cells, valid = _random_case(1, 2, 3, 4, 15, heads=1, seed=3)
    radius = 1
    out = _dense_window_attention(q, keys, values, cells, valid, radius)
    for v in range(2):
        for i in range(3):
            for j in range(4):
                sees = valid[0, v] & ((cells[0, v, :, 0] - i).abs() <= radius) & ((cells[0, v, :, 1] - j).abs() <= radius)
                qq = q[0, v, i, j, 0]
                if not sees.any():
                    assert torch.all(out[0, v, i, j] == 0)
                    continue
                scores = (keys[0, sees, 0] @ qq) / qq.numel() ** 0.5
                expected = torch.softmax(scores, 0) @ values[0, sees, 0]
                torch.testing.assert_close(out[0, v, i, j, 0], expected)


@pytest.mark.parametrize("impl", [window_attention, _dense_window_attention])
def test_prior_tokens_outside_every_window_change_nothing(impl):
    q, keys, values, cells, valid = _random_case(2, 2, 6, 6, 20, seed=1)
    radius = 1
    base = impl(q, keys, values, cells, valid, radius)
    g = torch.Generator().manual_seed(7)
    extra = 9
    k2 = torch.cat([keys, torch.randn(2, extra, 2, 4, generator=g, dtype=keys.dtype)], dim=1)
    v2 = torch.cat([values, torch.randn(2, extra, 2, 4, generator=g, dtype=values.dtype)], dim=1)
    # far outside the grid in every view, or behind the camera (invalid) though inside the grid
    far = torch.tensor([[-50, 3], [3, 60], [40, 40]]).repeat(3, 1)  # (9, 2)
    extra_cells = far.expand(2, 2, extra, 2).clone()
    extra_cells[:, :, :3] = 2  # inside the grid ...
    extra_valid = torch.ones(2, 2, extra, dtype=torch.bool)
    extra_valid[:, :, :3] = False  # ... but behind the camera
    out = impl(q, k2, v2, torch.cat([cells, extra_cells], 2), torch.cat([valid, extra_valid], 2), radius)
    torch.testing.assert_close(out, base, rtol=0, atol=1e-12)  # dense: masked entries reorder sums


def test_seen_set_is_the_window_around_the_projection():
    q = torch.randn(1, 2, 7, 9, 1, 4)
    kv = torch.randn(1, 1, 1, 4)
    cells = torch.tensor([[[[3, 4]], [[0, 8]]]])  # view 0: centre; view 1: a corner
    valid = torch.ones(1, 2, 1, dtype=torch.bool)
    out, seen = window_attention(q, kv, kv, cells, valid, radius=1, block=4, return_seen=True)
    rows = torch.arange(7)[:, None]
    cols = torch.arange(9)[None, :]
    expected0 = ((rows - 3).abs() <= 1) & ((cols - 4).abs() <= 1)
    expected1 = (rows <= 1) & (cols >= 7)
    assert torch.equal(seen[0, 0], expected0) and torch.equal(seen[0, 1], expected1)
    # one visible key: softmax weight 1 -> the output is that key's value; others exactly zero
    torch.testing.assert_close(out[0, 0, 3, 4, 0], kv[0, 0, 0])
    assert torch.count_nonzero(out[0, 0][~expected0]) == 0


def test_no_prior_tokens_or_none_visible_gives_zero_update():
    q = torch.randn(1, 1, 4, 4, 2, 4)
    empty = torch.zeros(1, 0, 2, 4)
    out = window_attention(q, empty, empty, torch.zeros(1, 1, 0, 2, dtype=torch.long), torch.zeros(1, 1, 0, dtype=torch.bool), 1)
    assert torch.count_nonzero(out) == 0
    module = GeometryAwareInterAttention(8, 2, window_size=3)
    with torch.no_grad():
        module.to_out.bias.fill_(1.0)  # the bias must not leak into queries that see nothing
    tokens = torch.randn(1, 1, 4, 4, 8)
    prior = torch.randn(1, 1, 8)
    update = module(tokens, prior, torch.tensor([[[[0, 0]]]]), torch.ones(1, 1, 1, dtype=torch.bool))
    assert torch.count_nonzero(update[0, 0, 2:, :]) == 0 and torch.count_nonzero(update[0, 0, :, 2:]) == 0
    assert torch.all(update[0, 0, :2, :2].abs().sum(-1) > 0)


def test_module_window_and_dense_agree_with_gradients():
    torch.manual_seed(0)
    module = GeometryAwareInterAttention(16, 4, window_size=5, block=3).double()
    g = torch.Generator().manual_seed(2)
    tokens = torch.randn(2, 3, 6, 5, 16, generator=g, dtype=torch.float64, requires_grad=True)
    prior = torch.randn(2, 25, 16, generator=g, dtype=torch.float64, requires_grad=True)
    cells = torch.randint(-3, 9, (2, 3, 25, 2), generator=g)
    valid = torch.rand(2, 3, 25, generator=g) > 0.3
    a = module(tokens, prior, cells, valid, impl="window")
    d = module(tokens, prior, cells, valid, impl="dense")
    torch.testing.assert_close(a, d)
    ga = torch.autograd.grad(a.square().sum(), [tokens, prior, *module.parameters()])
    gd = torch.autograd.grad(d.square().sum(), [tokens, prior, *module.parameters()])
    for x, y in zip(ga, gd):
        torch.testing.assert_close(x, y)
    with pytest.raises(ValueError, match="'sparse'"):
        module(tokens, prior, cells, valid, impl="sparse")


def test_points_to_cells_floor_and_validity():
    uv = torch.tensor([[2.99, 0.0], [-0.01, 1.5], [float("nan"), 1.0], [1.0, 1.0], [1e30, 2.0]])
    depth = torch.tensor([1.0, 1.0, 1.0, -0.5, 1.0])
    cells, valid = points_to_cells(uv, depth)
    assert cells[0].tolist() == [0, 2] and cells[1].tolist() == [1, -1]
    assert valid.tolist() == [True, True, False, False, True]
    assert cells[4, 1] == 1 << 20  # clamped, no integer overflow


def test_window_mask_broadcasts():
    qc = torch.tensor([[0, 0], [5, 5]])
    kc = torch.tensor([[[1, 1], [5, 7], [4, 4]]])
    m = window_mask(qc[None], kc, torch.tensor([[True, True, False]]), radius=1)
    assert m.tolist() == [[[True, False, False], [False, False, False]]]


def test_invalid_arguments_are_reported():
    with pytest.raises(ValueError, match="odd"):
        GeometryAwareInterAttention(8, 2, window_size=2)
    q, keys, values, cells, valid = _random_case(1, 1, 3, 3, 5)
    with pytest.raises(ValueError, match=r"key_cells must be \(B, V, K, 2\)"):
        window_attention(q, keys, values, cells[:, :, :4], valid, 1)
    with pytest.raises(ValueError, match="block must be >= 1, got 0"):
        window_attention(q, keys, values, cells, valid, 1, block=0)
    with pytest.raises(ValueError, match="chunk_slots must be >= 1, got 0"):
        window_attention(q, keys, values, cells, valid, 1, chunk_slots=0)


def test_dispatch_attention_sdpa_and_xformers_on_cpu():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    expected = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v
    torch.testing.assert_close(dispatch_attention(q, k, v, "sdpa"), expected)
    torch.testing.assert_close(dispatch_attention(q, k, v, "auto"), expected)
    with pytest.raises(RuntimeError, match="xformers"):
        dispatch_attention(q, k, v, "xformers")
    with pytest.raises(ValueError, match="'flash'"):
        dispatch_attention(q, k, v, "flash")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_window_equals_dense_on_cuda_half():
    q, keys, values, cells, valid = _random_case(1, 3, 16, 16, 300, heads=4, dh=32, dtype=torch.float16)
    args = [t.cuda() for t in (q, keys, values, cells, valid)]
    fast = window_attention(*args, 1, 4)
    ref = _dense_window_attention(*args, 1)
    torch.testing.assert_close(fast.float(), ref.float(), rtol=2e-3, atol=2e-3)
