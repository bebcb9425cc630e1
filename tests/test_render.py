"""Renderer tests: analytic single Gaussians, compositing rules, gradients, tiled == dense, conventions."""

from __future__ import annotations

import math

import pytest
import torch
from _fixtures_r import fields

from humansplat.cameras import Cameras
from humansplat.gaussians import SH_C0, Gaussians
from humansplat.render import RenderOutput, render
from humansplat.render.binning import bin_gaussians
from humansplat.geometry import quat_to_rotmat
from humansplat.render.projection import LOW_PASS, project_gaussians
from humansplat.render.rasterize import RasterOptions
from humansplat.render.torch_backend import _render_dense, render_torch

BLACK = torch.zeros(3)


def _camera(width: int, height: int, f: float, dtype=torch.float32) -> Cameras:
    K = torch.tensor([[[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]]])
    return Cameras(viewmats=torch.eye(4)[None], Ks=K, width=width, height=height)


def _gaussians(means, scales, opacities, rgb, quats=None, dtype=torch.float64) -> Gaussians:
    means = torch.as_tensor(means, dtype=dtype).reshape(-1, 3)
    n = means.shape[0]
    scales = torch.as_tensor(scales, dtype=dtype).reshape(-1, 3).expand(n, 3)
    if quats is None:
        quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=dtype).expand(n, 4)
    return Gaussians.from_activated(
        means,
        scales.clone(),
        torch.as_tensor(quats, dtype=dtype).reshape(n, 4).clone(),
        torch.as_tensor(opacities, dtype=dtype).reshape(n),
        torch.as_tensor(rgb, dtype=dtype).reshape(n, 3),
    )


