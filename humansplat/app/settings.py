"""The app's settings: limits read from the environment at import, option ranges, asset paths.

Environment variables (all optional):
    HUMANSPLAT_APP_TIME_LIMIT   seconds one reconstruction or animation may take before it is stopped,
                                checked inside the long stages too (default 600; 0 = no limit).
    HUMANSPLAT_APP_CONCURRENCY  reconstructions run at once (default 2 on CPU, 1 with ZeroGPU).
    HUMANSPLAT_APP_QUEUE_SIZE   requests that may wait in the queue (default 32).
    HUMANSPLAT_APP_MAX_FILE_MB  largest upload in megabytes (default 20).
    HUMANSPLAT_APP_SESSION_TTL  seconds after which files of sessions that never closed are deleted
                                (default 7200; the session folders and Gradio's cached copies alike).
    HUMANSPLAT_APP_MAX_DISK_MB  most megabytes the sessions' files and Gradio's cached copies may hold
                                (default 2048); beyond it the oldest go first.

Handlers read ``settings.NAME`` when they run (not at import), so tests may patch these values.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import zerogpu

RESOLUTIONS = (256, 384, 512)
DEFAULT_RESOLUTION = 512
DEFAULT_FRAMES = 24
MIN_FRAMES, MAX_FRAMES = 8, 72
MAX_SEED = 2**31 - 1
"""The app's option ranges: the library's (humansplat.api.LIMITS) narrowed for a shared server;
checked by humansplat.api.check_options with the app's limits, shown by the sliders."""

TIME_LIMIT_S = float(os.environ.get("HUMANSPLAT_APP_TIME_LIMIT", "600"))
CONCURRENCY = int(os.environ.get("HUMANSPLAT_APP_CONCURRENCY", "1" if zerogpu.ZERO_GPU else "2"))
QUEUE_SIZE = int(os.environ.get("HUMANSPLAT_APP_QUEUE_SIZE", "32"))
MAX_FILE_MB = int(os.environ.get("HUMANSPLAT_APP_MAX_FILE_MB", "20"))
SESSION_TTL_S = float(os.environ.get("HUMANSPLAT_APP_SESSION_TTL", "7200"))
MAX_DISK_MB = float(os.environ.get("HUMANSPLAT_APP_MAX_DISK_MB", "2048"))
WARM_UP = os.environ.get("HUMANSPLAT_APP_WARM_UP", "1").strip().lower() not in ("0", "false", "no", "off")

DEFAULT_MOTION = "walk"
ANIMATION_FPS = 24
MIN_ANIMATION_FRAMES, MAX_ANIMATION_FRAMES = 8, 96
"""/animate's frame range (0 = one cycle of the motion at ANIMATION_FPS, as the Animate button plays)."""

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES_DIR = ASSETS / "examples"
EXAMPLES_CACHE = "humansplat-examples"  # folder in Gradio's cache holding the examples written at start
