"""Views mode: SV3D's orbit views of the person and a bounded Gaussian fit on them.

* :func:`run_views_mode`, :class:`ViewsModeOptions`, :class:`ViewsModeResult`, :func:`choose_mode` (``.run``).
* :func:`fit_gaussians_to_views`, :class:`ViewsFitOptions`, :class:`FitStats` (``.fit``).
"""

from __future__ import annotations

from .fit import FitStats, ViewsFitOptions, fit_gaussians_to_views, input_visible, mask_from_white
from .run import (
    ViewsModeOptions,
    ViewsModeResult,
    choose_mode,
    run_views_mode,
    synthesizer_status,
    synthesizer_weights,
)

__all__ = [
    "FitStats",
    "ViewsFitOptions",
    "ViewsModeOptions",
    "ViewsModeResult",
    "choose_mode",
    "fit_gaussians_to_views",
    "input_visible",
    "mask_from_white",
    "run_views_mode",
    "synthesizer_status",
    "synthesizer_weights",
]