def random_scene(n: int, generator: torch.Generator, dtype=torch.float64, sh_degree: int = 1) -> Gaussians:
    """Random Gaussians around (0, 0, 3), some behind the camera, some far off-screen."""
    means = torch.randn(n, 3, generator=generator, dtype=dtype) * torch.tensor([0.6, 0.5, 0.4], dtype=dtype)
    means[:, 2] += 3.0
    means[: n // 10, 2] = -1.0 - means[: n // 10, 2].abs()  # behind the camera
    means[n // 10 : n // 5, 0] += 8.0  # off-screen to the right
    k = (sh_degree + 1) ** 2 - 1
    return Gaussians(
        means=means,
        log_scales=torch.log(torch.rand(n, 3, generator=generator, dtype=dtype) * 0.12 + 0.01),
        quats=torch.randn(n, 4, generator=generator, dtype=dtype),
        logit_opacities=torch.randn(n, generator=generator, dtype=dtype) * 2.0,
        sh0=torch.randn(n, 3, generator=generator, dtype=dtype),
        shN=torch.randn(n, k, 3, generator=generator, dtype=dtype) * 0.3,
    )


# ---------------------------------------------------------------------------- analytic cases


def test_single_gaussian_matches_the_analytic_2d_gaussian():
    f, z, opacity = 50.0, 2.0, 0.8
    sigma2d = 2.0  # pixels, after the 0.3 px^2 low-pass
    s = math.sqrt(sigma2d**2 - LOW_PASS) * z / f  # world scale giving that footprint
    cams = _camera(33, 33, f)  # principal point (16.5, 16.5): the centre of pixel (16, 16)
    g = _gaussians([0.0, 0.0, z], [s, s, s], [opacity], [[0.2, 0.6, 1.0]])
    proj = project_gaussians(g, cams)
    assert torch.allclose(proj.means2d[0, 0], torch.tensor([16.5, 16.5], dtype=torch.float64))
    assert torch.allclose(proj.conics[0, 0], torch.tensor([1 / sigma2d**2, 0.0, 1 / sigma2d**2], dtype=torch.float64))
    out = render_torch(g, cams, BLACK, 0.01, 1e10, 0)
    a = out.alpha[0, :, :, 0]
    assert a[16, 16].item() == pytest.approx(opacity, rel=1e-9)
    assert a[16, 18].item() == pytest.approx(opacity * math.exp(-0.5), rel=1e-9)  # 1 sigma right
    assert a[12, 16].item() == pytest.approx(opacity * math.exp(-2.0), rel=1e-9)  # 2 sigma up
    assert a[18, 18].item() == pytest.approx(opacity * math.exp(-1.0), rel=1e-9)  # diagonal
    assert torch.allclose(out.rgb[0, 16, 16], torch.tensor([0.2, 0.6, 1.0], dtype=torch.float64) * opacity)
    assert out.depth[0, 16, 16, 0].item() == pytest.approx(z)
    # Far from the Gaussian: nothing (alpha below 1/255 is skipped), depth 0.
    assert a[0, 0].item() == 0.0 and out.depth[0, 0, 0, 0].item() == 0.0


def test_antialiased_mode_scales_opacity_by_the_low_pass_compensation():
    f, z, opacity = 50.0, 2.0, 0.8
    sx, sy = 1.5, 0.4  # pixels, before the 0.3 px^2 low-pass
    g = _gaussians([0.0, 0.0, z], [sx * z / f, sy * z / f, 0.01], [opacity], [[1.0, 1.0, 1.0]])
    cams = _camera(33, 33, f)
    comp = math.sqrt(sx**2 * sy**2 / ((sx**2 + LOW_PASS) * (sy**2 + LOW_PASS)))
    classic = project_gaussians(g, cams)
    aa = project_gaussians(g, cams, rasterize_mode="antialiased")
    assert torch.equal(classic.conics, aa.conics)  # the same footprint shape, only the opacity changes
    assert classic.opacities[0, 0].item() == pytest.approx(opacity, rel=1e-12)
    assert aa.opacities[0, 0].item() == pytest.approx(opacity * comp, rel=1e-9)
    for fn in (render_torch, _render_dense):
        out = fn(g, cams, BLACK, 0.01, 1e10, 0, rasterize_mode="antialiased")
        assert out.alpha[0, 16, 16, 0].item() == pytest.approx(opacity * comp, rel=1e-9)
    with pytest.raises(ValueError, match="unknown rasterize_mode 'mip'"):
        render(g, cams, rasterize_mode="mip")


def test_antialiased_mode_keeps_the_integrated_opacity_of_a_sub_pixel_gaussian():
    # A Gaussian of 0.25 px sigma: its alpha summed over pixels is o * 2 pi sigma^2 of the covariance it is
    # drawn with (times the share above the 1/255 cut, 1 - 1/(255 o)): with the low-pass in classic mode,
    # without it (the opacity compensated) in antialiased mode.
    f, z, opacity, s = 100.0, 2.0, 0.5, 0.25
    g = _gaussians([0.0, 0.0, z], [s * z / f, s * z / f, 0.001], [opacity], [[1.0, 1.0, 1.0]])
    cams = _camera(33, 33, f)

    def integral(o: float, var: float) -> float:
        return o * 2 * math.pi * var * (1 - 1 / (255 * o))

    classic = render(g, cams, backend="torch").alpha.sum().item()
    aa = render(g, cams, backend="torch", rasterize_mode="antialiased").alpha.sum().item()
    o_aa = opacity * s**2 / (s**2 + LOW_PASS)
    # (the few pixels inside the cut make the sums a few per cent off the integrals)
    assert classic == pytest.approx(integral(opacity, s**2 + LOW_PASS), rel=0.05)
    assert aa == pytest.approx(integral(o_aa, s**2 + LOW_PASS), rel=0.05)
    assert classic / aa > 5.0  # (s^2 + 0.3) / s^2 = 5.8: classic draws it 5.8 times as strong


def test_projected_covariance_of_a_rotated_off_axis_gaussian():
    f, W, H = 80.0, 64, 48
    mean = torch.tensor([0.3, -0.2, 2.5], dtype=torch.float64)
    scales = torch.tensor([0.05, 0.02, 0.08], dtype=torch.float64)
    quat = torch.nn.functional.normalize(torch.tensor([0.9, 0.2, -0.3, 0.1], dtype=torch.float64), dim=0)
    g = _gaussians(mean, scales, [0.9], [[1.0, 1.0, 1.0]], quats=quat)
    proj = project_gaussians(g, _camera(W, H, f))
    Rm = quat_to_rotmat(quat[None])[0]
    cov3 = Rm @ torch.diag(scales**2) @ Rm.T
    x, y, z = mean.tolist()
    J = torch.tensor([[f / z, 0, -f * x / z**2], [0, f / z, -f * y / z**2]], dtype=torch.float64)
    cov2 = J @ cov3 @ J.T + LOW_PASS * torch.eye(2, dtype=torch.float64)
    inv = torch.linalg.inv(cov2)
    assert torch.allclose(proj.conics[0, 0], torch.stack([inv[0, 0], inv[0, 1], inv[1, 1]]), rtol=1e-10)
    assert torch.allclose(proj.means2d[0, 0], torch.tensor([f * x / z + W / 2, f * y / z + H / 2], dtype=torch.float64))
    # Footprint: gsplat's opacity-aware box, ceil(sqrt(2 ln(255 o)) * sigma_axis).
    extend = math.sqrt(2 * math.log(255 * 0.9))
    expected = [math.ceil(extend * math.sqrt(cov2[0, 0])), math.ceil(extend * math.sqrt(cov2[1, 1]))]
    assert proj.radii[0, 0].tolist() == expected


def test_two_gaussians_composite_front_to_back_whatever_their_order():
    cams = _camera(17, 17, 40.0)  # both means project onto the centre of pixel (8, 8)
    red, green = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    front_first = _gaussians([[0, 0, 2.0], [0, 0, 3.0]], [0.2, 0.2, 0.2], [0.6, 0.9], [red, green])
    back_first = _gaussians([[0, 0, 3.0], [0, 0, 2.0]], [0.2, 0.2, 0.2], [0.9, 0.6], [green, red])
    w1, w2 = 0.6, (1 - 0.6) * 0.9
    alpha = w1 + w2
    for g in (front_first, back_first):
        for fn in (render_torch, _render_dense):
            out = fn(g, cams, torch.tensor([0.0, 0.0, 1.0]), 0.01, 1e10, 0)
            c = out.rgb[0, 8, 8]
            assert c[0].item() == pytest.approx(w1, rel=1e-9)
            assert c[1].item() == pytest.approx(w2, rel=1e-9)
            assert c[2].item() == pytest.approx(1 - alpha, rel=1e-9)  # blue background shows through
            assert out.alpha[0, 8, 8, 0].item() == pytest.approx(alpha, rel=1e-9)
            assert out.depth[0, 8, 8, 0].item() == pytest.approx((2.0 * w1 + 3.0 * w2) / alpha, rel=1e-9)


def test_compositing_stops_before_transmittance_reaches_1e_4():
    cams = _camera(9, 9, 10.0)  # means on the centre of pixel (4, 4)
    # Three nearly opaque layers: after two, T = 0.005^2 = 2.5e-5 <= 1e-4, so the second is dropped
    # (gsplat stops *before* the Gaussian that would bring T to 1e-4) and so is the third.
    g = _gaussians([[0, 0, 2.0], [0, 0, 2.5], [0, 0, 3.0]], [1.0, 1.0, 1.0], [0.995] * 3,
                   [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    for fn in (render_torch, _render_dense):
        out = fn(g, cams, BLACK, 0.01, 1e10, 0)
        assert out.alpha[0, 4, 4, 0].item() == pytest.approx(0.995, rel=1e-12)
        assert out.rgb[0, 4, 4].tolist() == pytest.approx([0.995, 0.0, 0.0], abs=1e-12)
        assert out.depth[0, 4, 4, 0].item() == pytest.approx(2.0, rel=1e-12)


def test_alpha_is_clamped_at_0999_and_near_plane_culls():
    cams = _camera(9, 9, 10.0)
    g = _gaussians([[0, 0, 2.0]], [1.0, 1.0, 1.0], [0.99999], [[1, 1, 1]])
    out = render_torch(g, cams, BLACK, 0.01, 1e10, 0)
    assert out.alpha.max().item() == pytest.approx(0.999, abs=1e-12)
    culled = render_torch(g, cams, BLACK, 2.5, 1e10, 0)  # mean depth 2 < near 2.5
    assert culled.alpha.abs().max().item() == 0.0
    far_culled = render_torch(g, cams, BLACK, 0.01, 1.5, 0)
    assert far_culled.alpha.abs().max().item() == 0.0


# ---------------------------------------------------------------------------- tiled == dense


@pytest.mark.parametrize(
    "tile_size, options, mode",
    [
        (8, None, "classic"),
        (16, None, "classic"),
        (4, RasterOptions(first_chunk=4, max_chunk=16, block_elements=2048), "classic"),  # many rounds and blocks
        (8, None, "antialiased"),
    ],
)
def test_tiled_backend_equals_dense_reference_values_and_gradients(tile_size, options, mode):
    gen = torch.Generator().manual_seed(3)
    g = random_scene(150, gen, torch.float64, sh_degree=1)
    cams = Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0, 35.0], [0.0, 15.0], fov_y_deg=50.0, width=37, height=29)
    cams = Cameras.cat([Cameras(viewmats=torch.eye(4)[None], Ks=cams.Ks[:1], width=37, height=29), cams])
    bg = torch.tensor([0.1, 0.5, 0.9])
    params = fields(g)
    for p in params:
        p.requires_grad_(True)
    weights = torch.randn(3, 29, 37, 5, generator=gen, dtype=torch.float64)

    def run(fn, **kw):
        out = fn(g, cams, bg, 0.01, 1e10, 1, rasterize_mode=mode, **kw)
        image = torch.cat([out.rgb, out.alpha, out.depth], dim=-1)
        return image, torch.autograd.grad((image * weights).sum(), params)

    tiled, g_tiled = run(render_torch, tile_size=tile_size, options=options)
    dense, g_dense = run(_render_dense)
    assert dense[..., 3].max() > 0.9 and (dense[..., 3] == 0).any()  # opaque and empty pixels exist
    assert torch.allclose(tiled, dense, atol=1e-11, rtol=0)
    for name, a, b in zip(["means", "log_scales", "quats", "logit_opacities", "sh0", "shN"], g_tiled, g_dense):
        assert b.abs().max() > 0, name
        assert torch.allclose(a, b, atol=1e-9 * b.abs().max().item(), rtol=0), name


@pytest.mark.parametrize("tile_size, mode", [(16, "classic"), (8, "classic"), (16, "antialiased")])
def test_compiled_forward_equals_dense_reference(tile_size, mode):
    """The compiled kernel (per-Gaussian pixel boxes, per-pixel early stop) composites what the
    every-pixel reference does, in float64 to rounding, with opaque and empty pixels in the scene."""
    pytest.importorskip("numba")
    gen = torch.Generator().manual_seed(7)
    g = random_scene(300, gen, torch.float64, sh_degree=1)
    cams = Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0, 35.0], [0.0, 15.0], fov_y_deg=50.0, width=45, height=38)
    bg = torch.tensor([0.1, 0.5, 0.9])
    with torch.no_grad():
        compiled = render_torch(g, cams, bg, 0.01, 1e10, 1, tile_size=tile_size, rasterize_mode=mode)
        dense = _render_dense(g, cams, bg, 0.01, 1e10, 1, rasterize_mode=mode)
    assert dense.alpha.max() > 0.99 and (dense.alpha == 0).any()
    for name in ("rgb", "alpha", "depth"):
        a, b = getattr(compiled, name), getattr(dense, name)
        assert a.dtype == torch.float64
        assert torch.allclose(a, b, atol=1e-10, rtol=0), (name, (a - b).abs().max().item())


