"""Novel-view evaluation (humansplat.eval): the built-in subjects, the harness's frames and height
alignment, the metrics, the CLI.

Most tests plug an oracle into ``evaluate(reconstruct_fn=...)``: the ground truth converted to
Gaussians (perfect), rotated, scaled or empty, so they take seconds; one test runs real prior mode.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from humansplat.eval import (
    BUILTIN_SUBJECTS,
    EvalSubject,
    align_to_box,
    alpha_box,
    builtin_subjects,
    evaluate,
    harness,
    make_input_view,
    mesh_to_gaussians,
    perfect_reconstruction,
    score_view,
    view_group,
)
from humansplat.eval import __main__ as cli
from humansplat.gaussians import Gaussians
from humansplat.parts import PART_NAMES
from humansplat.render.mesh import render_mesh, vertex_normals

SIZE = 128
SIDE_GROUPS = ("near side", "side", "far side", "back")


@pytest.fixture(scope="module")
def subjects() -> dict[str, EvalSubject]:
    return {s.name: s for s in builtin_subjects()}


@pytest.fixture(scope="module")
def marked(subjects) -> EvalSubject:
    """arms_sideways with a pure red marker on its left flank (x > 0, facing +x): visible from
    azimuth +90 (the subject's left), hidden from 270."""
    s = subjects["arms_sideways"]
    mesh = s.mesh
    n = vertex_normals(mesh.vertices, mesh.faces)
    flank = (mesh.parts == PART_NAMES.index("torso")) & (mesh.vertices[:, 0] > 0) & (n[:, 0] > 0.6)
    colors = mesh.vertex_colors.clone()
    colors[flank] = torch.tensor([1.0, 0.0, 0.0])
    return EvalSubject("marked", replace(mesh, vertex_colors=colors))


def _perfect(photo, view):
    return perfect_reconstruction(view)


def _red(rgb: np.ndarray) -> int:
    return int(((rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum())


@pytest.fixture(scope="module")
def perfect_report(marked):
    return evaluate([marked], input_azimuths=(30.0,), size=SIZE, reconstruct_fn=_perfect, keep_images=True, use_lpips=False)


# ------------------------------------------------------------------------------ built-in subjects
def test_builtin_subjects_are_in_the_scan_frame_with_parts(subjects):
    assert tuple(subjects) == BUILTIN_SUBJECTS and len(subjects) >= 5
    for s in subjects.values():
        v = s.mesh.vertices
        lo, hi = v.min(0).values, v.max(0).values
        assert abs(float(lo[1])) < 1e-5, s.name  # feet at y = 0
        assert abs(float(lo[0] + hi[0])) < 1e-4 and abs(float(lo[2] + hi[2])) < 1e-4, s.name  # centred on x/z
        assert 1.4 < s.height_m < 2.1, (s.name, s.height_m)
        assert s.mesh.parts is not None and s.mesh.vertex_colors is not None
        assert len(s.mesh.vertices) > 20_000  # refined so patterns fit
    # the face looks at +Z: face vertices lie in front of the head's centre
    v, parts = subjects["jacket"].mesh.vertices, subjects["jacket"].mesh.parts
    assert float(v[parts == PART_NAMES.index("face"), 2].mean()) > float(v[parts == PART_NAMES.index("head"), 2].mean())
    with pytest.raises(ValueError, match="unknown built-in subject.*'nobody'.*jacket"):
        builtin_subjects(["nobody"])
    # deterministic and cached: two builds are equal
    again = builtin_subjects(["dress"])[0]
    assert torch.equal(again.mesh.vertex_colors, subjects["dress"].mesh.vertex_colors)


def test_front_and_back_differ_and_the_jacket_back_is_dark(subjects):
    """The back is not the mirrored front (so it cannot be guessed), checked on renders."""
    for s in subjects.values():
        view = make_input_view(s, 0.0, 64, render_scale=1)
        cams = view.orbit([0.0, 180.0], 64)
        out = render_mesh(view.mesh, cams, supersample=1)
        torso = out.parts[:, PART_NAMES.index("torso")] > 0.5  # (2, H, W)
        front, back = out.rgb[0], out.rgb[1].flip(1)  # the back view mirrored left-right
        both = (out.alpha[0] > 0.5) & (out.alpha[1].flip(1) > 0.5)
        diff = float((front - back).abs().sum(-1)[both].mean())
        assert diff > 0.08, f"{s.name}: back looks like the mirrored front (mean |diff| {diff:.3f})"
        if s.name == "jacket":
            back_torso = out.rgb[1][torso[1]].mean(0)
            front_torso = out.rgb[0][torso[0]].mean(0)
            assert float(back_torso.max()) < 0.25, f"jacket back is not dark: {back_torso.tolist()}"
            assert float(front_torso.mean()) > float(back_torso.mean()) + 0.15  # the light shirt shows in front


# ------------------------------------------------------------------------------ metrics
def test_view_groups_and_metrics_basics():
    assert [view_group(a) for a in (None, 0, 45, 315, 90, 270, 135, 225, 180)] == [
        "input", "front", "near side", "near side", "side", "side", "far side", "far side", "back"]
    rgb = np.ones((32, 32, 3), np.float32)
    alpha = np.zeros((32, 32), np.float32)
    alpha[8:24, 10:20] = 1.0
    rgb[alpha > 0] = (0.2, 0.4, 0.6)
    same = score_view(rgb, alpha, rgb, alpha)
    assert same.psnr == 100.0 and same.iou == 1.0 and same.ssim == pytest.approx(1.0)
    assert alpha_box(alpha) == (10.0, 8.0, 20.0, 24.0)
    # a silhouette twice as big, moved: aligned onto the first one's box it matches again
    big_a = np.zeros((64, 64), np.float32)
    big_a[20:52, 30:50] = 1.0
    big_rgb = np.ones((64, 64, 3), np.float32)
    big_rgb[big_a > 0] = (0.2, 0.4, 0.6)
    warped_rgb, warped_a = align_to_box(big_rgb[::2, ::2], big_a[::2, ::2], (10.0, 8.0, 20.0, 24.0))
    assert score_view(rgb, alpha, warped_rgb, warped_a).iou > 0.95
    assert score_view(rgb, alpha, big_rgb[::2, ::2], big_a[::2, ::2]).iou < 0.5


# ------------------------------------------------------------------------------ harness
def test_perfect_reconstruction_scores_high_on_every_view(perfect_report):
    r = perfect_report
    assert not r.failures and len(r.views) == 9  # input + 8 orbit views
    assert [v.view for v in r.views] == ["input", "0", "45", "90", "135", "180", "225", "270", "315"]
    for v in r.views:
        assert v.raw.psnr >= 28.0, (v.view, v.raw)
        assert v.raw.iou >= 0.9, (v.view, v.raw)
        assert v.aligned.psnr >= 26.0, (v.view, v.aligned)
    assert r.runs[0].scale == pytest.approx(1.0, abs=0.01)
    assert "LPIPS skipped" in r.lpips_note
    rows = {row.group: row for row in r.table()}
    assert rows["side"].views == 2 and rows["back"].views == 1 and rows["input"].views == 1


def test_view_at_plus_90_shows_the_subjects_left_in_truth_and_prediction(perfect_report):
    im = perfect_report.runs[0].images
    left, right = im.index("90"), im.index("270")
    assert _red(im.truth_rgb[left]) > 15 and _red(im.pred_rgb[left]) > 15
    assert _red(im.truth_rgb[right]) <= 2 and _red(im.pred_rgb[right]) <= 2
    assert _red(im.truth_rgb[im.index("0")]) < _red(im.truth_rgb[left])


def test_rotated_reconstruction_scores_lower_on_sides_and_back(marked, perfect_report):
    def rotated(photo, view):
        g = perfect_reconstruction(view)
        R = torch.tensor([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])  # 180 deg about the up axis
        return replace(g, means=(g.means - view.centre) @ R.T + view.centre)

    r = evaluate([marked], input_azimuths=(30.0,), size=SIZE, reconstruct_fn=rotated, keep_images=True, use_lpips=False)
    good = {row.group: row.raw for row in perfect_report.table()}
    bad = {row.group: row.raw for row in r.table()}
    for g in SIDE_GROUPS:
        assert bad[g]["psnr"] < good[g]["psnr"] - 3.0, (g, bad[g], good[g])
    # the red flank now shows on the wrong side
    im = r.runs[0].images
    assert _red(im.pred_rgb[im.index("90")]) <= 2 and _red(im.pred_rgb[im.index("270")]) > 15


def test_height_alignment_undoes_scale_about_the_camera(marked):
    def scaled(photo, view):
        g = perfect_reconstruction(view)
        return replace(g, means=g.means * 1.2, log_scales=g.log_scales + math.log(1.2))

    r = evaluate([marked], input_azimuths=(0.0,), size=SIZE, reconstruct_fn=scaled, use_lpips=False)
    assert r.runs[0].scale == pytest.approx(1 / 1.2, rel=0.01)
    assert r.runs[0].predicted_height_m == pytest.approx(1.2 * r.runs[0].true_height_m, rel=0.01)
    for v in r.views:
        assert v.raw.psnr >= 28.0, (v.view, v.raw)


def test_empty_reconstruction_scores_iou_zero_and_failures_are_recorded(marked):
    calls = []

    def empty(photo):
        calls.append(photo.shape)
        if len(calls) == 2:
            raise RuntimeError("no person found (test)")
        return Gaussians.empty()

    r = evaluate([marked], input_azimuths=(0.0, 30.0), size=64, reconstruct_fn=empty, use_lpips=False)
    assert calls == [(64, 64, 3), (64, 64, 3)]
    assert len(r.views) == 9 and all(v.raw.iou == 0.0 and v.aligned.iou == 0.0 for v in r.views)
    assert [f.input_azimuth for f in r.failures] == [30.0] and "no person found (test)" in r.failures[0].error
    assert "FAILED marked @ +30 deg" in r.summary()
    with pytest.raises(ValueError, match="size"):
        evaluate([marked], size=8, reconstruct_fn=empty)


def test_input_camera_sees_the_subject_filling_85_percent(subjects):
    view = make_input_view(subjects["jacket"], 30.0, 96)
    box = alpha_box(view.alpha)
    assert (box[3] - box[1]) / 96 == pytest.approx(0.85, abs=0.03)
    assert abs(0.5 * (box[1] + box[3]) - 48) < 4  # level camera at mid-height
    assert view.photo.dtype == np.uint8 and view.photo.shape == (96, 96, 3)
    assert (view.photo[0, 0] == 255).all()  # white background
    # the orbit camera at the input azimuth is the input camera
    cam = view.orbit([30.0], 96)
    assert torch.allclose(cam.viewmats, view.camera.viewmats, atol=1e-5)
    # azimuth +90 in the subject frame puts the camera on the subject's left (+X). The photo at +30 is
    # taken from the subject's front-left, so its left side turns towards the camera (-z) and right
    # (+x): the world direction of +X is (cos 30, 0, -sin 30) (OpenCV axes)
    c = view.orbit([90.0], 96).centers[0] - view.centre
    expected = torch.tensor([math.cos(math.radians(30)), 0.0, -math.sin(math.radians(30))])
    assert torch.allclose(torch.nn.functional.normalize(c, dim=0), expected, atol=1e-4)
    left_hand = view.mesh.vertices[subjects["jacket"].mesh.vertices[:, 0] > 0.25]  # the subject's left hand
    right_hand = view.mesh.vertices[subjects["jacket"].mesh.vertices[:, 0] < -0.25]
    assert float(left_hand[:, 2].mean()) < float(right_hand[:, 2].mean())  # nearer the camera


def test_portrait_framing_shows_head_and_shoulders_and_depth_alignment_undoes_scale(subjects):
    """The portrait photo (0.75 m, looking 0.22 m below the top of the head) shows the head whole and
    the body cut at the bottom edge; depth alignment undoes a scale about the camera."""
    from humansplat.eval import PORTRAIT_DISTANCE_M, align_depth

    view = make_input_view(subjects["jacket"], 0.0, 96, framing="portrait")
    assert view.framing == "portrait" and view.distance == PORTRAIT_DISTANCE_M
    cover = view.alpha > 0.5
    rows = np.nonzero(cover.any(axis=1))[0]
    assert 3 <= rows[0] <= 25  # the top of the head, below the top edge
    assert cover[-1].sum() > 40  # shoulders and chest run out of the bottom edge
    head_row = cover[rows[0] + 10]
    assert 10 < head_row.sum() < 45  # a head, not the shoulders, near the top
    depth = view.depth[cover]
    assert 0.6 < float(np.median(depth)) < 0.8  # the face is about 0.75 m - a few cm away
    assert view.orbit([0.0], 96).centers[0].norm() < 1e-4  # azimuth 0 is the input camera
    # depth alignment: the truth as Gaussians (coarse), scaled about the camera by 1.15
    g = mesh_to_gaussians(view.mesh, spacing=0.008, scale=0.6, opacity=0.99)
    big = replace(g, means=g.means * 1.15, log_scales=g.log_scales + math.log(1.15))
    back, k = align_depth(big, view.depth, view.camera)
    assert k == pytest.approx(1 / 1.15, rel=0.02)
    torch.testing.assert_close(back.means, g.means, rtol=0.02, atol=0.02)
    with pytest.raises(ValueError, match="framing"):
        make_input_view(subjects["jacket"], 0.0, 96, framing="bust")


# ------------------------------------------------------------------------------ CLI
def test_cli_writes_json_and_sheets(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(harness, "_pipeline_reconstructor", lambda mode, device: _perfect)
    code = cli.main(["--subjects", "arms_sideways", "--azimuths", "0", "--size", "64", "-o", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["mode"] == "prior" and data["size"] == 64 and data["input_azimuths"] == [0.0]
    assert [row["group"] for row in data["table"]] == ["input", "front", "near side", "side", "far side", "back"]
    assert len(data["views"]) == 9 and data["runs"][0]["error"] is None and "images" not in data["runs"][0]
    sheet = tmp_path / "sheets" / "arms_sideways.png"
    from PIL import Image

    w, h = Image.open(sheet).size
    assert w > 9 * 64 and h > 2 * 64
    assert "| side (90/270) | 2 |" in out and "LPIPS" in out


def test_cli_exit_codes(tmp_path, monkeypatch, capsys):
    def fail(photo):
        raise RuntimeError("detector failed (test)")

    monkeypatch.setattr(harness, "_pipeline_reconstructor", lambda mode, device: fail)
    assert cli.main(["--subjects", "dress", "--azimuths", "0", "--size", "48", "-o", str(tmp_path), "--no-progress"]) == 1
    assert "FAILED dress" in capsys.readouterr().out
    assert cli.main(["--subjects", "nobody", "-o", str(tmp_path)]) == 2
    assert "unknown built-in subject" in capsys.readouterr().err
    assert cli.main(["--azimuths", "zero", "-o", str(tmp_path)]) == 2
    assert cli.main(["--scans", str(tmp_path / "missing"), "-o", str(tmp_path)]) == 2
    assert cli.main(["--size", "64"]) == 2  # -o is required
    assert cli.main(["--mode", "fast", "-o", str(tmp_path)]) == 2


# ------------------------------------------------------------------------------ real prior mode
def test_prior_mode_runs_on_a_builtin_subject(subjects):
    r = evaluate([subjects["jacket"]], mode="prior", input_azimuths=(0.0,), size=128, use_lpips=False, device="cpu")
    assert not r.failures, r.summary()
    run = r.runs[0]
    assert run.gaussians > 1000 and any("prior" in n for n in run.notes)
    assert 0.8 < run.scale < 1.25, run
    rows = {row.group: row for row in r.table()}
    assert rows["input"].raw["iou"] > 0.8 and rows["input"].raw["psnr"] > 20.0, rows["input"]
    assert rows["back"].raw["psnr"] < rows["input"].raw["psnr"]  # the unseen back is harder


def test_scans_folder_becomes_subjects(tmp_path, monkeypatch, capsys, subjects):
    """A scan written in the scan frame comes back as the same subject."""
    import trimesh

    from humansplat.eval import scan_subjects

    truth = subjects["arms_touching"].mesh
    colors = (truth.vertex_colors.numpy() * 255).round().astype(np.uint8)
    trimesh.Trimesh(truth.vertices.numpy(), truth.faces.numpy(), vertex_colors=colors, process=False).export(tmp_path / "person.ply")
    loaded = scan_subjects(tmp_path)
    assert [s.name for s in loaded] == ["person"]
    assert torch.allclose(loaded[0].mesh.vertices, truth.vertices, atol=1e-4)
    monkeypatch.setattr(harness, "_pipeline_reconstructor", lambda mode, device: _perfect)
    out = tmp_path / "out"
    assert cli.main(["--scans", str(tmp_path), "--azimuths", "0", "--size", "48", "-o", str(out), "--no-progress"]) == 0
    assert (out / "sheets" / "person.png").is_file()
    assert json.loads((out / "report.json").read_text())["runs"][0]["subject"] == "person"
