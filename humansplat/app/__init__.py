"""The Gradio app: one photo of a person -> 3D Gaussians, turntable video, downloads, animation.

UI only: every step is a call into the ``humansplat`` library. The repository's ``app.py`` is the
Space's entry point (``python app.py``); it is a thin shell over these modules, each one job:

================== ===================================================================================
``settings``       the app's limits and option ranges (environment variables, read at import)
``sessions``       one output folder per browser/API session, bounded in age and disk
``zerogpu``        the one function that runs on a ZeroGPU Space's GPU, its refusals, model placement
``inputs``         the photo input and the checks of what callers send (messages for people)
``mode_plan``      which modes this machine offers and what ``auto`` runs (the page's banner)
``summary``        the text shown with a result: a plain sentence first, the details folded
``handlers``       ``/reconstruct`` and ``/fit_body``: run the library stage by stage, write the files
``animation``      ``/animate`` and the page's Animate step
``layout``         the page (``build_demo``)
``server``         ``serve``: prefetch weights on a GPU Space, queue and launch
================== ===================================================================================

Importing any of them has no side effects: no model is loaded, no Blocks is built, nothing is written.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: 3-10x faster renders on small shared CPUs
# (docs/benchmarks.md). Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
