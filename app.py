"""HumanSplat Gradio app: one photo of a person -> 3D Gaussians, turntable video, downloads, animation.

The Space's entry point, a thin shell over :mod:`humansplat.app` (the page, the handlers, the session
folders, ZeroGPU). Importing it has no side effects: no model is loaded, no Blocks is built, nothing
is launched; ``demo`` is built on first access (Gradio's reload mode and Spaces look it up).

Run locally::

    python app.py                     # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)

Endpoints (see the app's "Use via API" page): ``/reconstruct``, ``/fit_body`` and ``/animate``.
Settings (environment variables ``HUMANSPLAT_APP_*``): :mod:`humansplat.app.settings`.
"""

from __future__ import annotations

import logging
from typing import Any

from humansplat.app.layout import build_demo
from humansplat.app.server import prefetch_synthesizer, serve
from humansplat.app.settings import CONCURRENCY, MAX_DISK_MB, MAX_FILE_MB

__all__ = ["CONCURRENCY", "MAX_DISK_MB", "MAX_FILE_MB", "build_demo", "demo", "prefetch_synthesizer", "serve"]

_DEMO: list[Any] = []


def __getattr__(name: str) -> Any:
    """``demo``: the app's Blocks, built once on first access (not launched)."""
    if name == "demo":
        if not _DEMO:
            _DEMO.append(build_demo())
        return _DEMO[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    serve()
