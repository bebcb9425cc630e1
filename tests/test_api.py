"""The staged pipeline (humansplat.api): stages, modes, Result, progress, thread safety.

The detector and the body fit are replaced by the synthetic person's crop and true body, so these
tests take seconds and test the pipeline's own logic; tests/test_cli.py runs the real chain once.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from humansplat import api, avatar_views
from humansplat.errors import InputError, WeightsUnavailableError
from humansplat.io.images import Photo
from humansplat.prior.synthetic import make_synthetic_person
from humansplat.result import Result

SIZE = 128
FAST = {"frames": 3, "resolution": 64}


@pytest.fixture(scope="module")
def person():
    return make_synthetic_person(seed=1, size=SIZE)


@pytest.fixture
def stubbed(monkeypatch, person):
    """detect_person / fit_body return the synthetic crop and true body; records the calls."""
    import humansplat.prior.fit as fit_mod
    import humansplat.prior.person as person_mod

    calls = {"detect": 0, "fit": 0, "fit_kwargs": None}

    def detect(photo, size=512):
        calls["detect"] += 1
        return person.crop

    def fit(crop, backend="anny", **kw):
        calls["fit"] += 1
        calls["fit_kwargs"] = kw
        return person.as_body_fit()

    monkeypatch.setattr(person_mod, "detect_person", detect)
    monkeypatch.setattr(fit_mod, "fit_body", fit)
    monkeypatch.setattr(api, "network_status", lambda: (False, "no reconstructor weights (test)"))
    return calls


@pytest.fixture
def photo(person):
    return Photo(rgb=person.crop.rgb, source="synthetic")


def test_stages_in_order_with_growing_fraction_and_a_result(stubbed, photo):
    updates = list(api.iter_reconstruct(photo, mode="prior", **FAST))
    stages = [u.stage for u in updates]
    firsts = list(dict.fromkeys(stages))
    assert firsts == ["load", "detect", "fit", "reconstruct", "views", "turntable", "done"]
    fractions = [u.fraction for u in updates]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 0.2
    assert updates[1].crop is not None and updates[2].body_fit is not None and updates[3].gaussians is not None
    assert updates[4].views is not None
    assert all(u.result is None for u in updates[:-1])
    r = updates[-1].result
    assert isinstance(r, Result)
    assert r.mode == "prior" and r.weights == {}
    assert any("no network weights" in n for n in r.notes)
    assert "no network weights" in r.summary()
    assert r.framing == "full body" and "full body photo" in r.summary()
    assert r.views.shape == (4, 64, 64, 3) and r.views.dtype == np.uint8 and len(r.view_cameras) == 4
    assert r.turntable.shape == (3, 64, 64, 3) and r.turntable.dtype == np.uint8
    assert set(r.timings) == {"load", "detect", "fit", "reconstruct", "views", "turntable"}
    assert all(v >= 0 for v in r.timings.values())
    # a 128 px crop: splats of at least half a grid pixel (prior_mode.coverage) blur it a little (28.3 dB
    # measured; 30.1 without the floor); at the app's 512 px the same person scores 36.3 dB
    assert r.quality["input_view_psnr_db"] >= 27.5 and r.quality["input_view_alpha_iou"] >= 0.97, r.quality
    assert r.quality["back_coverage"] >= 0.95, r.quality
    assert (stubbed["detect"], stubbed["fit"]) == (1, 1)


def test_views_show_the_person_from_four_sides(stubbed, photo):
    r = api.reconstruct(photo, mode="prior", frames=0, resolution=64)
    assert r.turntable.shape[0] == 0
    for k, name in enumerate(api.VIEW_NAMES):
        person_px = (r.views[k].astype(int).sum(-1) < 700).mean()  # not white
        assert 0.03 < person_px < 0.6, f"{name} view: {person_px:.3f} of the pixels show the person"
    # the orbit cameras look at the body's centre from the right sides: front camera near the input camera
    centres = r.view_cameras.centers
    body_c = (r.body_fit.vertices.min(0).values + r.body_fit.vertices.max(0).values) / 2
    assert float((centres[0] - torch.zeros(3)).norm()) < 0.2 * float(body_c.norm())
    assert float(centres[1, 0] - body_c[0]) > 0  # azimuth 90: the +x side
    assert float(centres[2, 2]) > float(body_c[2])  # azimuth 180: behind


def test_auto_falls_back_to_prior_with_a_note_and_full_raises(stubbed, photo):
    r = api.reconstruct(photo, mode="auto", **FAST)
    assert r.mode == "prior" and r.weights == {}
    assert any("full mode unavailable" in n and "no reconstructor weights (test)" in n for n in r.notes)
    with pytest.raises(WeightsUnavailableError, match="full mode cannot run.*prior"):
        next(api.iter_reconstruct(photo, mode="full", **FAST))
    assert stubbed["detect"] == 1  # full mode failed before doing any work


def test_bad_options_are_refused_with_clear_messages(stubbed, photo):
    with pytest.raises(InputError, match="unknown mode 'fast'"):
        api.reconstruct(photo, mode="fast")
    with pytest.raises(InputError, match="frames"):
        api.reconstruct(photo, frames=-1)
    with pytest.raises(InputError, match="resolution"):
        api.reconstruct(photo, resolution=4)
    with pytest.raises(InputError, match="device 'nonsense'"):
        api.reconstruct(photo, device="nonsense", **FAST)


def test_progress_callback_gets_every_stage(stubbed, photo):
    seen: list[tuple[float, str]] = []
    api.reconstruct(photo, mode="prior", progress=lambda f, s: seen.append((f, s)), **FAST)
    stages = [s.split(":")[0] for _, s in seen]
    assert stages[0] == "load" and stages[-1] == "done" and "fit" in stages and "turntable" in stages
    assert all(0.0 <= f <= 1.0 for f, _ in seen)


def test_network_status_never_raises_and_reports_why(monkeypatch):
    # no trained reconstructor anywhere: full mode must be reported unavailable, with the reason
    monkeypatch.delenv("HUMANSPLAT_WEIGHTS", raising=False)
    monkeypatch.delenv("HUMANSPLAT_RECONSTRUCTOR_REPO", raising=False)
    ok, message = api.network_status()
    assert ok is False
    assert "trained" in message and "reconstruct" in message


def test_concurrent_reconstructions_agree():
    """Two threads run the real stages (MediaPipe's shared models, the body fit, prior mode) on the same
    small photo at once: both finish and agree with each other."""
    from pathlib import Path

    from humansplat.io.images import load_photo

    example = load_photo(Path(__file__).resolve().parents[1] / "assets" / "examples" / "synthetic_0_full.png")
    small = Photo(rgb=np.asarray(example.rgb[::2, ::2]), source="example, half size")
    results: list[Result] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(api.reconstruct(small, mode="prior", frames=0, resolution=48))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2
    torch.testing.assert_close(results[0].gaussians.means, results[1].gaussians.means, rtol=0.0, atol=1e-5)
    difference = np.abs(results[0].views.astype(int) - results[1].views.astype(int))
    assert difference.max() <= 2, difference.max()  # rounding of the render, not another avatar


def test_orbit_framing_fits_the_avatar(stubbed, photo):
    r = api.reconstruct(photo, mode="prior", frames=0, resolution=64)
    _, radius, fov = avatar_views.orbit_framing(r.gaussians, r.body_fit)
    assert 5.0 < fov < 90.0 and radius > 0
    # every view leaves a white border: nothing is cut off
    for v in r.views:
        border = np.concatenate([v[0], v[-1], v[:, 0], v[:, -1]])
        assert (border.astype(int).sum(-1) > 740).mean() > 0.97


def test_check_options_is_the_one_check(monkeypatch):
    monkeypatch.setattr(api, "network_status", lambda: (False, "no weights (test)"))
    opts = api.check_options("prior", 24.0, "256", 7, "cpu")  # API clients send floats and strings
    assert (opts.mode, opts.frames, opts.resolution, opts.seed, opts.device) == ("prior", 24, 256, 7, torch.device("cpu"))
    auto = api.check_options("auto")
    assert auto.mode == "prior" and any("no weights (test)" in n for n in auto.notes)
    lo, hi = api.LIMITS.resolution
    assert api.check_options("prior", resolution=hi).resolution == hi
    for kwargs, message in [
        ({"resolution": hi + 1}, f"resolution {hi + 1} is out of range: use a whole number of pixels from {lo} to {hi}"),
        ({"frames": 2.5}, "frames 2.5 is out of range"),
        ({"frames": True}, "frames True is out of range"),
        ({"seed": "x"}, "seed 'x' is out of range"),
        ({"mode": "fast"}, "unknown mode 'fast'"),
    ]:
        with pytest.raises(InputError, match=message):
            api.check_options(**{"mode": "prior", **kwargs})
    narrow = api.OptionLimits(frames=(8, 72))
    with pytest.raises(InputError, match="frames 100 is out of range: use a whole number from 8 to 72"):
        api.check_options("prior", frames=100, limits=narrow)
    with pytest.raises(WeightsUnavailableError, match="full mode cannot run: no weights"):
        api.check_options("full")


def test_views_turn_about_the_body_up_axis(stubbed, photo):
    from humansplat.orbit import body_orbit

    r = api.reconstruct(photo, mode="prior", frames=0, resolution=48)
    orbit = body_orbit(r.body_fit)
    up_in_cams = r.view_cameras.viewmats[:, :3, :3] @ orbit.up  # the body's up in each view camera's frame
    torch.testing.assert_close(up_in_cams, torch.tensor([0.0, -1.0, 0.0]).expand(4, 3), atol=1e-5, rtol=0)


def test_package_exports_the_entry_points_lightly():
    """``from humansplat import reconstruct`` gives the function; importing the package loads no torch."""
    import subprocess
    import sys

    code = (
        "import sys, humansplat\n"
        "heavy = [m for m in ('torch', 'mediapipe', 'gradio', 'diffusers') if m in sys.modules]\n"
        "from humansplat import reconstruct, iter_reconstruct, Result, gaussians_from_prior, InputError\n"
        "import humansplat.api as api\n"
        "print(heavy, reconstruct is api.reconstruct, callable(iter_reconstruct), Result.__name__,\n"
        "      gaussians_from_prior.__module__, issubclass(InputError, Exception))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["[]", "True", "True", "Result", "humansplat.prior_mode.build", "True"], out
    import humansplat

    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        humansplat.nonsense  # noqa: B018


def test_fit_and_prior_options_reach_their_stages(stubbed, photo):
    from humansplat.prior.fit import FitOptions
    from humansplat.prior_mode.build import PriorOptions

    fit_opts = FitOptions(w_lean=0.002, w_arm_plane=0.0)
    plain = api.reconstruct(photo, mode="prior", **FAST)
    assert stubbed["fit_kwargs"]["options"] is None  # the fit's own defaults
    out = api.reconstruct(photo, mode="prior", fit_options=fit_opts, prior_options=PriorOptions(colour_iterations=0), **FAST)
    assert stubbed["fit_kwargs"]["options"] is fit_opts
    assert not torch.equal(out.gaussians.sh0, plain.gaussians.sh0)  # no colour correction: other colours