def test_compiled_renders_from_several_threads_at_once_equal_one_at_a_time():
    """The app renders two requests at once: the compiled kernel's worker threads never mix them."""
    pytest.importorskip("numba")
    from concurrent.futures import ThreadPoolExecutor

    gen = torch.Generator().manual_seed(8)
    scenes = [random_scene(500, gen, torch.float32, sh_degree=0) for _ in range(4)]
    cams = Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0, 90.0], 0.0, fov_y_deg=50.0, width=64, height=48)
    with torch.no_grad():
        alone = [render(g, cams, background=1.0, backend="torch").rgb for g in scenes]
        with ThreadPoolExecutor(max_workers=4) as pool:
            together = list(pool.map(lambda g: render(g, cams, background=1.0, backend="torch").rgb, scenes))
    for a, b in zip(alone, together):
        assert torch.equal(a, b)
    assert not torch.equal(alone[0], alone[1])


def test_tiled_backend_float32_close_to_dense_reference():
    gen = torch.Generator().manual_seed(5)
    g = random_scene(400, gen, torch.float32, sh_degree=0)
    cams = Cameras.orbit((0.0, 0.0, 3.0), 3.0, [10.0], 0.0, fov_y_deg=50.0, width=48, height=40)
    tiled = render(g, cams, background=1.0, backend="torch")
    dense = _render_dense(g, cams, torch.ones(3), 0.01, 1e10, 0)
    diff = (tiled.rgb - dense.rgb).abs()
    # float32: polynomial evaluation differs by ~1e-5; a pixel right at the 1e-4 stop may flip.
    assert diff.mean() < 1e-5 and torch.quantile(diff.flatten(), 0.99) < 1e-4


