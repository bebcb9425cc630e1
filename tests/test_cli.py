"""The ``humansplat`` command line, end to end on the synthetic person saved as a PNG.

One real run of the whole chain (photo -> detector -> body fit -> prior-mode Gaussians -> views,
turntable, files) on a small image; a broken file in the same folder must be reported and skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from humansplat.cli import collect_inputs, main
from humansplat.prior.synthetic import make_synthetic_person

FRAMES = 3
RES = 96


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A folder with a good photo, a broken .png and a text file, processed once by the CLI."""
    src = tmp_path_factory.mktemp("photos")
    person = make_synthetic_person(seed=0, size=256)
    Image.fromarray(person.crop.rgb).save(src / "person.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (src / "notes.txt").write_text("not a photo")
    out = tmp_path_factory.mktemp("out")
    code = main([str(src), "-o", str(out), "--mode", "prior", "--frames", str(FRAMES), "--resolution", str(RES),
                 "--mesh-resolution", "48", "-q"])
    return code, out, src


def test_exit_code_and_summary(run):
    code, out, _ = run
    assert code == 1  # broken.png failed (person.png was written)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] == 1 and summary["failed"] == 1
    by_name = {Path(e["input"]).name: e for e in summary["entries"]}
    assert by_name["person.png"]["status"] == "ok"
    assert by_name["broken.png"]["status"] == "failed" and by_name["broken.png"]["error"]
    assert by_name["notes.txt"]["status"] == "skipped"
    assert not (out / "broken").exists()


def test_every_file_exists_and_parses(run):
    import imageio.v3 as iio
    import plyfile
    import trimesh

    from humansplat.io.ply import load_ply

    _, out, _ = run
    folder = out / "person"
    report = json.loads((folder / "report.json").read_text())
    assert report["mode"] == "prior" and report["weights"] == {}
    assert "no network weights" in report["network_weights"]
    assert report["quality"]["input_view_alpha_iou"] > 0.9 and report["quality"]["input_view_psnr_db"] > 25
    assert {"load", "detect", "fit", "reconstruct", "views", "turntable", "save_ply"} <= set(report["timings_s"])
    assert set(report["files"]) == {"gaussians.ply", "gaussians.splat", "turntable.mp4", "views.png", "mesh.glb",
                                    "body.json", "report.json"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(report["files"])

    g = load_ply(folder / "gaussians.ply")
    assert len(g) == report["gaussians"] > 1000
    ply = plyfile.PlyData.read(str(folder / "gaussians.ply"))
    assert ply["vertex"].count == len(g)
    assert {"x", "y", "z", "opacity", "f_dc_0", "scale_0", "rot_0"} <= {p.name for p in ply["vertex"].properties}

    frames = iio.imread(folder / "turntable.mp4", plugin="pyav") if _has_pyav() else _read_ffmpeg(folder / "turntable.mp4")
    assert len(frames) == FRAMES and frames[0].shape[:2] == (RES, RES)

    views = np.asarray(Image.open(folder / "views.png"))
    assert views.shape == (RES, 4 * RES, 3)

    scene = trimesh.load(folder / "mesh.glb")
    mesh = scene.to_geometry() if isinstance(scene, trimesh.Scene) else scene
    assert len(mesh.faces) > 100 and mesh.visual.kind == "vertex"
    ext = mesh.bounds[1] - mesh.bounds[0]
    assert 1.0 < ext[1] < 2.5 and ext[1] > ext[0]  # a standing person, y-up in glTF

    body = json.loads((folder / "body.json").read_text())
    assert body["schema"] == "humansplat.body/1" and body["backend"] == "anny" and body["mesh"]["vertex_count"] > 1000
    assert np.asarray(body["camera"]["K"]).shape == (3, 3) and "silhouette_iou" in body["errors"]


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _read_ffmpeg(path: Path) -> list[np.ndarray]:
    import imageio.v2 as iio2

    with iio2.get_reader(str(path), format="ffmpeg") as reader:
        return [np.asarray(f) for f in reader]


def test_all_bad_inputs_exit_non_zero(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    code = main([str(bad), str(tmp_path / "missing.png"), "-o", str(tmp_path / "out"), "-q", "--frames", "0"])
    assert code == 1
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "missing.png" in err and "0 reconstructed" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ok"] == 0 and {e["status"] for e in summary["entries"]} == {"failed", "skipped"}


@pytest.mark.parametrize(
    "options, message",
    [
        (["--frames", "-2"], "frames -2 is out of range"),
        (["--resolution", "4000"], "resolution 4000 is out of range"),
        (["--mode", "fast"], "invalid choice: 'fast'"),
        (["--mode", "full"], "full mode cannot run: no weights here"),
        (["--device", "nonsense"], "unknown device 'nonsense'"),
        (["--fps", "0"], "--fps >= 1"),
    ],
)
def test_bad_arguments_exit_2_before_any_photo(tmp_path, monkeypatch, capsys, options, message):
    """An option wrong for every photo is one usage error (status 2), not one failure per photo."""
    import humansplat.api as api

    monkeypatch.setattr(api, "network_status", lambda: (False, "no weights here"))
    monkeypatch.setattr(api, "reconstruct", _must_not_run)
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), *options])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _must_not_run(*args, **kwargs):
    raise AssertionError("a photo was processed despite a usage error")


def test_exit_status_0_all_done_1_some_failed(tmp_path, monkeypatch):
    import humansplat.api as api
    from humansplat.errors import InputError

    class _Result:
        timings = {"fit": 0.1}
        mode = "prior"
        quality: dict = {}

        def summary(self) -> str:
            return "ok"

        def save(self, folder, **kwargs):
            return {}

    def fake_reconstruct(path, **kwargs):
        if "bad" in Path(path).name:
            raise InputError("no person in this photo")
        return _Result()

    monkeypatch.setattr(api, "reconstruct", fake_reconstruct)
    for name in ("good1.png", "good2.png", "bad.png"):
        (tmp_path / name).write_bytes(b"x")
    args = ["-o", str(tmp_path / "o"), "-q", "--frames", "0"]
    assert main([str(tmp_path / "good1.png"), str(tmp_path / "good2.png"), *args]) == 0
    assert main([str(tmp_path / "good1.png"), str(tmp_path / "bad.png"), *args]) == 1
    assert main([str(tmp_path / "good1.png"), str(tmp_path / "missing.png"), *args]) == 1


def test_help_states_the_exit_status_rule():
    from humansplat.cli import EXIT_STATUS, build_parser

    text = " ".join(build_parser().format_help().split())
    assert "0 every photo was done; 1 some photos failed" in text and "2 usage error" in text
    assert EXIT_STATUS.startswith("exit status: 0")


def test_collect_inputs_sorts_folders_and_reports_others(tmp_path):
    (tmp_path / "b.JPG").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / "readme.md").write_text("x")
    photos, skipped = collect_inputs([tmp_path, tmp_path / "nope.png"])
    assert [p.name for p in photos] == ["a.png", "b.JPG"]
    assert {p.name for p, _ in skipped} == {"readme.md", "nope.png"}
