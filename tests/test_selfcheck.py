"""``humansplat-selfcheck`` on the CPU: end to end with the tiny random synthesizer (geometry check
skipped, said so), and the geometry check itself on views whose truth is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _fixtures_app import EXAMPLES
from _fixtures_n1 import one_thread  # noqa: F401 - fixture
from PIL import Image

from humansplat import selfcheck

pytestmark = pytest.mark.usefixtures("one_thread")


def test_selfcheck_runs_end_to_end_with_the_tiny_synthesizer(tmp_path, capsys):
    assert all((EXAMPLES / name).is_file() for name in selfcheck.EXAMPLES)  # the default photos are bundled
    photo = EXAMPLES / selfcheck.EXAMPLES[0]
    status = selfcheck.main(["--tiny", "--fit-steps", "1", "-o", str(tmp_path), str(photo)])
    out = capsys.readouterr().out
    assert status == 0
    assert "geometry check skipped: the synthesizer has random weights (tiny random (untrained))" in out
    report = json.loads((tmp_path / "selfcheck.json").read_text())
    assert report["synthesizer"] == "tiny random (untrained)" and report["peak_gpu_memory_gib"] is None
    assert report["frames"] == 18 and report["geometry"].startswith("skipped")
    (check,) = report["photos"]
    assert set(check["seconds"]) == {"load", "detect", "fit", "prior", "synthesize", "views_fit"}
    assert all(v >= 0 for v in check["seconds"].values()) and check["seconds"]["synthesize"] > 0
    assert len(check["azimuths_deg"]) == 18 and check["ious"] == []
    sheet = np.asarray(Image.open(tmp_path / "contact_sheet.png"))
    assert sheet.shape[1] > 18 * 32 and sheet.shape[0] > 3 * 32  # input, views, views + body: 18 columns
    assert selfcheck.main(["--tiny", "-o", str(tmp_path), str(tmp_path / "missing.png")]) == 2


def test_geometry_check_passes_true_views_and_fails_a_turned_orbit():
    from humansplat.multiview.framing import orbit_view_cameras, prepare_synthesizer_input
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.render.mesh import rasterize_mesh

    person = make_synthetic_person(seed=0, size=128)
    fit = person.as_body_fit()
    camera = prepare_synthesizer_input(person.crop, 64).camera
    azimuths = [0.0, 90.0, 180.0, 270.0]
    cams = orbit_view_cameras(fit, camera, azimuths)
    truth = [rasterize_mesh(person.vertices, person.faces, cams[i]).coverage.numpy() for i in range(4)]
    views = np.stack([np.where(c[..., None], 90, 255).astype(np.uint8).repeat(3, -1) for c in truth])
    ious = selfcheck.silhouette_ious(fit, views, cams)
    assert min(ious) > 0.95  # the body that made the views
    turned = orbit_view_cameras(fit, camera, [a + 90.0 for a in azimuths])  # an orbit a quarter turn off
    wrong = selfcheck.silhouette_ious(fit, views, turned)
    assert max(wrong) < selfcheck.IOU_THRESHOLD < min(ious), wrong
    outlined = selfcheck.body_outline(views, fit, cams)
    assert ((outlined == (230, 30, 30)).all(-1)).sum() > 0 and outlined.shape == views.shape
