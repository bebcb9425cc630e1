"""The app in views mode, in-process, with a simulated synthesizer: tiny random SV3D components saved in
the GenHuman3D layout under ``$HUMANSPLAT_WEIGHTS`` (no download, CPU).

Covers: the page offers views mode and says what ``auto`` runs; the /reconstruct handler shows the
synthesizer's generated views (at the synthesizer's size, not the requested one) before the fit starts,
then the fitted result, whose summary names mode ``views`` and the weights folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fixtures_app import PERSON_PNG, use_tiny_synthesizer
from PIL import Image

from humansplat.app import handlers, server, sessions, zerogpu
from humansplat.app.layout import build_demo

RESOLUTION = 256  # the app's smallest


def _quiet(*args, **kwargs) -> None:
    """A stand-in for gr.Progress."""


@pytest.fixture()
def tiny_weights(tmp_path, monkeypatch) -> Path:
    """:func:`_fixtures_app.use_tiny_synthesizer` in ``tmp_path / "weights"``."""
    return use_tiny_synthesizer(tmp_path / "weights", monkeypatch)


def test_page_offers_views_mode_and_says_what_auto_runs(tiny_weights, tmp_path, monkeypatch):
    import humansplat.api

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setattr(sessions, "SESSIONS", sessions.SessionFolders())
    monkeypatch.setattr(humansplat.api, "network_status", lambda: (False, "no trained reconstructor"))
    for gpu, auto in ((False, "prior"), (True, "views")):
        monkeypatch.setattr(zerogpu, "gpu_here", lambda gpu=gpu: gpu)
        blocks = build_demo().blocks.values()
        by_label = {getattr(b, "label", None): b for b in blocks}
        mode, seed = by_label["Mode"], by_label["Seed"]
        assert [v for _, v in mode.choices] == ["auto", "prior", "views"]  # no full: no reconstructor
        assert mode.interactive is not False and seed.interactive is not False
        assert f"auto runs {auto} mode" in mode.info
        banner = next(b for b in blocks if getattr(b, "elem_id", None) == "mode-banner").value
        assert f"runs **{auto}" in banner and "no trained reconstructor" in banner
        assert ("no CUDA GPU" in banner) == (not gpu)


def test_reconstruct_handler_streams_the_generated_views_before_the_fit(tiny_weights, tmp_path, monkeypatch):
    import gradio as gr

    from humansplat.multiview.tiny import TINY_IMAGE_SIZE
    from humansplat.views_mode import run as views_run

    monkeypatch.setattr(sessions, "SESSIONS", sessions.SessionFolders(cache=tmp_path / "gradio"))
    seen: list[tuple] = []
    views_shown_when_fit_started: list[bool] = []
    real_fit = views_run.fit_to_synthesized

    def spy_fit(*args, **kwargs):
        views_shown_when_fit_started.append(any(out[keys.index("views")] for out in seen))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(views_run, "fit_to_synthesized", spy_fit)
    keys = handlers.RECONSTRUCT_OUTPUTS
    request = gr.Request(session_hash="views")
    for outputs in handlers.reconstruct_photo(str(PERSON_PNG), "views", 8, 0, RESOLUTION, request, progress=_quiet):
        seen.append(outputs)
    assert views_shown_when_fit_started == [True]  # the page had the generated views before the fit ran
    first = next(dict(zip(keys, out)) for out in seen if out[keys.index("views")])
    assert first["ply"] is None and first["summary"] is None and first["body"] is not None
    strip = np.asarray(Image.open(first["views"]))
    assert strip.shape == (TINY_IMAGE_SIZE, 4 * TINY_IMAGE_SIZE, 3)  # the synthesizer's frames, not renders
    final = dict(zip(keys, seen[-1]))
    assert final["ply"] and final["video"] and final["views"] == first["views"]
    assert "**Views mode**" in final["summary"] and "mode: views" in final["summary"]
    assert f"unet=loaded: {tiny_weights / 'unet'}" in final["summary"], final["summary"]


def test_a_gpu_space_prefetches_the_synthesizer_so_auto_runs_views(tmp_path, monkeypatch):
    """On a Space with a GPU, ``serve()`` fetches the synthesizer's weights before building the page
    (``prefetch_synthesizer``); then ``auto`` runs views mode. Elsewhere nothing is fetched, and a failed
    download is a line in the log, not a crash. (The Hub is simulated: ``fetch`` writes the tiny random
    components where ``$HUMANSPLAT_WEIGHTS`` points.)"""
    import humansplat.api
    import humansplat.hub
    from humansplat.multiview.tiny import save_tiny_weights

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setattr(sessions, "SESSIONS", sessions.SessionFolders())
    monkeypatch.setattr(humansplat.api, "network_status", lambda: (False, "no trained reconstructor"))
    monkeypatch.setattr(humansplat.hub, "hub_offline", lambda: False)  # the tests run with HF_HUB_OFFLINE=1
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(tmp_path / "cache"))  # empty: nothing is here yet
    calls: list[str] = []

    def fake_fetch(name, *args, **kwargs):
        calls.append(name)
        save_tiny_weights(tmp_path / "cache")
        return tmp_path / "cache" / name

    monkeypatch.setattr(humansplat.hub, "fetch", fake_fetch)
    monkeypatch.setattr(zerogpu, "gpu_here", lambda: True)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert server.prefetch_synthesizer("auto") is None and calls == []  # not a Space: nothing fetched
    assert server.prefetch_synthesizer("0") is None and calls == []
    monkeypatch.setenv("SPACE_ID", "someone/humansplat")
    monkeypatch.setattr(zerogpu, "gpu_here", lambda: False)
    assert server.prefetch_synthesizer("auto") is None and calls == []  # a CPU Space: prior mode anyway
    monkeypatch.setattr(zerogpu, "gpu_here", lambda: True)
    assert "failed" not in server.prefetch_synthesizer("auto")
    assert calls == ["unet", "vae", "image_encoder"]
    mode = {getattr(b, "label", None): b for b in build_demo().blocks.values()}["Mode"]
    assert "auto runs views mode" in mode.info and "views" in [v for _, v in mode.choices]

    def failing_fetch(name, *args, **kwargs):
        raise humansplat.hub.WeightsUnavailableError(f"{name} is gated: set HF_TOKEN")

    monkeypatch.setattr(humansplat.hub, "fetch", failing_fetch)
    line = server.prefetch_synthesizer("1")
    assert "failed" in line and "image_encoder is gated: set HF_TOKEN" in line
    monkeypatch.setattr(humansplat.hub, "hub_offline", lambda: True)
    assert "HF_HUB_OFFLINE" in server.prefetch_synthesizer("1")
