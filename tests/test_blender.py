"""Our .glb files as a Blender user gets them: Blender's own glTF importer, run headless.

Needs Debian's ``blender`` and ``python3-numpy`` (its glTF importer uses numpy; README step 2 installs
both); skips with the reason otherwise. ``tests/blender_import.py`` runs inside Blender and reports
what it imported as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLENDER = shutil.which("blender")
pytestmark = pytest.mark.skipif(BLENDER is None, reason="Blender is not installed (apt-get install blender python3-numpy)")


@pytest.fixture(scope="module")
def avatar_and_gaussians():
    from humansplat.animate import bind
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.prior_mode.build import gaussians_from_prior

    fit = make_synthetic_person(seed=0, size=96).as_body_fit()
    gaussians = gaussians_from_prior(fit)
    return bind(gaussians, fit), gaussians, fit


def _blender_import(glb: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{glb.stem}.json"
    # Blender's embedded Python takes its standard library from the first python3 on PATH: put the
    # system's (the one Blender was built against, with Debian's numpy) before any virtualenv's.
    path = os.pathsep.join([str(Path(BLENDER).resolve().parent), os.environ.get("PATH", "")])
    run = subprocess.run(
        [BLENDER, "-b", "--factory-startup", "--python", str(ROOT / "tests" / "blender_import.py"), "--", str(glb), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PATH": path},
    )
    assert out.exists(), f"Blender wrote no report (exit {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    return json.loads(out.read_text())


def test_rigged_avatar_imports_with_its_skeleton_skin_and_one_action_per_motion(avatar_and_gaussians, tmp_path):
    from humansplat.animate import MOTIONS, save_rigged_glb

    avatar, _, fit = avatar_and_gaussians
    glb = save_rigged_glb(avatar, tmp_path / "avatar_rigged.glb", body_fit=fit, mesh_resolution=48)
    report = _blender_import(glb, tmp_path)
    assert list(report["armatures"].values()) == [len(avatar.rig.joint_names)]  # one armature, every bone
    skinned = [m for m in report["meshes"].values() if m["skinned"]]
    assert len(skinned) == 1 and skinned[0]["vertices"] > 500
    assert skinned[0]["vertex_groups"] == len(avatar.rig.joint_names)
    rig = next(iter(report["armatures"]))  # Blender names an imported clip "<clip>_<armature>"
    actions = {name.removesuffix(f"_{rig}"): span for name, span in report["actions"].items()}
    assert set(actions) == set(MOTIONS), report["actions"]
    assert all(last > first for first, last in actions.values())
    moved = {name.removesuffix(f"_{rig}"): m for name, m in report["moved_m"].items()}
    assert moved["walk"] > 0.05, moved  # a walk frame is not the rest pose (metres)


def test_mesh_glb_imports_as_one_static_mesh(avatar_and_gaussians, tmp_path):
    from humansplat.io.mesh import save_glb

    _, gaussians, _ = avatar_and_gaussians
    report = _blender_import(save_glb(gaussians, tmp_path / "mesh.glb", resolution=64), tmp_path)
    assert report["armatures"] == {} and report["actions"] == {}
    assert len(report["meshes"]) == 1 and next(iter(report["meshes"].values()))["vertices"] > 1000
