"""Orbits turn about the fitted body's up axis (humansplat.orbit), not the input camera's vertical.

A synthetic person seen by a camera pitched 20 deg (the body rotated about the camera's x axis, i.e.
a photo from above) must give a level turntable: the body's up axis projects onto the image's
vertical in every frame, the body's height in pixels stays constant, and azimuth 180 is behind it.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.orbit import body_orbit, body_orbit_cameras, body_up_axis
from humansplat.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from humansplat.prior.synthetic import make_synthetic_person

PITCH_DEG = 20.0


def _rot_x(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _pitched(fit, deg: float):
    """The same body seen by a camera pitched by ``deg`` (the world = camera frame rotates)."""
    R = _rot_x(deg)
    turn = lambda x: x @ R.T  # noqa: E731
    params = dataclasses.replace(
        fit.params,
        global_orient=matrix_to_axis_angle(R @ axis_angle_to_matrix(fit.params.global_orient)),
        translation=R @ fit.params.translation,
    )
    return dataclasses.replace(
        fit, vertices=turn(fit.vertices), joints=turn(fit.joints), landmarks3d=turn(fit.landmarks3d), params=params
    )


@pytest.fixture(scope="module")
def fits():
    fit = make_synthetic_person(seed=5, size=64, yaw_deg=25.0).as_body_fit()
    return fit, _pitched(fit, -PITCH_DEG)


def _front(fit) -> torch.Tensor:
    """The body's front direction (model frame -z) in the world."""
    return axis_angle_to_matrix(fit.params.global_orient) @ torch.tensor([0.0, 0.0, -1.0])


def test_up_axis_follows_the_body(fits):
    upright, pitched = fits
    up0, up1 = body_up_axis(upright), body_up_axis(pitched)
    assert float(up0 @ torch.tensor([0.0, -1.0, 0.0])) > math.cos(math.radians(5))  # nearly -y (synthetic pitch <= 4 deg)
    angle = math.degrees(math.acos(float((up1 @ (_rot_x(-PITCH_DEG) @ up0)).clamp(-1, 1))))
    assert angle < 1e-3  # the pitched body's axis is the upright one's, pitched
    # without parameters: hips -> shoulders
    no_params = dataclasses.replace(pitched, params=None)
    assert float(body_up_axis(no_params) @ up1) > math.cos(math.radians(15))
    # a photo of a face alone does not tell the body's axis: the orbit turns about the photo's up
    face_only = dataclasses.replace(pitched, crop=dataclasses.replace(pitched.crop, framing="face only"))
    torch.testing.assert_close(body_up_axis(face_only), torch.tensor([0.0, -1.0, 0.0]))
    bust = dataclasses.replace(pitched, crop=dataclasses.replace(pitched.crop, framing="head and shoulders"))
    torch.testing.assert_close(body_up_axis(bust), up1)  # shoulders in the photo: the body's own axis


def test_pitched_turntable_is_level_and_steady(fits):
    _, fit = fits
    orbit = body_orbit(fit)
    cams = body_orbit_cameras(fit, torch.arange(12) * 30.0, 0.0, 128, 128)
    top = orbit.centre + 0.8 * orbit.up
    uv, _ = cams.project(torch.stack([orbit.centre, top]))
    # the up axis is the image's vertical, pointing up, in every frame
    du = uv[:, 1] - uv[:, 0]
    assert float(du[:, 0].abs().max()) < 1e-3 * 128 and bool((du[:, 1] < -10).all())
    # the person's height in pixels (soles to crown along the up axis) is the same in every frame
    along = (fit.vertices - orbit.centre) @ orbit.up
    ends = torch.stack([orbit.centre + along.max() * orbit.up, orbit.centre + along.min() * orbit.up])
    euv, _ = cams.project(ends)
    heights = (euv[:, 1] - euv[:, 0]).norm(dim=-1)
    assert float(heights.max() / heights.min()) < 1.01, heights
    assert 60 < float(heights.mean()) < 128
    # the old orbit (about the camera's vertical) tilts and wobbles for the same photo
    old = Cameras.orbit(orbit.centre, orbit.radius, torch.arange(12) * 30.0, 0.0, 40.0, 128, 128)
    uv_old, _ = old.project(torch.stack([orbit.centre, top]))
    assert float((uv_old[:, 1, 0] - uv_old[:, 0, 0]).abs().max()) > 10


def test_back_view_is_behind_the_person(fits):
    for fit in fits:
        orbit = body_orbit(fit)
        cams = body_orbit_cameras(fit, [0.0, 90.0, 180.0], 0.0, 64, 64)
        front = _front(fit)
        to_cam = cams.centers - orbit.centre
        assert float(to_cam[0] @ front) > 0.5 * orbit.radius  # azimuth 0 sees the front (yaw 25 deg)
        assert float(to_cam[2] @ front) < -0.5 * orbit.radius  # azimuth 180 sees the back
        assert abs(float(to_cam[2] @ orbit.up)) < 1e-4 * orbit.radius  # level with the body's centre
        assert float(to_cam[1, 0]) > 0  # azimuth 90: the +x side (the subject's left)
        assert all(abs(float(d.norm()) - orbit.radius) < 1e-4 for d in to_cam)


def test_orbit_up_default_is_the_old_convention_and_refuses_a_viewing_axis():
    az, el = torch.tensor([0.0, 30.0, 200.0]), torch.tensor([0.0, 20.0, -10.0])
    a, e = torch.deg2rad(az), torch.deg2rad(el)
    offset = torch.stack([torch.cos(e) * torch.sin(a), -torch.sin(e), -torch.cos(e) * torch.cos(a)], -1)
    cams = Cameras.orbit((0.0, 0.1, 3.0), 2.0, az, el)
    torch.testing.assert_close(cams.centers, torch.tensor([0.0, 0.1, 3.0]) + 2.0 * offset, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="parallel to the input camera's viewing axis"):
        Cameras.orbit((0.0, 0.0, 3.0), 2.0, [0.0], up=(0.0, 0.0, 1.0))


def test_a_half_body_is_centred_in_its_views():
    """The views look at the middle of the avatar along the body's axis: a half-body avatar (the body
    above mid-thigh) fills the middle of every view, not the top half of the whole body's frame."""
    from humansplat.avatar_views import orbit_cameras
    from humansplat.gaussians import Gaussians
    from humansplat.prior.synthetic import make_synthetic_person

    fit = make_synthetic_person(seed=0, size=96, framing="half").as_body_fit()
    orbit = body_orbit(fit)
    upper = fit.vertices[((fit.vertices - orbit.centre) @ orbit.up) > 0.0]  # the half above the body's centre
    n = len(upper)
    g = Gaussians.from_activated(upper, torch.full((n, 3), 0.01), torch.tensor([1.0, 0, 0, 0]).expand(n, 4),
                                 torch.full((n,), 0.9), torch.full((n, 3), 0.5))
    cams = orbit_cameras(g, fit, [0.0, 90.0, 180.0, 270.0], 96)
    uv, _ = cams.project(upper)
    rows = uv[..., 1]
    mid = 0.5 * (rows.quantile(0.005, dim=1) + rows.quantile(0.995, dim=1))
    assert (mid - 48.0).abs().max() < 4.0, mid  # vertically centred (before: about 20 px above the centre)
