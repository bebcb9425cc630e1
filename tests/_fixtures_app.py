"""Helpers of the app tests: app.py launched in-process on a free 127.0.0.1 port, example photos.

Each test module launches the app once (module-scoped fixture) with its own ``GRADIO_TEMP_DIR``, so the
files the app leaves behind can be inspected; clients download into a different folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "assets" / "examples"
PERSON_PNG = EXAMPLES / "synthetic_0_full.png"
FAST = {"frames": 8, "seed": 0, "resolution": 256}  # few turntable frames, small views: seconds, not minutes


def load_app() -> ModuleType:
    """Import ``app.py`` from the repository root (it is not a package module; the app itself is
    :mod:`humansplat.app`, whose modules the tests import directly)."""
    if "app" in sys.modules and getattr(sys.modules["app"], "__file__", None) == str(REPO / "app.py"):
        return sys.modules["app"]
    spec = importlib.util.spec_from_file_location("app", REPO / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_app(temp_dir: Path) -> Iterator[tuple[str, Path]]:
    """Launch the app (``app.serve``: its queue, upload limit and paths) on 127.0.0.1 with Gradio's
    cache in ``temp_dir``; yields (url, sessions root) and closes the server afterwards."""
    if not PERSON_PNG.is_file():
        pytest.fail(f"{PERSON_PNG} is missing: run `python assets/make_examples.py`")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(temp_dir))
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        from humansplat.app import settings
        from humansplat.app.sessions import SessionFolders

        mp.setattr(settings, "WARM_UP", False)  # the tests' requests time themselves; test_app checks warm_up

        app = load_app()
        demo = app.serve(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            yield demo.local_url, SessionFolders().root
        finally:
            demo.close()


def use_tiny_synthesizer(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny random synthesizer in the GenHuman3D layout (unet fp16 variant) written to ``folder`` and
    used as ``$HUMANSPLAT_WEIGHTS`` (offline, no cached pipeline), with views mode's defaults cut to 4
    frames of 32 px, 2 sampler steps and 3 fit steps. Returns ``folder``."""
    from humansplat import gpu_stage
    from humansplat.multiview.tiny import save_tiny_weights
    from humansplat.views_mode import ViewsFitOptions, ViewsModeOptions
    from humansplat.views_mode import run as views_run

    save_tiny_weights(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HUMANSPLAT_WEIGHTS", str(folder))
    monkeypatch.setattr(gpu_stage, "_CACHE", {})
    fast = ViewsModeOptions(
        num_frames=4, size=32, num_inference_steps=2, fit=ViewsFitOptions(steps=3, densify_every=0, size=32)
    )
    monkeypatch.setattr(views_run, "ViewsModeOptions", lambda: fast)
    return folder
