"""Views mode: SV3D's orbit views of the person and a bounded Gaussian fit on them.

* :func:`run_views_mode` (= :func:`synthesize_views` then :func:`fit_to_synthesized`), :class:`ViewsModeOptions`, :class:`ViewsModeResult` (``.run``); :func:`choose_mode` (:mod:`humansplat.modes`) and the weight sources
  (:mod:`humansplat.weights`) re-exported.
* :func:`fit_gaussians_to_views`, :class:`ViewsFitOptions`, :class:`FitStats` (``.fit``).
"""

from __future__ import annotations

from .fit import FitStats, ViewsFitOptions, fit_gaussians_to_views, input_visible, mask_from_white
from .run import (
    describe_source,
    ViewsModeOptions,
    SynthesizedViews,
    ViewsModeResult,
    choose_mode,
    fit_to_synthesized,
    run_views_mode,
    synthesize_views,
    synthesizer_status,
    synthesizer_weights,
)

__all__ = [
    "FitStats",
    "SynthesizedViews",
    "ViewsFitOptions",
    "ViewsModeOptions",
    "ViewsModeResult",
    "choose_mode",
    "describe_source",
    "fit_gaussians_to_views",
    "fit_to_synthesized",
    "input_visible",
    "mask_from_white",
    "run_views_mode",
    "synthesize_views",
    "synthesizer_status",
    "synthesizer_weights",
]
