"""Prior mode: Gaussians from the fitted body and the photo (humansplat.prior_mode.build).

Runs on the project's synthetic person with its true body (``as_body_fit``), so the numbers test the
reconstruction, not the body fit. 256-pixel crops keep the renders fast on CPU.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.avatar_views import back_coverage, input_view_quality, orbit_framing
from humansplat.render.mesh import rasterize_mesh
from humansplat.prior.synthetic import make_synthetic_person
from humansplat.imaging import boundary_pixels, harmonic_fill, nearest_fill
from humansplat.prior_mode import placement, surfaces
from humansplat.prior_mode.build import PriorOptions, gaussians_from_prior
from humansplat.prior_mode.surfaces import prior_surfaces
from humansplat.render import render

SIZE = 256


@pytest.fixture(scope="module")
def person():
    return make_synthetic_person(seed=0, size=SIZE)


@pytest.fixture(scope="module")
def fit(person):
    return person.as_body_fit()


@pytest.fixture(scope="module")
def gaussians(fit):
    return gaussians_from_prior(fit)


@pytest.fixture(scope="module")
def orbit(gaussians, fit):
    """Front, left, back, right cameras around the body and the renders (alpha)."""
    centre, radius, fov = orbit_framing(gaussians, fit)
    cams = Cameras.orbit(centre, radius, [0.0, 90.0, 180.0, 270.0], 0.0, fov, SIZE, SIZE)
    with torch.no_grad():
        out = render(gaussians, cams, background=1.0)
    return cams, out.alpha[..., 0].numpy()


# ------------------------------------------------------------------------------------ fills
def test_harmonic_fill_reproduces_a_linear_ramp_between_known_columns():
    H, W = 12, 20
    ramp = np.tile(np.linspace(1.0, 3.0, W), (H, 1))
    known = np.zeros((H, W), bool)
    known[:, 0] = known[:, -1] = True
    out = harmonic_fill(ramp, known, np.ones((H, W), bool), default=0.0, eps=0.0 + 1e-12)
    np.testing.assert_allclose(out, ramp, atol=1e-6)


def test_harmonic_fill_region_without_data_tends_to_default_and_zero_boundary_pulls_down():
    dom = np.zeros((10, 30), bool)
    dom[2:8, 2:10] = True  # island without known pixels
    dom[2:8, 15:28] = True
    known = np.zeros_like(dom)
    known[4:6, 20:23] = True
    vals = np.full(dom.shape, 5.0)
    out = harmonic_fill(vals, known, dom, default=2.0)
    np.testing.assert_allclose(out[2:8, 2:10], 2.0, atol=1e-6)
    assert abs(out[2, 15] - 5.0) < 0.05  # Neumann: far from data it stays near the data
    out0 = harmonic_fill(vals, known, dom, default=0.0, zero_boundary=~dom)
    assert out0[2, 15] < 2.5 < out0[4, 19]  # 0 at the silhouette, 5 on the data


def test_nearest_fill_and_boundary_pixels():
    vals = np.zeros((5, 5), np.int64)
    known = np.zeros((5, 5), bool)
    vals[0, 0], vals[4, 4] = 7, 9
    known[0, 0] = known[4, 4] = True
    out = nearest_fill(vals, known)
    assert out[1, 0] == 7 and out[3, 4] == 9
    with pytest.raises(ValueError, match="at least one known"):
        nearest_fill(vals, np.zeros_like(known))
    m = np.zeros((6, 6), bool)
    m[1:5, 1:5] = True
    b = boundary_pixels(m)
    assert b.sum() == 12 and not b[2:4, 2:4].any()
    assert boundary_pixels(np.ones((3, 3), bool)).sum() == 8  # the image border counts as outside


# ------------------------------------------------------------------------------------ surfaces
def test_surfaces_follow_the_body_and_close_behind_it(fit, monkeypatch):
    with monkeypatch.context() as naked:  # clothes add no depth: the body's own surfaces
        naked.setattr(surfaces, "CLOTHING_DEPTH", 0.0)
        surf = prior_surfaces(fit, PriorOptions(geometry_resolution=128))
    cam = fit.camera.resize(128, 128)
    body = rasterize_mesh(fit.vertices, fit.faces, cam)
    both = surf.body & body.coverage.numpy()
    assert both.sum() > 500
    np.testing.assert_allclose(surf.front_depth[both], body.depth.numpy()[both], atol=1e-4)  # the body's surface, exactly
    # clothes beyond the body's outline add depth in front (never behind the body's surface), capped
    dressed = prior_surfaces(fit, PriorOptions(geometry_resolution=128))
    extra = body.depth.numpy()[both] - dressed.front_depth[both]
    assert extra.min() >= -1e-4 and extra.max() <= surfaces.CLOTHING_MAX_M + 1e-4
    thick = surf.back_depth - surf.front_depth
    assert (thick[surf.mask] > 0).all()
    assert 0.1 < float(np.percentile(thick[surf.body], 90)) < 0.5  # a torso is ~0.2 m deep


def test_visible_layer_is_one_gaussian_per_foreground_pixel_on_its_ray(fit, gaussians):
    mask = fit.crop.mask > 0.5
    n = int(mask.sum())
    assert len(gaussians) > 1.2 * n  # + back layer + walls
    uv, z = fit.camera.project(gaussians.means[:n])
    ii, jj = np.nonzero(mask)
    centres = np.stack([jj + 0.5, ii + 0.5], -1)
    err = np.abs(uv[0].numpy() - centres).max(-1)
    assert np.median(err) < 1e-3 and err.max() < 0.5  # silhouette Gaussians sit at most 0.2 px inside
    from humansplat.render.projection import eval_sh

    g0 = gaussians_from_prior(fit, PriorOptions(colour_iterations=0))
    vis = g0[:n]
    dirs = torch.nn.functional.normalize(vis.means - fit.camera.centers[0], dim=-1)
    seen = eval_sh(vis.sh, dirs, vis.sh_degree)  # colour towards the input camera
    # blended with the white background by the Gaussian's opacity (partly covered silhouette pixels)
    a = (vis.opacities / placement.OPACITY)[:, None]
    blend = a * seen + (1 - a)
    np.testing.assert_allclose(blend.numpy(), fit.crop.rgb[mask] / 255.0, atol=0.05)
    inner = (a[:, 0] > 0.999).numpy()
    assert inner.mean() > 0.8
    np.testing.assert_allclose(seen.numpy()[inner], fit.crop.rgb[mask][inner] / 255.0, atol=2e-3)
    side = eval_sh(vis.sh, torch.linalg.cross(dirs, torch.tensor([[0.0, 1.0, 0.0]]).expand_as(dirs), dim=-1), 1)
    np.testing.assert_allclose(side.numpy(), vis.rgb.numpy(), atol=2e-3)  # from the side: the DC colour
    corr = (gaussians.rgb[:n] - g0.rgb[:n]).abs()
    assert 0 < float(corr.mean()) < 0.05  # the colour pass corrects a little
    assert (z > 0).all()


# ------------------------------------------------------------------------------------ quality
def test_input_view_psnr_and_alpha_iou(gaussians, fit):
    q = input_view_quality(gaussians, fit)
    assert q["input_view_psnr_db"] >= 30.0, q
    assert q["input_view_alpha_iou"] >= 0.97, q


def test_back_view_covers_the_body(orbit, fit):
    cams, alpha = orbit
    cov = back_coverage(alpha[2], fit, cams[2])
    assert cov >= 0.98, f"back view covers {cov:.3f} of the body's back silhouette"


def test_side_views_have_the_body_thickness_not_a_card(orbit, fit):
    cams, alpha = orbit
    for k in (1, 3):
        sil = rasterize_mesh(fit.vertices, fit.faces, cams[k]).coverage.numpy()
        pred = alpha[k] >= 0.5
        widths_body = sil.sum(axis=1)
        widths_pred = pred.sum(axis=1)
        rows = widths_body > 3
        ratio = float(np.median(widths_pred[rows] / widths_body[rows]))
        assert 0.8 < ratio < 1.3, f"side view {k}: alpha width / body depth extent = {ratio:.2f}"
        iou = (pred & sil).sum() / (pred | sil).sum()
        assert iou > 0.75, f"side view {k}: IoU with the body's side silhouette {iou:.3f}"
        holes = (sil & (alpha[k] < 0.2)).mean() / sil.mean()
        assert holes < 0.03, f"side view {k}: {holes:.3f} of the body silhouette is see-through"


def test_back_of_the_head_has_no_face_colour(fit):
    """The back layer takes the hair colour on the head, not the face seen in the photo."""
    from humansplat.parts import PART_NAMES

    g, layers = gaussians_from_prior(fit, return_layers=True)
    assert layers["visible"].stop == layers["back"].start and layers["back"].stop == layers["far"].start
    assert layers["far"].stop == layers["walls"].start and layers["walls"].stop == len(g)
    surf = prior_surfaces(fit, PriorOptions())
    S = surf.front_part.shape[0]
    back = g[layers["back"]]
    uv, _ = fit.camera.resize(S, S).project(back.means)
    px = uv[0].long().clamp(0, S - 1).numpy()
    on_face = surf.front_part[px[:, 1], px[:, 0]] == PART_NAMES.index("face")
    assert on_face.sum() > 5
    spread = back.rgb.numpy()[on_face].std(axis=0).max()
    assert spread < 0.02, "one hair colour expected on the back of the head"


# ------------------------------------------------------------------------------------ robustness
def test_loose_clothes_beyond_the_body_are_covered_at_plausible_depth(fit):
    from scipy.ndimage import binary_dilation

    mask = fit.crop.mask > 0.5
    wide = binary_dilation(mask, iterations=6)  # a coat / dress around the body
    rgb = fit.crop.rgb.copy()
    rgb[wide & ~mask] = (120, 60, 20)
    loose = replace(fit, crop=replace(fit.crop, mask=wide.astype(np.float32), rgb=rgb))
    g = gaussians_from_prior(loose)
    q = input_view_quality(g, loose)
    assert q["input_view_alpha_iou"] >= 0.97 and q["input_view_psnr_db"] >= 30.0, q
    z = fit.camera.project(fit.vertices)[1][0]
    gz = fit.camera.project(g.means)[1][0]
    assert float(gz.min()) > float(z.min()) - 0.15 and float(gz.max()) < float(z.max()) + 0.15


def test_misplaced_body_still_gives_a_closed_avatar(fit):
    """A body fit far off the person (no overlap with the mask) falls back to the silhouette."""
    shifted = replace(fit, vertices=fit.vertices + torch.tensor([5.0, 0.0, 0.0]))
    g = gaussians_from_prior(shifted, PriorOptions(resolution=128, back_resolution=128, geometry_resolution=128))
    n = int((shifted.crop.mask > 0.5).sum())
    assert len(g) > n // 4 and torch.isfinite(g.means).all()
    z = g.means[:, 2]
    assert float(z.std()) < 0.5  # around the body's depth, not scattered


def test_options_are_checked():
    with pytest.raises(ValueError, match="geometry_resolution"):
        PriorOptions(geometry_resolution=4)
    with pytest.raises(ValueError, match="resolution"):
        PriorOptions(resolution=2)


def test_colour_iterations_improve_the_input_view(fit):
    opts = PriorOptions(resolution=128, back_resolution=128, geometry_resolution=128)
    small = replace(fit, camera=fit.camera.resize(128, 128),
                    crop=replace(fit.crop, rgb=fit.crop.rgb[::2, ::2].copy(), mask=fit.crop.mask[::2, ::2].copy(),
                                 camera=fit.camera.resize(128, 128)))
    q0 = input_view_quality(gaussians_from_prior(small, replace(opts, colour_iterations=0)), small)
    q1 = input_view_quality(gaussians_from_prior(small, replace(opts, colour_iterations=2)), small)
    assert q1["input_view_psnr_db"] > q0["input_view_psnr_db"] + 0.5, (q0, q1)