def test_gradients_match_finite_differences():
    gen = torch.Generator().manual_seed(11)
    cams = _camera(12, 10, 12.0)
    # Large, half-transparent Gaussians: every pixel far above the 1/255 cut and far from the
    # 0.999 clamp and the 1e-4 stop, so the image is smooth in every parameter.
    means = torch.tensor([[0.05, -0.05, 2.0], [-0.1, 0.08, 2.4], [0.12, 0.1, 2.9]], dtype=torch.float64)
    g = Gaussians(
        means=means,
        log_scales=torch.log(torch.tensor([[1.1, 1.3, 1.0], [1.2, 1.0, 1.4], [1.5, 1.1, 1.2]], dtype=torch.float64)),
        quats=torch.randn(3, 4, generator=gen, dtype=torch.float64),
        logit_opacities=torch.tensor([0.2, -0.3, 0.1], dtype=torch.float64),
        sh0=torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.5,
        shN=torch.randn(3, 3, 3, generator=gen, dtype=torch.float64) * 0.2,
    )

    def fn(*tensors):
        gs = Gaussians(*tensors)
        out = render_torch(gs, cams, torch.tensor([0.3, 0.2, 0.1]), 0.01, 1e10, 1)
        return torch.cat([out.rgb, out.alpha, out.depth], dim=-1)

    inputs = tuple(t.clone().requires_grad_(True) for t in fields(g))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_no_grad_path_equals_grad_path_and_empty_scene_is_background():
    gen = torch.Generator().manual_seed(2)
    g = random_scene(60, gen, torch.float32, sh_degree=0)
    cams = _camera(20, 16, 20.0)
    with torch.no_grad():
        fast = render(g, cams, background=(0.2, 0.4, 0.6), backend="torch")
    g.means.requires_grad_(True)
    slow = render(g, cams, background=(0.2, 0.4, 0.6), backend="torch")
    assert slow.rgb.requires_grad and not fast.rgb.requires_grad
    # the PyTorch rounds without a gradient are the same arithmetic as with one; the compiled
    # kernel (the no-grad default where numba is installed) agrees to float32 rounding
    with torch.no_grad():
        rounds = render_torch(g, cams, torch.tensor([0.2, 0.4, 0.6]), 0.01, 1e10, 0, options=RasterOptions(compiled=False))
    assert torch.equal(rounds.rgb, slow.rgb.detach())
    assert (fast.rgb - slow.rgb.detach()).abs().max() < 1e-5
    empty = render(Gaussians.empty(), cams, background=(0.2, 0.4, 0.6), backend="torch")
    assert isinstance(empty, RenderOutput)
    assert empty.rgb.shape == (1, 16, 20, 3)
    assert torch.allclose(empty.rgb, torch.tensor([0.2, 0.4, 0.6]).expand(1, 16, 20, 3))
    assert empty.alpha.abs().max() == 0 and empty.depth.abs().max() == 0


