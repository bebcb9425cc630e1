"""Test-wide settings: offline, no telemetry, and the optional ../shared photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the test suite may reach the network: the Hub is offline, Gradio sends no analytics.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
# Idle OpenMP threads sleep instead of spinning (much faster on small, shared CPUs).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_PHOTOS = SHARED / "photos"


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    """The folder of real photos beside the checkout (evaluation only); skips when absent."""
    if not SHARED_PHOTOS.is_dir():
        pytest.skip("../shared/photos is absent (optional real-photo tests)")
    return SHARED_PHOTOS
