"""``Result.save`` (the one writer of result files) and ``BodyFit.to_dict``/``from_dict`` (the one body schema).

Hand-made tiny Gaussians and body (no body model, no detector): runs in about a second.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _fixtures_r import make_gaussians
from PIL import Image

from humansplat.cameras import Cameras
from humansplat.prior.body_fit import BODY_SCHEMA, BodyFit
from humansplat.prior.body_models import POSE_GROUPS, BodyParams
from humansplat.prior.landmarks import Landmarks
from humansplat.prior.person import PersonCrop
from humansplat.result import RESULT_FILES, Result, turntable_fps

S = 64  # crop and view size, pixels


def _body_fit(seed: int = 0) -> BodyFit:
    """A body-like hand-made fit: a 200-vertex blob 2.5 m in front of the camera, 16 pose groups."""
    g = torch.Generator().manual_seed(seed)
    camera = Cameras.from_fov(40.0, S, S)
    verts = torch.randn(200, 3, generator=g) * torch.tensor([0.2, 0.8, 0.15]) + torch.tensor([0.0, 0.0, 2.5])
    crop = PersonCrop(
        rgb=np.full((S, S, 3), 200, np.uint8),
        mask=np.ones((S, S), np.float32),
        camera=camera,
        landmarks=Landmarks(body=np.random.default_rng(seed).uniform(0, S, (33, 2)).astype(np.float32),
                            body_confidence=np.linspace(0, 1, 33, dtype=np.float32)),
        people_found=2,
        cut_off=("bottom",),
        notes=["two people; the largest is used"],
        box=(10, 20, 300),
        photo_size=(640, 480),
        framing="half body",
    )
    pose = torch.randn(len(POSE_GROUPS), 3, generator=g) * 0.3
    params = BodyParams(
        global_orient=torch.tensor([3.1, 0.05, -0.02]), translation=torch.tensor([0.01, -0.1, 2.5]),
        body_pose=pose.clone(), shape=torch.rand(4, generator=g),
    )
    return BodyFit(
        backend="anny",
        pose=pose,
        shape={"height": torch.tensor(0.61), "weight": torch.tensor(0.47)},
        vertices=verts,
        faces=torch.randint(0, 200, (300, 3), generator=g),
        parts=torch.randint(0, 7, (200,), generator=g),
        joints=torch.randn(20, 3, generator=g),
        camera=camera,
        crop=crop,
        errors={"landmark_error_pct": 1.234567, "silhouette_iou": 0.9},
        params=params,
        landmarks3d=torch.randn(33, 3, generator=g),
        timings={"fit_total_s": 1.5},
    )


@pytest.fixture(scope="module")
def fit() -> BodyFit:
    return _body_fit()


def _result(fit: BodyFit, frames: int = 6) -> Result:
    rng = np.random.default_rng(0)
    gaussians = make_gaussians(500)
    gaussians = type(gaussians)(**{**gaussians.__dict__, "means": gaussians.means * 0.3 + torch.tensor([0, 0, 2.5])})
    return Result(
        gaussians=gaussians,
        body_fit=fit,
        views=rng.integers(0, 255, (4, S, S, 3), dtype=np.uint8),
        view_cameras=Cameras.orbit([0, 0, 2.5], 2.5, [0, 90, 180, 270], 0.0, 40.0, S, S),
        turntable=rng.integers(0, 255, (frames, S, S, 3), dtype=np.uint8),
        mode="prior",
        weights={},
        timings={"fit": 1.0, "reconstruct": 0.5},
        quality={"input_view_psnr_db": 33.3, "input_view_alpha_iou": 0.99, "back_coverage": 0.98},
        notes=["prior mode ran"],
    )


# ------------------------------------------------------------------------------------------ body schema
def _assert_same_body(a: BodyFit, b: BodyFit, atol: float = 2e-6) -> None:
    for name in ("pose", "vertices", "joints", "landmarks3d"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=atol), name
    assert torch.equal(a.faces, b.faces) and torch.equal(a.parts, b.parts)
    assert b.faces.dtype == torch.int64 and b.vertices.dtype == torch.float32
    assert a.shape.keys() == b.shape.keys() and all(torch.allclose(a.shape[k], b.shape[k], atol=atol) for k in a.shape)
    for name in ("global_orient", "translation", "body_pose", "shape"):
        assert torch.allclose(getattr(a.params, name), getattr(b.params, name), atol=atol), name
    assert torch.allclose(a.camera.viewmats, b.camera.viewmats, atol=atol)
    assert torch.allclose(a.camera.Ks, b.camera.Ks, atol=atol)
    assert (a.camera.width, a.camera.height) == (b.camera.width, b.camera.height)
    assert a.backend == b.backend and a.timings == b.timings
    assert a.errors.keys() == b.errors.keys() and all(abs(a.errors[k] - b.errors[k]) < 1e-9 for k in a.errors)


def test_body_round_trips_through_json(fit):
    data = json.loads(json.dumps(fit.to_dict()))
    assert data["schema"] == BODY_SCHEMA and data["pose_groups"] == list(POSE_GROUPS)
    assert data["mesh"]["vertex_count"] == 200 and len(data["mesh"]["vertices"]) == 200
    assert data["crop"]["box"] == [10, 20, 300] and data["crop"]["people_found"] == 2
    assert np.asarray(data["crop"]["landmarks_px"]["body"]).shape == (33, 2)
    assert "y down" in data["frame"] and "metres" in data["units"]
    back = BodyFit.from_dict(data)
    _assert_same_body(fit, back)
    assert back.crop is None  # body.json holds the crop's description, not its pixels
    assert BodyFit.from_dict(data, crop=fit.crop).crop is fit.crop
    assert json.loads(json.dumps(back.to_dict())) == {**data, "crop": None}  # a second trip changes nothing


def test_body_without_optional_parts_round_trips():
    fit = _body_fit(1)
    fit.params, fit.landmarks3d, fit.pose = None, None, torch.zeros(0)
    data = json.loads(json.dumps(fit.to_dict()))
    assert data["params"] is None and data["landmarks3d"] is None and data["pose_groups"] == []
    back = BodyFit.from_dict(data)
    assert back.params is None and back.landmarks3d is None and back.pose.numel() == 0
    assert torch.allclose(back.vertices, fit.vertices, atol=2e-6)


def test_body_summary_and_other_schemas_are_refused(fit):
    summary = fit.to_dict(include_mesh=False)
    assert "vertices" not in summary["mesh"] and summary["mesh"]["face_count"] == 300
    assert len(json.dumps(summary)) < len(json.dumps(fit.to_dict())) / 2
    with pytest.raises(ValueError, match="include_mesh=False"):
        BodyFit.from_dict(summary)
    with pytest.raises(ValueError, match=r"humansplat.body/1.*'humansplat.body/0'"):
        BodyFit.from_dict({**fit.to_dict(), "schema": "humansplat.body/0"})
    with pytest.raises(ValueError, match="None"):
        BodyFit.from_dict({"backend": "anny"})


# ------------------------------------------------------------------------------------------ Result.save
def test_result_save_writes_every_file_once_named(fit, tmp_path):
    import imageio.v3 as iio
    import trimesh

    from humansplat.io.ply import load_ply, load_splat

    result = _result(fit, frames=6)
    paths = result.save(tmp_path / "out", source="photo.jpg", mesh_resolution=16)
    assert set(paths) == set(RESULT_FILES) and all(p.name == RESULT_FILES[k] for k, p in paths.items())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(RESULT_FILES.values())
    assert torch.allclose(load_ply(paths["ply"]).means, result.gaussians.means, atol=1e-6)
    assert len(load_splat(paths["splat"])) == len(result.gaussians)
    assert len(trimesh.load(paths["glb"], force="mesh").faces) > 10
    assert np.asarray(Image.open(paths["views"])).shape == (S, 4 * S, 3)
    clip = np.stack(list(iio.imiter(paths["video"])))
    assert clip.shape[:3] == (6, S, S)
    _assert_same_body(fit, BodyFit.from_dict(json.loads(paths["body"].read_text())))
    report = json.loads(paths["report"].read_text())
    assert report["schema"] == "humansplat.report/1" and report["source"] == "photo.jpg"
    assert report["mode"] == "prior" and report["gaussians"] == 500 and report["framing"] == "half body"
    assert "half body photo" in result.summary()
    assert report["quality"]["input_view_psnr_db"] == 33.3 and report["quality"]["input_view_alpha_iou"] == 0.99
    assert set(report["files"]) == set(RESULT_FILES.values())
    assert {"fit", "reconstruct", "save_ply", "save_splat", "save_glb", "save_video"} <= set(report["timings_s"])


def test_result_save_without_turntable_and_fps(fit, tmp_path):
    paths = _result(fit, frames=0).save(tmp_path, mesh_resolution=16)
    assert "video" not in paths and not (tmp_path / RESULT_FILES["video"]).exists()
    assert RESULT_FILES["video"] not in json.loads(paths["report"].read_text())["files"]
    assert [turntable_fps(n) for n in (8, 24, 36, 72, 200)] == [8.0, 8.0, 12.0, 24.0, 24.0]


# ------------------------------------------------------------------------------------------ Result.load
def test_result_load_is_the_inverse_of_save(fit, tmp_path):
    result = _result(fit, frames=6)
    result.save(tmp_path / "out", mesh_resolution=16)
    back = Result.load(tmp_path / "out")
    assert torch.allclose(back.gaussians.means, result.gaussians.means, atol=1e-6)
    assert torch.allclose(back.gaussians.opacities, result.gaussians.opacities, atol=1e-5)
    assert len(back.gaussians) == len(result.gaussians)
    _assert_same_body(fit, back.body_fit)
    assert back.body_fit.crop is None and back.framing is None  # body.json holds the crop's description only
    assert np.array_equal(back.views, result.views)  # PNG: lossless
    assert torch.allclose(back.view_cameras.viewmats, result.view_cameras.viewmats, atol=1e-6)
    assert torch.allclose(back.view_cameras.Ks, result.view_cameras.Ks, atol=1e-6)
    assert (back.view_cameras.width, back.view_cameras.height) == (S, S)
    assert back.turntable.shape == result.turntable.shape and back.turntable.dtype == np.uint8  # H.264: lossy
    assert (back.mode, back.weights, back.quality, back.notes) == (result.mode, {}, result.quality, result.notes)
    assert back.timings["fit"] == 1.0 and back.timings["reconstruct"] == 0.5 and "save_glb" in back.timings
    assert Result.load(tmp_path / "out", turntable=False).turntable.shape == (0, S, S, 3)


def test_result_load_names_what_is_missing(fit, tmp_path):
    _result(fit, frames=0).save(tmp_path, mesh_resolution=16)
    assert len(Result.load(tmp_path).turntable) == 0  # no video was written: no frames
    (tmp_path / RESULT_FILES["body"]).unlink()
    with pytest.raises(FileNotFoundError, match="body.json missing"):
        Result.load(tmp_path)
    report = json.loads((tmp_path / RESULT_FILES["report"]).read_text())
    _result(fit, frames=0).body_fit.write_json(tmp_path / RESULT_FILES["body"])
    del report["view_cameras"]
    (tmp_path / RESULT_FILES["report"]).write_text(json.dumps(report))
    with pytest.raises(ValueError, match="view_cameras"):
        Result.load(tmp_path)
