"""``python -m humansplat.prior``: files written per photo, bad photos skipped (no MediaPipe needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from humansplat.prior.__main__ import main


def test_cli_writes_overlays_json_and_meshes(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image at all")
    out = tmp_path / "out"
    rc = main([str(bad), "--synthetic", "4", "--size", "256", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 1  # one input was skipped
    assert "skipped" in captured.err and "notes.jpg" in captured.err
    assert not (out / "notes").exists()
    folder = out / "synthetic_4"
    assert "synthetic_4" in captured.out and "IoU" in captured.out
    for name in ("landmarks.png", "mask.png", "body.png"):
        with Image.open(folder / name) as im:
            assert im.size == (256, 256) and im.mode == "RGB"
    data = json.loads((folder / "body.json").read_text())
    assert data["schema"] == "humansplat.body/1" and data["backend"] == "anny"
    assert np.asarray(data["pose"]).shape == (len(data["pose_groups"]), 3) and len(data["pose_groups"]) == 16
    assert data["errors"]["silhouette_iou"] > 0.8 and data["errors"]["landmark_error_pct"] < 3
    assert len(data["params"]["translation"]) == 3 and data["params"]["translation"][2] > 0.5
    assert np.asarray(data["camera"]["K"]).shape == (3, 3)

    import trimesh

    obj = trimesh.load(folder / "body.obj", process=False, force="mesh")
    glb = trimesh.load(folder / "body.glb", force="mesh")
    assert len(obj.vertices) == data["mesh"]["vertex_count"] and len(obj.faces) == data["mesh"]["face_count"]
    assert len(glb.faces) == data["mesh"]["face_count"]
    assert np.allclose(obj.vertices, data["mesh"]["vertices"], atol=1e-5)  # body.json holds the same mesh
    # OBJ: camera frame (person in front, z > 0); GLB: glTF axes (z flipped).
    assert obj.vertices[:, 2].mean() > 0.5 and glb.vertices[:, 2].mean() < -0.5
    assert np.allclose(np.sort(obj.vertices[:, 0]), np.sort(glb.vertices[:, 0]), atol=1e-5)


def test_cli_usage(tmp_path, capsys):
    for argv in (["-o", str(tmp_path)], ["--synthetic", "1", "--backend", "nonsense", "-o", str(tmp_path / "o")],
                 ["--synthetic", "1", "--size", "8", "-o", str(tmp_path / "o")]):
        with pytest.raises(SystemExit) as exc:  # usage errors: status 2 before any photo
            main(argv)
        assert exc.value.code == 2, argv
    err = capsys.readouterr().err
    assert "nothing to do" in err and "'nonsense'" in err and "--size" in err
    assert not (tmp_path / "o").exists()
    done = subprocess.run([sys.executable, "-m", "humansplat.prior", "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "--synthetic" in done.stdout and "PHOTO" not in done.stderr
    assert "0 every photo was done; 1 some photos failed" in " ".join(done.stdout.split())