def test_binning_lists_are_depth_sorted_and_complete():
    gen = torch.Generator().manual_seed(4)
    g = random_scene(120, gen, torch.float32, sh_degree=0)
    cams = _camera(40, 24, 30.0)
    proj = project_gaussians(g, cams)
    bins = bin_gaussians(proj.means2d, proj.radii, proj.depths, 40, 24, tile_size=8)
    assert (bins.tiles_x, bins.tiles_y, bins.n_tiles) == (5, 3, 15)
    assert bins.offsets[-1] == bins.flat_ids.numel()
    depths = proj.depths.reshape(-1)
    for t in range(bins.n_tiles):
        ids = bins.flat_ids[bins.offsets[t] : bins.offsets[t + 1]]
        assert (depths[ids][1:] >= depths[ids][:-1]).all()
    # Every visible Gaussian is listed in the tile holding its (on-screen) mean.
    vis = torch.nonzero(proj.visible[0]).squeeze(1)
    for gid in vis.tolist():
        u, v = proj.means2d[0, gid].tolist()
        if 0 <= u < 40 and 0 <= v < 24:
            t = int(v // 8) * 5 + int(u // 8)
            assert gid in bins.flat_ids[bins.offsets[t] : bins.offsets[t + 1]].tolist()


# ---------------------------------------------------------------------------- conventions


def test_a_point_in_front_of_the_camera_lands_on_its_pixel():
    cams = _camera(64, 48, 100.0)  # cx = 32, cy = 24
    point = torch.tensor([[0.105, -0.055, 1.0]])  # u = 42.5, v = 18.5: centre of pixel (18, 42)
    uv, _ = cams.project(point)
    assert torch.allclose(uv[0, 0], torch.tensor([42.5, 18.5]))
    g = _gaussians(point, [0.002, 0.002, 0.002], [0.9], [[1.0, 1.0, 1.0]], dtype=torch.float32)
    alpha = render(g, cams, backend="torch").alpha[0, :, :, 0]
    assert divmod(int(alpha.argmax()), 64) == (18, 42)


def _coloured_box() -> Gaussians:
    """A 0.6 m cube at (0, 0, 3) whose faces are opaque sheets: -z blue (faces the input camera),
    +x red (the subject's left), +z green (back), -x yellow."""
    faces = {(2, -1): (0.0, 0.0, 1.0), (0, 1): (1.0, 0.0, 0.0), (2, 1): (0.0, 1.0, 0.0), (0, -1): (1.0, 1.0, 0.0)}
    grid = torch.linspace(-0.25, 0.25, 11)
    a, b = torch.meshgrid(grid, grid, indexing="ij")
    means, colours = [], []
    for (axis, sign), rgb in faces.items():
        p = torch.zeros(a.numel(), 3)
        others = [i for i in range(3) if i != axis]
        p[:, others[0]] = a.flatten()
        p[:, others[1]] = b.flatten()
        p[:, axis] = 0.3 * sign
        means.append(p + torch.tensor([0.0, 0.0, 3.0]))
        colours.append(torch.tensor(rgb).expand(a.numel(), 3))
    means = torch.cat(means)
    return _gaussians(means, [0.04, 0.04, 0.04], torch.full((len(means),), 0.95), torch.cat(colours),
                      dtype=torch.float32)


@pytest.mark.parametrize("azimuth, colour", [(0.0, (0, 0, 1)), (90.0, (1, 0, 0)), (180.0, (0, 1, 0)), (270.0, (1, 1, 0))])
def test_orbit_azimuths_see_the_expected_side(azimuth, colour):
    cams = Cameras.orbit((0.0, 0.0, 3.0), 3.0, [azimuth], 0.0, fov_y_deg=30.0, width=32, height=32)
    out = render(_coloured_box(), cams, backend="torch")
    centre = out.rgb[0, 12:20, 12:20].reshape(-1, 3).mean(0)
    assert torch.allclose(centre, torch.tensor(colour, dtype=torch.float32), atol=0.05), centre


@pytest.mark.parametrize("elevation, colour", [(60.0, (1, 1, 1)), (-60.0, (1, 0, 1))])
def test_elevation_above_sees_the_top(elevation, colour):
    # Close the box: white top (y = -0.3, up is -y) and magenta bottom (y = +0.3).
    grid = torch.linspace(-0.25, 0.25, 11)
    a, b = torch.meshgrid(grid, grid, indexing="ij")
    sheets = []
    for y, rgb in ((-0.3, (1.0, 1.0, 1.0)), (0.3, (1.0, 0.0, 1.0))):
        means = torch.stack([a.flatten(), torch.full((a.numel(),), y), b.flatten() + 3.0], dim=-1)
        sheets.append(_gaussians(means, [0.04, 0.04, 0.04], torch.full((len(means),), 0.95),
                                 torch.tensor(rgb).expand(len(means), 3), dtype=torch.float32))
    box = Gaussians.cat([_coloured_box()] + sheets)
    out = render(box, Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0], elevation, 30.0, 32, 32), backend="torch")
    centre = out.rgb[0, 13:19, 13:19].reshape(-1, 3).mean(0)
    assert torch.allclose(centre, torch.tensor(colour, dtype=torch.float32), atol=0.05), centre


