"""Views mode: SV3D's orbit views of the person, then the bounded Gaussian fit on them.

Views mode is two steps, :func:`synthesize_views` then :func:`fit_to_synthesized` (the pipeline runs
them inside :func:`humansplat.gpu_stage.run_networks`; :func:`run_views_mode` composes them for callers
of this module):

1. the person re-framed for the synthesizer (:func:`~humansplat.multiview.framing.prepare_synthesizer_input`);
2. F orbit views from the human fine-tuned SV3D (:class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`),
   sampled as the fine-tune was trained (:mod:`humansplat.multiview.fine_tune`): 18 frames at 512 px,
   frame 0 = the input view, the training orbit's azimuths, triangular guidance;
3. their exact cameras at the azimuths fed to the sampler (:func:`~humansplat.multiview.framing.orbit_view_cameras`);
4. the prior-mode Gaussians refined on the photo and frames 1..F-1
   (:func:`~humansplat.views_mode.fit.fit_gaussians_to_views`; frame 0 is left out: the photo is better).

Where the synthesizer's weights came from is said by :mod:`humansplat.weights`; the rule of ``mode="auto"``
is :func:`humansplat.modes.choose_mode` (both re-exported here for the views-mode API).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from ..cameras import Cameras
from ..errors import Deadline
from ..gaussians import Gaussians
from ..modes import choose_mode
from ..multiview.fine_tune import (
    FINE_TUNE_AZIMUTHS,
    FINE_TUNE_FILL,
    FINE_TUNE_GUIDANCE_PROFILE,
    FINE_TUNE_NUM_FRAMES,
    FINE_TUNE_SIZE,
    AzimuthKind,
    fine_tune_azimuths,
)
from ..prior.body_fit import BodyFit
from ..weights import describe_source, synthesizer_status, synthesizer_weights
from .fit import FitStats, ViewsFitOptions, fit_gaussians_to_views

__all__ = [
    "ViewsModeOptions",
    "ViewsModeResult",
    "SynthesizedViews",
    "choose_mode",
    "describe_source",
    "fit_to_synthesized",
    "run_views_mode",
    "synthesize_views",
    "synthesizer_status",
    "synthesizer_weights",
]

Progress = Callable[[float, str], None]
"""``progress(fraction in [0, 1], message)``."""


@dataclass
class ViewsModeOptions:
    """Options of :func:`run_views_mode`.

    Attributes:
        num_frames: SV3D frames F, frame 0 the input view (the fine-tune's 18).
        num_inference_steps: Euler steps (the research code's 25).
        size: synthesizer image side in pixels (the fine-tune's 512).
        azimuths: the frames' azimuths: ``"labels"`` (the fine-tune's data loader's, the default) or
            ``"even"`` (:func:`~humansplat.multiview.fine_tune.fine_tune_azimuths`), or F degrees
            (first 0). The generated views' cameras use the same azimuths.
        fill: share of the square the person's longer side takes (the fine-tune's 0.95).
        seed: seeds sampling (``torch.Generator``) and the fit.
        min_guidance_scale, max_guidance_scale, guidance_profile: per-frame CFG (the fine-tune's
            triangle from 1 up to 2.5 and back).
        fit: options of the Gaussian fit.
    """

    num_frames: int = FINE_TUNE_NUM_FRAMES
    num_inference_steps: int = 25
    size: int = FINE_TUNE_SIZE
    azimuths: AzimuthKind | Sequence[float] = FINE_TUNE_AZIMUTHS
    fill: float = FINE_TUNE_FILL
    seed: int = 0
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 2.5
    guidance_profile: Literal["linear", "triangular"] = FINE_TUNE_GUIDANCE_PROFILE
    fit: ViewsFitOptions = field(default_factory=ViewsFitOptions)

    def frame_azimuths(self) -> list[float]:
        """(F,) azimuths in degrees fed to the sampler and used by the views' cameras."""
        if isinstance(self.azimuths, str):
            return fine_tune_azimuths(int(self.num_frames), self.azimuths)
        azimuths = [float(a) for a in self.azimuths]
        if len(azimuths) != int(self.num_frames):
            raise ValueError(f"{len(azimuths)} azimuths given for num_frames={self.num_frames}; give one per frame")
        return azimuths


@dataclass
class ViewsModeResult:
    """What :func:`run_views_mode` returns.

    Attributes:
        gaussians: the fitted avatar (world = input camera frame, metres).
        views: (F, S, S, 3) uint8 generated frames (frame 0 = the synthesizer's input view).
        view_cameras: their F exact cameras.
        azimuths_deg: (F,) azimuths (0 = the input side, 90 = the subject's left).
        synth_input: (S, S, 3) uint8, the re-framed photo the synthesizer saw.
        weights: component -> what ran (``"loaded: <folder or repo>"`` or ``"random (untrained)"``).
        stats: the fit's :class:`FitStats`.
        timings: seconds per stage (``synthesize``, ``fit``).
        mode: always ``"views"`` (for ``Result.mode``).
    """

    gaussians: Gaussians
    views: np.ndarray
    view_cameras: Cameras
    azimuths_deg: torch.Tensor
    synth_input: np.ndarray
    weights: dict[str, str]
    stats: FitStats
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "views"


@dataclass
class SynthesizedViews:
    """The first step of views mode (:func:`synthesize_views`): SV3D's decoded orbit frames.

    Attributes:
        views: (F, S, S, 3) uint8 generated frames (frame 0 = the synthesizer's input view).
        view_cameras: their F exact cameras (:func:`~humansplat.multiview.framing.orbit_view_cameras`).
        azimuths_deg: (F,) azimuths (0 = the input side, 90 = the subject's left).
        synth_input: (S, S, 3) uint8, the re-framed photo the synthesizer saw.
        weights: component -> what ran (:func:`synthesizer_weights`).
        seconds: time the sampling and decoding took.
    """

    views: np.ndarray
    view_cameras: Cameras
    azimuths_deg: torch.Tensor
    synth_input: np.ndarray
    weights: dict[str, str]
    seconds: float = 0.0


def synthesize_views(
    body_fit: BodyFit,
    synthesizer: Any,
    options: ViewsModeOptions | None = None,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
) -> SynthesizedViews:
    """Step 1 of views mode: re-frame the photo, sample and decode SV3D's F orbit views, their cameras.

    Args:
        body_fit: the fitted body with the photo crop (its camera is the input view).
        synthesizer: an :class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`.
        options: :class:`ViewsModeOptions` (frames, steps, size, guidance, seed).
        progress: ``progress(fraction in [0, 1] of the sampling, message)`` after each Euler step.
        deadline: a :class:`humansplat.errors.Deadline` (sampling stops with its ``TimeLimitError``).
    """
    from ..multiview.framing import orbit_view_cameras, prepare_synthesizer_input

    opt = options or ViewsModeOptions()
    report = progress or (lambda fraction, message: None)
    size = int(opt.size)
    if int(opt.num_frames) < 2:
        raise ValueError(f"views mode needs at least 2 frames (the input and one more), got {opt.num_frames}")
    azimuths = opt.frame_azimuths()

    t = time.perf_counter()
    synth_in = prepare_synthesizer_input(body_fit.crop, size, opt.fill)
    device = getattr(synthesizer, "_execution_device", torch.device("cpu"))
    generator = torch.Generator(device=device).manual_seed(int(opt.seed))
    steps = int(opt.num_inference_steps)

    def on_step(pipe: Any, i: int, t_: Any, kwargs: dict) -> dict:
        report((i + 1) / steps, f"SV3D step {i + 1}/{steps}")
        return {}

    out = synthesizer(
        synth_in.image,
        azimuths_deg=azimuths,
        elevation_deg=0.0,
        num_inference_steps=steps,
        height=size,
        width=size,
        min_guidance_scale=opt.min_guidance_scale,
        max_guidance_scale=opt.max_guidance_scale,
        guidance_profile=opt.guidance_profile,
        generator=generator,
        callback_on_step_end=on_step,
        deadline=deadline,
    )
    return SynthesizedViews(
        views=np.asarray(out.images),
        view_cameras=orbit_view_cameras(body_fit, synth_in.camera, out.azimuths_deg),
        azimuths_deg=out.azimuths_deg,
        synth_input=synth_in.image,
        weights=synthesizer_weights(synthesizer),
        seconds=round(time.perf_counter() - t, 3),
    )


def fit_to_synthesized(
    body_fit: BodyFit,
    prior_gaussians: Gaussians,
    synthesized: SynthesizedViews,
    options: ViewsModeOptions | None = None,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
) -> ViewsModeResult:
    """Step 2 of views mode: the bounded fit of ``prior_gaussians`` to the photo and the generated
    frames 1..F-1 (frame 0 is left out: the photo is better); ``progress(fraction of the fit, message)``.
    ``deadline``: checked after every step of the fit (:class:`~humansplat.errors.TimeLimitError`)."""
    opt = options or ViewsModeOptions()
    report = progress or (lambda fraction, message: None)
    t = time.perf_counter()
    fit_opts = opt.fit
    if fit_opts.seed != opt.seed:
        from dataclasses import replace

        fit_opts = replace(fit_opts, seed=int(opt.seed))

    def on_fit(step: int, total: int, loss: float) -> None:
        report(step / max(total, 1), f"fit step {step}/{total}, loss {loss:.4f}")

    s = synthesized
    gaussians, stats = fit_gaussians_to_views(
        prior_gaussians, body_fit, s.views[1:], s.view_cameras[1:], fit_opts, progress=on_fit, deadline=deadline
    )
    return ViewsModeResult(
        gaussians=gaussians,
        views=s.views,
        view_cameras=s.view_cameras,
        azimuths_deg=s.azimuths_deg,
        synth_input=s.synth_input,
        weights=dict(s.weights),
        stats=stats,
        timings={"synthesize": s.seconds, "fit": round(time.perf_counter() - t, 3)},
    )


def run_views_mode(
    body_fit: BodyFit,
    prior_gaussians: Gaussians,
    synthesizer: Any,
    options: ViewsModeOptions | None = None,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
) -> ViewsModeResult:
    """Generate orbit views with ``synthesizer`` and fit ``prior_gaussians`` to them and the photo
    (:func:`synthesize_views` then :func:`fit_to_synthesized`).

    Args:
        body_fit: the fitted body with the photo crop (its camera is the input view).
        prior_gaussians: the start (``gaussians_from_prior(body_fit)``).
        synthesizer: an :class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline` (e.g.
            ``load_sv3d_pipeline()``, or tiny random components in tests).
        options: :class:`ViewsModeOptions`.
        progress: ``progress(fraction, message)``: sampling takes [0, 0.5], the fit (0.5, 1].
        deadline: a :class:`humansplat.errors.Deadline`, or None: sampling and the fit stop with its
            ``TimeLimitError``.

    Returns:
        :class:`ViewsModeResult`.
    """
    report = progress or (lambda fraction, message: None)
    synthesized = synthesize_views(body_fit, synthesizer, options, lambda f, m: report(0.5 * f, m), deadline)
    return fit_to_synthesized(
        body_fit, prior_gaussians, synthesized, options, lambda f, m: report(0.5 + 0.5 * f, m), deadline
    )
