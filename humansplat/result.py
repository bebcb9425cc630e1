"""The result of a reconstruction: what the CLI writes and the app shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from .cameras import Cameras
from .gaussians import Gaussians
from .prior.body_fit import BodyFit

Mode = Literal["prior", "full"]
"""``prior``: Gaussians built from the fitted body and the photo (no network weights).
``full``: novel-view synthesizer + latent reconstruction transformer (trained weights)."""

ProgressCallback = Callable[[float, str], None]
"""``callback(fraction in [0, 1], stage description)``, called as stages start and finish."""


@dataclass
class Result:
    """Everything one reconstruction produced.

    Attributes:
        gaussians: the avatar, world = input camera frame (see :mod:`humansplat.cameras`).
        body_fit: the structure prior it was built from.
        views: (V, S, S, 3) uint8 multi-view images: SV3D views when the synthesizer ran, else the
            reconstruction rendered from the 4 orthogonal views (front, left, back, right).
        view_cameras: the V cameras of ``views``.
        turntable: (T, S, S, 3) uint8 frames of a 360 deg orbit (T may be 0 if not requested).
        mode: which mode ran ("prior" or "full").
        weights: component -> weights that ran (Hub repo id and revision, local path, or "none").
        timings: stage -> seconds.
        quality: e.g. ``input_psnr_db`` (re-render vs. photo inside the mask), ``alpha_iou``.
        notes: messages for the user (fallbacks, several people, cut off, ...).
    """

    gaussians: Gaussians
    body_fit: BodyFit
    views: np.ndarray
    view_cameras: Cameras
    turntable: np.ndarray
    mode: Mode
    weights: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people: mode, weights, total time and per-stage times."""
        w = ", ".join(f"{k}={v}" for k, v in self.weights.items()) or "no network weights"
        t = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        total = sum(self.timings.values())
        return f"mode: {self.mode} | weights: {w} | {len(self.gaussians):,} Gaussians | {total:.1f}s ({t})"
