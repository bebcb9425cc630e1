"""The compiled forward path (projection, binning, compositing) against its PyTorch twins: same values, same lists."""

from __future__ import annotations

import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.gaussians import Gaussians
from humansplat.render import compiled_binning, render
from humansplat.render.binning import bin_gaussians
from humansplat.render.compiled import composite_images_compiled
from humansplat.render.compiled_binning import bin_compiled
from humansplat.render.compiled_projection import project_compiled
from humansplat.render.projection import project_gaussians
from humansplat.render.rasterize import RasterOptions, rasterize_tiles, tiles_to_images
from humansplat.render.torch_backend import render_torch

pytest.importorskip("numba")

_FIELDS = ("means2d", "conics", "depths", "colors", "opacities")


def _scene(n: int, seed: int, dtype: torch.dtype, sh_degree: int) -> Gaussians:
    """Gaussians around (0, 0, 3): the first tenth behind the camera, the next tenth far off-screen,
    a few almost transparent (culled below 1/255), the last of zero size (its covariance the low-pass alone)."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=gen, dtype=dtype) * torch.tensor([0.7, 0.5, 0.4], dtype=dtype)
    means[:, 2] += 3.0
    means[: n // 10, 2] *= -1.0
    means[n // 10 : n // 5, 0] += 9.0
    logits = torch.randn(n, generator=gen, dtype=dtype) * 2.0
    logits[n // 5 : n // 5 + 5] = -8.0
    log_scales = torch.log(torch.rand(n, 3, generator=gen, dtype=dtype) * 0.1 + 0.005)
    log_scales[-1] = -60.0
    k = (sh_degree + 1) ** 2 - 1
    return Gaussians(means, log_scales, torch.randn(n, 4, generator=gen, dtype=dtype), logits,
                     torch.randn(n, 3, generator=gen, dtype=dtype), torch.randn(n, k, 3, generator=gen, dtype=dtype) * 0.3)


def _cameras() -> Cameras:
    return Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0, 35.0, 170.0], [0.0, 15.0, -30.0], fov_y_deg=50.0, width=45,
                         height=38)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("sh_degree", [0, 1, 3])
@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_compiled_projection_equals_pytorch_projection(dtype, tol, sh_degree, mode):
    """Every projected value to rounding and the same radii, culled Gaussians included. Errors are
    relative to the value (at least 1; 8 px for the means, whose x / z carries z's rounding); float32
    allows 1e-5: the two sum the 3x3 products in different orders and the conic's determinant
    cancels."""
    g = _scene(2000, sh_degree, dtype, sh_degree)
    cams = _cameras()
    with torch.no_grad():
        ref = project_gaussians(g, cams, 0.01, 1e10, sh_degree, mode)
    got = project_compiled(g, cams, 0.01, 1e10, sh_degree, mode)
    for name in _FIELDS:
        a, b = getattr(got, name), getattr(ref, name)
        assert a.shape == b.shape and a.dtype == b.dtype == dtype, name
        scale = b.abs().clamp_min(1.0)
        if name == "means2d":  # x / z with z rounded: an off-screen mean moves by its size times z's rounding
            scale = scale * 8.0
        assert ((a - b).abs() / scale).max() <= tol, (name, ((a - b).abs() / scale).max().item())
    assert got.radii.dtype == torch.int32
    assert torch.equal(got.radii, ref.radii)
    visible = ref.visible
    assert visible.any() and not visible.all()
    assert not visible[0, : 2000 // 10].any()  # behind the front camera
    assert torch.isfinite(got.conics[:, -1]).all()  # the zero-size Gaussian: the low-pass alone
    assert not visible[0, 2000 // 10 : 2000 // 5].any()  # off-screen in the front view


def test_compiled_projection_rejects_what_the_pytorch_one_rejects():
    g = _scene(20, 0, torch.float32, 1)
    with pytest.raises(ValueError, match="rasterize_mode"):
        project_compiled(g, _cameras(), rasterize_mode="blurry")
    with pytest.raises(ValueError, match="sh_degree 2"):
        project_compiled(g, _cameras(), sh_degree=2)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tile_size, width, height", [(16, 45, 38), (8, 45, 38), (5, 33, 20)])
def test_compiled_binning_equals_pytorch_binning(dtype, tile_size, width, height, threads, monkeypatch):
    """The same tile lists, element for element: depth order with ties in index order, several cameras,
    one thread or bands of tile rows on several."""
    monkeypatch.setattr(compiled_binning, "_MIN_SPLIT", 0)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _check_binning(dtype, tile_size, width, height)
    finally:
        torch.set_num_threads(before)


def _check_binning(dtype: torch.dtype, tile_size: int, width: int, height: int) -> None:
    g = _scene(1500, tile_size, dtype, 0)
    cams = Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0, 90.0], 0.0, fov_y_deg=50.0, width=width, height=height)
    with torch.no_grad():
        p = project_gaussians(g, cams)
    depths = p.depths.clone()
    depths[:, 1::7] = depths[:, 0:1]  # ties
    ref = bin_gaussians(p.means2d, p.radii, depths, width, height, tile_size)
    got = bin_compiled(p.means2d, p.radii, depths, width, height, tile_size)
    assert ref.flat_ids.numel() > 1000
    assert torch.equal(got.flat_ids, ref.flat_ids) and got.flat_ids.dtype == torch.int64
    assert torch.equal(got.offsets, ref.offsets) and got.offsets.dtype == torch.int64
    assert (got.tile_size, got.tiles_x, got.tiles_y, got.n_cameras) == (ref.tile_size, ref.tiles_x, ref.tiles_y, 2)


def test_compiled_binning_of_negative_depths_and_empty_scenes():
    """Negative depths sort before positive ones (a near plane behind the camera); nothing visible or
    no Gaussians at all give empty lists and all-zero offsets."""
    means2d = torch.tensor([[[5.0, 5.0], [6.0, 5.0], [7.0, 5.0], [30.0, 30.0]]])
    radii = torch.tensor([[[2, 2], [2, 2], [2, 2], [0, 0]]], dtype=torch.int32)
    depths = torch.tensor([[0.5, -2.0, -0.25, 1.0]])
    for fn in (bin_gaussians, bin_compiled):
        bins = fn(means2d, radii, depths, 32, 32, 16)
        assert bins.flat_ids.tolist() == [1, 2, 0] and bins.offsets.tolist() == [0, 3, 3, 3, 3]
    for n in (4, 0):
        empty = bin_compiled(means2d[:, :n], torch.zeros(1, n, 2, dtype=torch.int32), depths[:, :n], 32, 32, 16)
        assert empty.flat_ids.numel() == 0 and empty.offsets.tolist() == [0] * 5
    with pytest.raises(ValueError, match="tile_size"):
        bin_compiled(means2d, radii, depths, 32, 32, 0)


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_compiled_render_equals_pytorch_rounds(mode):
    """The whole forward path (compiled projection, binning, compositing) against the PyTorch
    projection, binning and rounds, float64, SH degree 1, three cameras."""
    g = _scene(600, 4, torch.float64, 1)
    bg = torch.tensor([0.2, 0.3, 0.4])
    with torch.no_grad():
        fast = render_torch(g, _cameras(), bg, 0.01, 1e10, 1, rasterize_mode=mode)
        slow = render_torch(g, _cameras(), bg, 0.01, 1e10, 1, rasterize_mode=mode,
                            options=RasterOptions(compiled=False))
    assert slow.alpha.max() > 0.99 and (slow.alpha == 0).any()
    for name in ("rgb", "alpha", "depth"):
        assert torch.allclose(getattr(fast, name), getattr(slow, name), atol=1e-10, rtol=0), name


def test_empty_and_off_screen_scenes_render_the_background():
    off = _scene(50, 5, torch.float32, 0)
    off.means[:, 0] += 50.0
    for g in (Gaussians.empty(), off):
        with torch.no_grad():
            out = render(g, _cameras(), background=(0.1, 0.2, 0.3), backend="torch")
        assert out.rgb.shape == (3, 38, 45, 3)
        assert torch.allclose(out.rgb, torch.tensor([0.1, 0.2, 0.3]).expand(3, 38, 45, 3))
        assert out.alpha.abs().max() == 0


@pytest.mark.parametrize("channels", [4, 2])
def test_compiled_images_equal_the_pytorch_rounds(channels):
    """The compiled kernel without a background (any number of value channels) against
    ``rasterize_tiles``' PyTorch rounds laid out as images, odd image size."""
    g = _scene(400, 6, torch.float64, 0)
    cams = _cameras()
    with torch.no_grad():
        p = project_gaussians(g, cams)
    bins = bin_gaussians(p.means2d, p.radii, p.depths, 45, 38, 16)
    C, N = p.depths.shape
    values = torch.cat([p.colors, p.depths[..., None]], dim=-1).reshape(C * N, 4)[:, :channels]
    screen = (p.means2d.reshape(C * N, 2), p.conics.reshape(C * N, 3), p.opacities.reshape(C * N), values)
    fast = composite_images_compiled(*screen, bins, 45, 38)
    slow = tiles_to_images(rasterize_tiles(*screen, bins), bins, 45, 38)
    assert fast.shape == slow.shape == (C, 38, 45, channels + 1) and slow[..., -1].max() > 0.99
    assert torch.allclose(fast, slow, atol=1e-10, rtol=0)


def test_a_gradient_on_the_cameras_or_the_background_keeps_the_differentiable_path():
    g = _scene(200, 8, torch.float64, 0)
    cams = _cameras()
    cams.viewmats.requires_grad_(True)
    bg = torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64, requires_grad=True)
    out = render_torch(g, cams, bg, 0.01, 1e10, 0)
    g_view, g_bg = torch.autograd.grad(out.rgb.sum(), [cams.viewmats, bg])
    assert g_view.abs().max() > 0 and g_bg.abs().max() > 0
