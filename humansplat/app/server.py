"""Starting the app: on a GPU Space the synthesizer's weights are fetched and the networks placed
first; then the page is queued and launched with the app's limits while one small reconstruction in
the background loads the models (``python app.py`` runs :func:`serve`)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import gradio as gr

from . import layout, settings, zerogpu

log = logging.getLogger("humansplat.app")


def prefetch_synthesizer(setting: str | None = None) -> str | None:
    """Fetch the synthesizer's weights (``humansplat.hub.SYNTHESIZER_WEIGHTS``) into the Hugging Face cache before
    the page is built, so that ``auto`` runs views mode on a GPU Space (the mode rule only uses weights
    that are already here; it never downloads in the middle of a request).

    Args:
        setting: ``HUMANSPLAT_PREFETCH`` (default): ``"auto"`` fetches only on a Hugging Face Space
            (``SPACE_ID`` set) with a GPU (ZeroGPU or CUDA) and downloads allowed; ``"1"``/``"true"``
            always (unless ``HF_HUB_OFFLINE``); ``"0"``/``"false"`` never.

    Returns:
        One line saying what was fetched or why not (None when nothing was tried). Never raises: a
        failed download (no token for the gated image encoder, no network) leaves prior mode, and the
        page's banner says why views mode is not offered.
    """
    from humansplat.hub import SYNTHESIZER_WEIGHTS, fetch, hub_offline

    value = (setting if setting is not None else os.environ.get("HUMANSPLAT_PREFETCH", "auto")).strip().lower()
    if value in ("0", "false", "no", "off"):
        return None
    if value == "auto" and not (os.environ.get("SPACE_ID") and zerogpu.gpu_here()):
        return None
    if hub_offline():
        return "synthesizer weights not prefetched: HF_HUB_OFFLINE is set"
    fetched, failed = [], []
    for name in SYNTHESIZER_WEIGHTS:
        try:
            fetch(name)
            fetched.append(name)
        except Exception as exc:  # noqa: BLE001 - any failure leaves prior mode; the message says why
            failed.append(f"{name}: {' '.join(str(exc).split())}")
    line = f"synthesizer weights prefetched: {', '.join(fetched) or 'none'}" + (
        f"; failed: {'; '.join(failed)}" if failed else ""
    )
    (log.warning if failed else log.info)(line)
    return line


WARM_UP_PHOTO = settings.EXAMPLES_DIR / "synthetic_0_full.png"


def warm_up(photo: str | os.PathLike = WARM_UP_PHOTO) -> float:
    """Run prior mode once on ``photo`` (2 frames of 64 px) and write its files into a temporary folder,
    so that the first visitor does not pay for what only the first run in a process does: MediaPipe's
    models, the body model (its first load in a fresh install compiles Warp kernels, ~40 s), the
    renderer's compiled kernels, the mesh and video writers' imports and the video encoder's first
    start (~0.7 s). Returns the seconds it took; never raises (a failure is logged and the first request
    pays instead)."""
    import tempfile

    from humansplat.api import reconstruct

    start = time.perf_counter()
    try:
        result = reconstruct(str(photo), mode="prior", frames=2, resolution=64)
        with tempfile.TemporaryDirectory(prefix="humansplat-warm-up-") as folder:
            result.save(folder, mesh_resolution=32)
    except Exception as exc:  # noqa: BLE001 - a warm-up must not stop the app
        log.warning("warm-up failed (%s); the first request loads the models instead", exc)
    seconds = time.perf_counter() - start
    log.info("warm-up: models loaded and kernels compiled in %.1f s", seconds)
    return seconds


def start_warm_up() -> threading.Thread | None:
    """:func:`warm_up` in a background thread (the page is up meanwhile), unless
    ``HUMANSPLAT_APP_WARM_UP=0``; returns the thread (None when switched off)."""
    if not settings.WARM_UP:
        return None
    thread = threading.Thread(target=warm_up, name="humansplat-warm-up", daemon=True)
    thread.start()
    return thread


def serve(demo: gr.Blocks | None = None, **launch_kwargs: Any) -> gr.Blocks:
    """Queue and launch ``demo`` (default: :func:`humansplat.app.layout.build_demo`, after
    :func:`prefetch_synthesizer` and :func:`humansplat.app.zerogpu.place_models` on a GPU Space) with the
    app's limits, and starts :func:`start_warm_up`; ``launch_kwargs`` override Gradio's ``launch``
    arguments (host and port default to GRADIO_SERVER_NAME / _PORT)."""
    if demo is None:
        prefetch_synthesizer()
        zerogpu.place_models()
        start_warm_up()
    demo = demo or layout.build_demo()
    demo.queue(default_concurrency_limit=settings.CONCURRENCY, max_size=settings.QUEUE_SIZE)
    options: dict[str, Any] = {
        "max_file_size": f"{settings.MAX_FILE_MB}mb",
        "allowed_paths": [],  # outputs live in Gradio's cache folder; nothing else is served
        "show_error": True,
        "ssr_mode": False,
        "css": layout.CSS,
    }
    options.update(launch_kwargs)
    demo.launch(**options)
    return demo