def test_sh_dc_colour_and_background():
    cams = _camera(9, 9, 10.0)
    g = _gaussians([[0, 0, 2.0]], [1.0, 1.0, 1.0], [0.5], [[0.25, 0.5, 0.75]])
    assert torch.allclose(g.sh0 * SH_C0 + 0.5, torch.tensor([[0.25, 0.5, 0.75]], dtype=torch.float64))
    out = render(g, cams, background=1.0, backend="torch")
    a = out.alpha[0, 4, 4, 0]
    assert torch.allclose(out.rgb[0, 4, 4], torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64) * a + (1 - a))


def test_render_rejects_unknown_backend_and_gsplat_without_cuda():
    g = _gaussians([[0, 0, 2.0]], [0.1, 0.1, 0.1], [0.5], [[1, 1, 1]], dtype=torch.float32)
    cams = _camera(8, 8, 10.0)
    with pytest.raises(ValueError, match="unknown render backend 'nope'"):
        render(g, cams, backend="nope")
    if not torch.cuda.is_available():
        with pytest.raises((ImportError, ValueError), match="gsplat|CUDA"):
            render(g, cams, backend="gsplat")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_gsplat_agrees_with_torch_backend(mode):
    pytest.importorskip("gsplat")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_render", Path(__file__).resolve().parents[1] / "benchmarks" / "render.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    g = bench.human_surface_gaussians(10_000, torch.Generator().manual_seed(0))
    cams = Cameras.orbit((0.0, 0.0, 2.5), 2.5, [0.0, 70.0], [0.0, 10.0], fov_y_deg=45.0, width=256, height=256)
    ours = render(g, cams, background=1.0, backend="torch", rasterize_mode=mode)
    theirs = render(g.to("cuda"), cams, background=1.0, backend="gsplat", rasterize_mode=mode)
    for name in ("rgb", "alpha"):
        diff = (getattr(ours, name) - getattr(theirs, name).cpu()).abs()
        assert diff.mean() <= 1e-3, (name, diff.mean())
    both = (ours.alpha > 0.5) & (theirs.alpha.cpu() > 0.5)
    assert (ours.depth - theirs.depth.cpu()).abs()[both].mean() <= 1e-3


