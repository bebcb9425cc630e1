"""Camera convention: projection, rays, Plücker, crop/resize, orbits (humansplat.cameras)."""

from __future__ import annotations

import math

import pytest
import torch

from humansplat.cameras import Cameras, focal_to_fov, fov_to_focal, invert_rigid, look_at


def _points(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0])


def _cams() -> Cameras:
    return Cameras.orbit((0.0, 0.0, 3.0), 3.0, [0.0, 30.0, 200.0], [0.0, 20.0, -10.0], fov_y_deg=40.0,
                         width=64, height=48)


def test_fov_focal_round_trip_and_from_fov():
    assert fov_to_focal(90.0, 100) == pytest.approx(50.0)
    assert focal_to_fov(fov_to_focal(37.0, 512), 512) == pytest.approx(37.0)
    cams = Cameras.from_fov(60.0, 80, 60)
    assert cams.Ks[0, 1, 1].item() == pytest.approx(30.0 / math.tan(math.radians(30.0)))
    assert cams.Ks[0, 0, 2].item() == 40.0 and cams.Ks[0, 1, 2].item() == 30.0
    assert torch.equal(cams.viewmats[0], torch.eye(4))


def test_project_identity_camera_and_depth_sign():
    cams = Cameras.from_fov(90.0, 100, 100)  # f = 50, principal point (50, 50)
    uv, depth = cams.project(torch.tensor([[0.2, -0.4, 2.0], [0.0, 0.0, -1.0]]))
    assert torch.allclose(uv[0, 0], torch.tensor([55.0, 40.0]))
    assert depth[0].tolist() == [2.0, -1.0]  # behind the camera: negative depth


def test_look_at_is_rigid_and_looks_at_the_target():
    eyes = torch.tensor([[1.0, -0.5, 0.0], [-2.0, 0.3, 5.0]])
    target = torch.tensor([0.1, 0.2, 3.0])
    V = look_at(eyes, target)
    R = V[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(R), torch.ones(2), atol=1e-6)
    cams = Cameras(viewmats=V, Ks=Cameras.from_fov(40, 32, 32).Ks.expand(2, 3, 3), width=32, height=32)
    uv, depth = cams.project(target[None])
    assert torch.allclose(uv[:, 0], torch.tensor([16.0, 16.0]).expand(2, 2), atol=1e-4)  # image centre
    assert (depth > 0).all()
    assert torch.allclose(cams.centers, eyes, atol=1e-6)
    assert torch.allclose(invert_rigid(V) @ V, torch.eye(4).expand(2, 4, 4), atol=1e-6)
    with pytest.raises(ValueError, match="up axis"):
        look_at(torch.tensor([[0.0, -3.0, 0.0]]), torch.zeros(3))


def test_orbit_positions_follow_the_documented_convention():
    cams = Cameras.orbit((0.0, 0.0, 3.0), 2.0, [0.0, 90.0, 180.0, 0.0], [0.0, 0.0, 0.0, 30.0])
    c = cams.centers
    assert torch.allclose(c[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)  # input camera's side
    assert torch.allclose(c[1], torch.tensor([2.0, 0.0, 3.0]), atol=1e-5)  # +x: the subject's left
    assert torch.allclose(c[2], torch.tensor([0.0, 0.0, 5.0]), atol=1e-5)  # behind
    assert c[3, 1].item() == pytest.approx(-1.0, abs=1e-5)  # elevation raises the camera to -y (up)
    # Image "up" stays world up: a point above the centre projects above the image centre.
    uv, _ = cams.project(torch.tensor([[0.0, -0.3, 3.0]]))
    assert (uv[:, 0, 1] < cams.height / 2).all()
    tt = Cameras.turntable((0.0, 0.0, 3.0), 2.0, 4)
    assert torch.allclose(tt.centers, cams.centers[:3].new_tensor(
        [[0.0, 0.0, 1.0], [2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [-2.0, 0.0, 3.0]]), atol=1e-5)


def test_rays_pass_through_the_projected_points():
    cams, pts = _cams(), _points(20)
    uv, _ = cams.project(pts)
    for c in range(len(cams)):
        origins, dirs = cams[c].rays(uv[c])
        to_point = torch.nn.functional.normalize(pts - origins[0], dim=-1)
        assert torch.allclose(dirs[0], to_point, atol=1e-4)
        assert torch.allclose(dirs[0].norm(dim=-1), torch.ones(20), atol=1e-6)
    origins, dirs = cams.rays()  # every pixel centre
    assert dirs.shape == (3, 48, 64, 3) and origins.shape == (3, 48, 64, 3)
    # The ray through pixel (i, j) projects back onto that pixel's centre.
    back, _ = cams.project(origins[0, 10, 20] + 2.0 * dirs[0, 10, 20][None])
    assert torch.allclose(back[0, 0], torch.tensor([20.5, 10.5]), atol=1e-3)


def test_plucker_moment_is_the_same_for_every_point_on_the_ray():
    cams, pts = _cams(), _points(10)
    uv, _ = cams.project(pts)
    pl = cams[1].plucker(uv[1])
    assert pl.shape == (1, 10, 6)
    d, m = pl[0, :, :3], pl[0, :, 3:]
    assert torch.allclose(m, torch.linalg.cross(pts, d, dim=-1), atol=1e-4)  # p x d, p on the ray
    assert cams.plucker().shape == (3, 48, 64, 6)


def test_crop_and_resize_are_consistent_with_project():
    cams, pts = _cams(), _points(15)
    uv, _ = cams.project(pts)
    cropped = cams.crop(10.0, 6.0, 32, 24)
    uv_c, _ = cropped.project(pts)
    assert (cropped.width, cropped.height) == (32, 24)
    assert torch.allclose(uv_c, uv - torch.tensor([10.0, 6.0]), atol=1e-4)
    resized = cams.resize(128, 96)
    uv_r, _ = resized.project(pts)
    assert torch.allclose(uv_r, uv * 2.0, atol=1e-3)
    # Pixel centres stay pixel centres: the centre of pixel (0, 0) maps to the first 2x2 block's centre.
    _, d = cams[0].rays(torch.tensor([[0.5, 0.5]]))
    _, d2 = resized[0].rays(torch.tensor([[1.0, 1.0]]))
    assert torch.allclose(d, d2, atol=1e-6)


def test_indexing_cat_and_validation():
    cams = _cams()
    assert len(cams[1]) == 1 and len(cams[-1]) == 1 and len(cams[0:2]) == 2
    assert torch.equal(cams[-1].viewmats, cams.viewmats[2:])
    both = Cameras.cat([cams[0], cams[2]])
    assert len(both) == 2 and torch.equal(both.viewmats[1], cams.viewmats[2])
    with pytest.raises(ValueError, match="different image sizes"):
        Cameras.cat([cams, cams.resize(32, 24)])
    with pytest.raises(ValueError, match=r"viewmats must be \(C, 4, 4\)"):
        Cameras(viewmats=torch.eye(4), Ks=cams.Ks[:1], width=8, height=8)
    with pytest.raises(ValueError, match="image size must be positive"):
        Cameras(viewmats=cams.viewmats[:1], Ks=cams.Ks[:1], width=0, height=8)
    with pytest.raises(ValueError, match="intrinsics"):
        Cameras(viewmats=cams.viewmats, Ks=cams.Ks[:1], width=8, height=8)
