"""The app on a simulated ZeroGPU Space: a fake ``spaces`` module that asks the decorated function's
duration as ZeroGPU does (the callable on the call's own arguments), refuses a call past the quota left
with ZeroGPU's error, pickles what crosses into the call and back (ZeroGPU runs it in another process),
and records the durations asked and whether a call is running. The synthesizer is the tiny random one
in the GenHuman3D layout; the GPU is the CPU here (``NETWORK_DEVICE``)."""

from __future__ import annotations

import functools
import importlib
import pickle
import sys
import types

import gradio as gr
import pytest
from _fixtures_app import PERSON_PNG, use_tiny_synthesizer

from humansplat.app import handlers, sessions, zerogpu
from humansplat.gpu_stage import NetworkRequest, gpu_seconds

KEYS = ("ply", "glb", "video", "views", "summary", "person", "body", "model3d", "files", "body_json")


class FakeSpaces(types.ModuleType):
    """``spaces`` as ZeroGPU runs it, far enough for the app (module docstring)."""

    def __init__(self, quota_s: float, abort_after: int | None = None) -> None:
        super().__init__("spaces")
        self.config = types.SimpleNamespace(Config=types.SimpleNamespace(zero_gpu=True))
        self.quota_s, self.abort_after = quota_s, abort_after
        self.asked: list[float] = []
        self.requests: list = []
        self.inside = False

    def GPU(self, task=None, *, duration=60, size="large"):
        def decorate(fn):
            @functools.wraps(fn)
            def call(*args, **kwargs):
                seconds = duration(*args, **kwargs) if callable(duration) else duration
                self.asked.append(seconds)
                self.requests.extend(args)
                if seconds > self.quota_s:
                    raise gr.Error(
                        f"You have exceeded your free ZeroGPU quota ({seconds}s requested vs. {self.quota_s}s left).",
                        title="ZeroGPU quota exceeded",
                    )
                self.quota_s -= seconds
                args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
                self.inside = True
                try:
                    for i, item in enumerate(fn(*args, **kwargs)):
                        if self.abort_after is not None and i >= self.abort_after:
                            raise gr.Error("GPU task aborted", title="ZeroGPU worker error")
                        yield pickle.loads(pickle.dumps(item))
                finally:
                    self.inside = False

            return call

        return decorate(task) if callable(task) else decorate


def _quiet(*args, **kwargs) -> None:
    """A stand-in for gr.Progress."""


@pytest.fixture()
def on_zerogpu(tmp_path, monkeypatch):
    """``make(quota_s, abort_after=None)`` -> a FakeSpaces, with :mod:`humansplat.app.zerogpu` imported
    again under it and the tiny synthesizer of :func:`_fixtures_app.use_tiny_synthesizer`; afterwards
    the module is imported again without it."""
    use_tiny_synthesizer(tmp_path / "weights", monkeypatch)

    def make(quota_s: float, abort_after: int | None = None):
        fake = FakeSpaces(quota_s, abort_after)
        monkeypatch.setitem(sys.modules, "spaces", fake)
        importlib.reload(zerogpu)
        assert zerogpu.ZERO_GPU
        monkeypatch.setattr(zerogpu, "NETWORK_DEVICE", "cpu")  # the simulated GPU
        monkeypatch.setattr(sessions, "SESSIONS", sessions.SessionFolders(cache=tmp_path / "gradio"))
        return fake

    yield make
    sys.modules.pop("spaces", None)
    importlib.reload(zerogpu)


def _run(mode: str) -> dict:
    request = gr.Request(session_hash=f"zerogpu-{mode}")
    *_, last = handlers.reconstruct_photo(str(PERSON_PNG), mode, 8, 0, 256, request, progress=_quiet)
    return dict(zip(KEYS, last))


def test_default_views_request_asks_at_most_60_s():
    from humansplat.views_mode import ViewsModeOptions

    seconds = gpu_seconds(NetworkRequest("views", body_fit=None, views_options=ViewsModeOptions()))
    assert seconds == 56  # ceil(1.5 * (6 + 25 * 36 * 0.02 + 18 * 0.1 + 0.5 + 200 * 18 * 0.003)) = ceil(55.65)
    longer = gpu_seconds(NetworkRequest("views", body_fit=None, views_options=ViewsModeOptions(num_inference_steps=50)))
    assert longer == 83  # 25 more steps: + 1.5 * 25 * 36 * 0.02 = + 27 s
    assert gpu_seconds(NetworkRequest("full", body_fit=None)) > 0
    with pytest.raises(ValueError, match="only views and full modes"):
        gpu_seconds(NetworkRequest("prior", body_fit=None))  # type: ignore[arg-type]


def test_a_prior_request_asks_for_no_gpu_time(on_zerogpu):
    fake = on_zerogpu(quota_s=120)
    out = _run("prior")
    assert fake.asked == [] and out["ply"] and "**Prior mode**" in out["summary"]


def test_a_views_request_asks_the_duration_its_callable_computes(on_zerogpu):
    fake = on_zerogpu(quota_s=120)
    out = _run("views")
    assert len(fake.asked) == 1 and fake.asked[0] == gpu_seconds(fake.requests[0]) <= 60
    assert fake.requests[0].mode == "views" and fake.quota_s == 120 - fake.asked[0]
    assert "**Views mode**" in out["summary"] and out["ply"] and out["video"]


def test_a_quota_refusal_gives_the_prior_result_with_one_sentence(on_zerogpu):
    fake = on_zerogpu(quota_s=5)
    with pytest.warns(UserWarning, match="free GPU time for today is used up"):
        out = _run("views")
    assert len(fake.asked) == 1 and fake.asked[0] > 5
    assert "**Prior mode**" in out["summary"] and out["ply"] and out["video"] and out["glb"]
    assert zerogpu.REFUSALS["ZeroGPU quota exceeded"] in out["summary"]
    assert "Traceback" not in out["summary"] and "ZeroGPU quota exceeded" not in out["summary"]


def test_a_gpu_call_stopped_midway_gives_the_prior_result(on_zerogpu):
    on_zerogpu(quota_s=120, abort_after=1)  # the views come back, then the call is stopped
    with pytest.warns(UserWarning, match="stopped before it finished"):
        out = _run("views")
    assert "**Prior mode**" in out["summary"] and zerogpu.REFUSALS["ZeroGPU worker error"] in out["summary"]


def test_models_are_placed_at_start_up_never_inside_the_gpu_call(on_zerogpu, monkeypatch):
    from humansplat.multiview import load

    fake = on_zerogpu(quota_s=120)
    loads: list[bool] = []
    real = load.load_sv3d_pipeline

    def spy(*args, **kwargs):
        loads.append(fake.inside)
        return real(*args, **kwargs)

    monkeypatch.setattr(load, "load_sv3d_pipeline", spy)
    assert zerogpu.place_models() == ["synthesizer"] and loads == [False]
    _run("views")
    _run("views")
    assert loads == [False] and len(fake.asked) == 2  # two GPU calls, no load inside either


def test_a_bug_inside_the_gpu_call_is_reported_as_a_bug_not_a_refusal(on_zerogpu, monkeypatch):
    from humansplat import gpu_stage

    fake = on_zerogpu(quota_s=120)

    def broken(request):
        raise KeyError("oops")
        yield  # pragma: no cover

    monkeypatch.setattr(gpu_stage, "run_networks", broken)
    with pytest.raises(gr.Error, match=r"This is a bug"):
        _run("views")
    assert len(fake.asked) == 1