def test_rotmat_to_quat_inverts_quat_to_rotmat():
    from humansplat.geometry import quat_to_rotmat, rotmat_to_quat

    gen = torch.Generator().manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(500, 4, generator=gen, dtype=torch.float64), dim=-1)
    q[:4] = torch.eye(4, dtype=torch.float64)  # identity and the 180 deg turns about x, y, z
    back = rotmat_to_quat(quat_to_rotmat(q))
    sign = torch.sign((back * q).sum(-1, keepdim=True))  # q and -q are the same rotation
    assert torch.allclose(back * sign, q, atol=1e-9)


def _sheet(sigma_px: float, f: float = 100.0, z: float = 2.0, n: int = 24) -> Gaussians:
    """A camera-facing n x n grid of flat Gaussians one pixel apart, in-plane sigma ``sigma_px`` pixels."""
    step = z / f
    ij = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1).reshape(-1, 2).double()
    means = torch.cat([(ij - n / 2 + 0.5) * step, torch.full((n * n, 1), z, dtype=torch.float64)], dim=1)
    s = sigma_px * step
    return _gaussians(means, [s, s, 0.2 * s], torch.full((n * n,), 0.98), torch.full((n * n, 3), 0.5))


def test_cover_surface_makes_a_sub_pixel_sheet_solid_in_antialiased_mode():
    from humansplat.prior_mode.coverage import MIN_SIGMA_PX, cover_surface

    f = 100.0
    cams = _camera(32, 32, f)
    thin = _sheet(0.3, f)
    covered = cover_surface(thin, cams)
    px = covered.scales * f / 2.0  # pixels at depth 2 m
    assert torch.allclose(px[:, :2], torch.full_like(px[:, :2], MIN_SIGMA_PX))  # in-plane axes raised
    assert torch.allclose(px[:, 2], torch.full_like(px[:, 2], 0.06))  # the normal axis stays thin
    assert torch.equal(covered.means, thin.means) and torch.equal(covered.sh0, thin.sh0)
    # one sheet's opacity inside, anti-aliased (classic: >= 0.995 for all three): 0.3 px splats are
    # see-through (0.44), the 0.5 px floor gives 0.83 (the prior's layers behind close the rest), 0.6 px 0.93
    inner = (slice(8, 24), slice(8, 24))
    for g, lo, hi in ((thin, 0.40, 0.50), (covered, 0.80, 0.86), (_sheet(0.6, f), 0.90, 0.95)):
        for mode, lo_mode, hi_mode in (("classic", 0.995, 1.0), ("antialiased", lo, hi)):
            a = render(g, cams, backend="torch", rasterize_mode=mode).alpha[0, ..., 0][inner]
            assert lo_mode <= a.min().item() and a.max().item() <= hi_mode, (mode, a.min().item(), a.max().item())
    with pytest.raises(ValueError, match="min_sigma_px must be > 0"):
        cover_surface(thin, cams, 0.0)
