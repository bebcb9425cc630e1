"""The time limit (humansplat.errors.Deadline): checked inside the long loops, not only between stages.

A deadline that passes during the body fit stops it within about one iteration; the pipeline checks
it at every stage and every turntable chunk; the app turns the error into a message for people.
"""

from __future__ import annotations

import time

import pytest

from humansplat import api
from humansplat.errors import Deadline, TimeLimitError
from humansplat.io.images import Photo
from humansplat.prior.fit import fit_body
from humansplat.prior.synthetic import make_synthetic_person

SLOW_FIT = {"landmark_iters": 1_000_000}  # minutes of fitting without a limit


@pytest.fixture(scope="module")
def person():
    return make_synthetic_person(seed=3, size=96)


class _Recorder:
    """A Deadline look-alike that records each check's stage and expires at check number ``after``."""

    limit_s = 1.0

    def __init__(self, after: int | None = None) -> None:
        self.after = after
        self.stages: list[str] = []

    def check(self, stage: str) -> None:
        self.stages.append(stage)
        if self.after is not None and len(self.stages) >= self.after:
            raise TimeLimitError(stage, self.limit_s)


def test_deadline_validates_and_reports():
    with pytest.raises(ValueError, match="positive number of seconds, got -1"):
        Deadline.after(-1)
    d = Deadline.after(60)
    assert 59 < d.remaining() <= 60 and d.limit_s == 60
    d.check("anything")  # not past: no error
    past = Deadline(at=time.monotonic() - 1, limit_s=5)
    with pytest.raises(TimeLimitError, match="stopped during the turntable.*time limit of 5 s") as exc:
        past.check("the turntable")
    assert exc.value.stage == "the turntable" and exc.value.limit_s == 5
    assert isinstance(exc.value, RuntimeError)


def test_a_deadline_during_the_fit_stops_it_within_a_second(person):
    start = time.monotonic()
    with pytest.raises(TimeLimitError, match="the body fit") as exc:
        fit_body(person.crop, deadline=Deadline.after(0.3), **SLOW_FIT)
    elapsed = time.monotonic() - start
    assert exc.value.limit_s == pytest.approx(0.3)
    assert 0.3 <= elapsed < 1.5, f"stopped after {elapsed:.2f} s"


def test_the_fit_checks_every_iteration(person):
    rec = _Recorder()
    fit_body(person.crop, deadline=rec, landmark_iters=12, silhouette_iters=5)
    assert rec.stages == ["the body fit"] * 17


@pytest.fixture
def stubbed(monkeypatch, person):
    """detect_person returns the synthetic crop; fit_body is the real one."""
    import humansplat.prior.person as person_mod

    monkeypatch.setattr(person_mod, "detect_person", lambda photo, size=512: person.crop)
    monkeypatch.setattr(api, "network_status", lambda: (False, "no weights (test)"))


def test_the_pipeline_checks_each_stage_and_each_turntable_chunk(stubbed, person):
    rec = _Recorder()
    photo = Photo(rgb=person.crop.rgb, source="synthetic")
    api.reconstruct(photo, mode="prior", frames=9, resolution=32, deadline=rec)
    stages = list(dict.fromkeys(rec.stages))
    assert stages == [
        "reading the photo", "finding the person", "the body fit", "building the Gaussians",
        "rendering the views", "rendering the turntable",
    ]
    assert rec.stages.count("rendering the turntable") == 1 + 3  # stage start + 3 chunks of 4 frames
    assert rec.stages.count("the body fit") > 100  # every fit iteration


def test_the_pipeline_stops_inside_the_turntable(stubbed, person, monkeypatch):
    import humansplat.prior.fit as fit_mod

    monkeypatch.setattr(fit_mod, "fit_body", lambda crop, **kw: person.as_body_fit())  # the true body: fast
    probe = _Recorder()
    photo = Photo(rgb=person.crop.rgb, source="synthetic")
    api.reconstruct(photo, mode="prior", frames=9, resolution=32, deadline=probe)
    stop_at = len(probe.stages)  # the last check: before the third chunk
    updates = []
    with pytest.raises(TimeLimitError, match="rendering the turntable"):
        for u in api.iter_reconstruct(photo, mode="prior", frames=9, resolution=32, deadline=_Recorder(stop_at)):
            updates.append(u)
    assert [u.stage for u in updates][-2:] == ["turntable", "turntable"]  # two chunks were shown
    assert all(u.result is None for u in updates)


def test_the_app_answers_a_request_past_its_limit_with_a_message(stubbed, person, monkeypatch, tmp_path):
    gr = pytest.importorskip("gradio")
    from PIL import Image

    import humansplat.prior.fit as fit_mod
    from humansplat.app import handlers, sessions, settings

    real_fit = fit_mod.fit_body
    monkeypatch.setattr(fit_mod, "fit_body", lambda crop, **kw: real_fit(crop, **kw, **SLOW_FIT))
    monkeypatch.setattr(settings, "TIME_LIMIT_S", 1.0)
    monkeypatch.setattr(sessions, "SESSIONS", sessions.SessionFolders(tmp_path / "sessions"))
    path = tmp_path / "person.png"
    Image.fromarray(person.crop.rgb).save(path)
    start = time.monotonic()
    outputs = handlers.reconstruct_photo(str(path), "prior", 8, 0, 256, request=None, progress=lambda *a, **k: None)
    with pytest.raises(gr.Error) as exc:
        for _ in outputs:
            pass
    elapsed = time.monotonic() - start
    assert "longer than 1 s and was stopped (stopped during the body fit)" in exc.value.message
    assert elapsed < 4.0, f"the request took {elapsed:.1f} s"
    assert not any((tmp_path / "sessions").rglob("*.ply"))  # nothing half-made is left


def test_the_network_pipeline_checks_every_sampler_step():
    from test_network_pipeline import _body_fit, _pipeline, _run

    pipe, fit = _pipeline(), _body_fit()
    rec = _Recorder()
    _run(pipe, fit, allow_untrained=True, deadline=rec)
    assert rec.stages == ["multi-view sampling"] * 2 + ["decoding the generated views", "the latent reconstruction"]
    with pytest.raises(TimeLimitError, match="multi-view sampling"):
        _run(pipe, fit, allow_untrained=True, deadline=_Recorder(after=1))
