"""The GPU part of a run, as one call over plain values: the networks and nothing else.

A run's photo intake, detection, body fit, prior mode, views, turntable and files are CPU work. Only
the networks need a GPU: in views mode the synthesizer's sampling and the Gaussian fit to its views,
in full mode the network. :func:`run_networks` is that part alone, so a host that lends a GPU per
call (a ZeroGPU Space, ``app.py``) wraps exactly it and asks for :func:`gpu_seconds` of GPU time.
Its argument and what it yields are plain dataclasses of tensors and arrays (they may cross a process
boundary). The networks are loaded once per process and device (:func:`preload` at start-up, else on
first use), never per call.

GPU seconds asked for (:func:`gpu_seconds`). The per-step seconds are **estimates**, for an A100-class
GPU in fp16 (ZeroGPU lends a slice of an H200, so they should be on the safe side), none measured yet:
replace them by the seconds ``humansplat-selfcheck`` measures on the card (docs/benchmarks.md)::

    views = OVERHEAD_S                                              6.0  (worker start, models onto the GPU)
          + steps * 2F * UNET_S_PER_FRAME_PASS * (S/512)^2          25 * 36 * 0.02  = 18.0  (CFG: 2 passes per frame)
          + F * (VAE_S_PER_FRAME + ENCODE_S / F) * (S/512)^2        18 * 0.1 + 0.5  =  2.3  (float32 VAE)
          + fit_steps * F * FIT_S_PER_VIEW_STEP * (s/512)^2         200 * 18 * 0.003 = 10.8 (photo + 17 views)
          = 37.1 s at the defaults (F = 18 frames, S = 512 px, 25 steps, a 200-step fit at s = 512 px),
    asked = ceil(MARGIN * views) = ceil(1.5 * 37.1) = 56 s  (<= 60 s: a short request waits less in
    ZeroGPU's queue and fits an unsigned visitor's 2-minute daily quota twice).

    full  = OVERHEAD_S + sampler(F = 12 orbit frames) + RECONSTRUCTOR_S (10 s), times MARGIN.

A prior-mode run asks for no GPU time: it never calls :func:`run_networks`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from .cameras import Cameras
from .errors import Deadline, WeightsUnavailableError
from .gaussians import Gaussians

if TYPE_CHECKING:  # pragma: no cover
    from .prior.body_fit import BodyFit

__all__ = [
    "FULL_MODE_FRAMES",
    "MARGIN",
    "NetworkRequest",
    "NetworkUpdate",
    "gpu_seconds",
    "network_pipeline",
    "preload",
    "run_networks",
    "synthesizer_pipeline",
]

OVERHEAD_S = 6.0
"""Seconds of a GPU call spent before the first step: the worker, the placed models moved onto the GPU."""
UNET_S_PER_FRAME_PASS = 0.02
"""Seconds of one UNet pass over one frame at 512 px (64 x 64 latents), fp16 (estimate). Reasoning: if
SVD-XT's UNet (the same blocks) takes about 45 s for 25 frames at 576 x 1024, 25 steps with CFG on an
A100 (an unmeasured assumption), that is 45 / (25 * 50) = 0.036 s per frame pass at 72 x 128
latents, times 4096 / 9216 for 64 x 64 = 0.016 s; rounded up to 0.02 s."""
VAE_S_PER_FRAME = 0.1
"""Seconds to decode one 512 px frame with SD 1.5's VAE in float32 (estimate)."""
ENCODE_S = 0.5
"""Seconds of the photo's CLIP and VAE encodings (estimate)."""
FIT_S_PER_VIEW_STEP = 0.003
"""Seconds per view and Adam step of the Gaussian fit at 512 px with gsplat (estimate)."""
RECONSTRUCTOR_S = 10.0
"""Seconds of full mode's reconstruction transformer (estimate)."""
MARGIN = 1.5
"""Asked = estimate times this: a call that runs past its asked duration is stopped."""
FULL_MODE_FRAMES = 12
"""Orbit frames full mode samples (:class:`~humansplat.network.pipeline_humansplat.HumanSplatPipeline`'s default)."""

_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


@dataclass
class NetworkRequest:
    """The networks' part of one run (plain values: it may be pickled into another process).

    Attributes:
        mode: ``"views"`` or ``"full"``.
        body_fit: the fitted body with the photo crop (CPU tensors).
        prior: views mode's start, the prior-mode Gaussians (CPU); None in full mode.
        seed: seeds the sampling and the fit.
        device: where the networks run (``"cuda"`` on a GPU host).
        output_device: where the returned Gaussians are put (where the run renders).
        views_options: :class:`~humansplat.views_mode.ViewsModeOptions` (views mode; None: its defaults).
        deadline: the run's time limit (checked inside the sampling and the fit).
    """

    mode: Literal["views", "full"]
    body_fit: BodyFit
    prior: Gaussians | None = None
    seed: int = 0
    device: str = "cpu"
    output_device: str = "cpu"
    views_options: Any = None
    deadline: Deadline | None = None


@dataclass
class NetworkUpdate:
    """What :func:`run_networks` yields: ``synthesize`` (views mode, as soon as the views are decoded)
    then ``reconstruct`` (the Gaussians).

    Attributes:
        stage: ``"synthesize"`` or ``"reconstruct"``.
        message: one line for people.
        views: (F, S, S, 3) uint8 generated views (``synthesize``: all F frames; ``reconstruct`` in full
            mode: the network's views), or None.
        view_cameras: their cameras, or None.
        azimuths_deg: (F,) their azimuths (``synthesize``), or None.
        gaussians: the avatar on ``output_device`` (``reconstruct``), or None.
        weights: component -> where its weights came from.
        seconds: seconds of this step on the GPU.
    """

    stage: Literal["synthesize", "reconstruct"]
    message: str
    views: np.ndarray | None = None
    view_cameras: Cameras | None = None
    azimuths_deg: torch.Tensor | None = None
    gaussians: Gaussians | None = None
    weights: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def synthesizer_pipeline(device: torch.device | str) -> Any:
    """The views-mode synthesizer (human SV3D: UNet fp16 on CUDA, VAE float32), loaded once per process
    and device (thread-safe)."""
    key = f"sv3d:{torch.device(device)}"
    with _LOCK:
        if key not in _CACHE:
            from .multiview.load import load_sv3d_pipeline

            _CACHE[key] = load_sv3d_pipeline(device=torch.device(device))
        return _CACHE[key]


def network_pipeline(device: torch.device | str) -> Any:
    """The full-mode pipeline, loaded once per process and device (thread-safe)."""
    key = str(torch.device(device))
    with _LOCK:
        if key not in _CACHE:
            try:
                from .network.pipeline_humansplat import HumanSplatPipeline
            except ImportError as exc:
                raise WeightsUnavailableError(
                    f"full mode needs the network pipeline (humansplat.network.pipeline_humansplat), "
                    f"which is not available here ({exc}); use mode='prior' or 'auto'"
                ) from exc
            _CACHE[key] = HumanSplatPipeline.from_pretrained().to(torch.device(device))
        return _CACHE[key]


def preload(modes: tuple[str, ...], device: torch.device | str) -> list[str]:
    """Load the networks of ``modes`` (``"views"``, ``"full"``) onto ``device`` now, at start-up (on a
    ZeroGPU Space, ``.to("cuda")`` outside a GPU call places them: each call then finds them there).
    Returns the names of what was loaded."""
    loaded = []
    if "views" in modes or "full" in modes:
        synthesizer_pipeline(device)
        loaded.append("synthesizer")
    if "full" in modes:
        network_pipeline(device)
        loaded.append("network")
    return loaded


def _sampler_seconds(frames: int, steps: int, size: int) -> float:
    """Estimated seconds of the synthesizer: encode, ``steps`` x 2F UNet passes, F decodes (module docstring)."""
    area = (size / 512.0) ** 2
    return steps * 2 * frames * UNET_S_PER_FRAME_PASS * area + (frames * VAE_S_PER_FRAME + ENCODE_S) * area


def gpu_seconds(request: NetworkRequest) -> int:
    """GPU seconds to ask for ``request`` (module docstring): ``ceil(MARGIN * estimate)``."""
    if request.mode == "views":
        from .views_mode.run import ViewsModeOptions

        opt = request.views_options or ViewsModeOptions()
        fit_size = opt.fit.size or opt.size
        estimate = OVERHEAD_S + _sampler_seconds(opt.num_frames, opt.num_inference_steps, opt.size)
        estimate += opt.fit.steps * opt.num_frames * FIT_S_PER_VIEW_STEP * (fit_size / 512.0) ** 2
    elif request.mode == "full":
        estimate = OVERHEAD_S + _sampler_seconds(FULL_MODE_FRAMES, 25, 512) + RECONSTRUCTOR_S
    else:
        raise ValueError(f"only views and full modes use the GPU, got mode {request.mode!r}")
    return math.ceil(MARGIN * estimate)


def run_networks(request: NetworkRequest) -> Iterator[NetworkUpdate]:
    """The networks of one run (module docstring): views mode yields ``synthesize`` (all generated frames,
    their cameras and azimuths) then ``reconstruct`` (the fitted Gaussians); full mode yields
    ``reconstruct`` (the network's Gaussians and views). Gaussians come back on ``request.output_device``."""
    device = torch.device(request.device)
    out_device = torch.device(request.output_device)
    if request.mode == "full":
        pipe = network_pipeline(device)
        generator = torch.Generator(device=device).manual_seed(int(request.seed))
        out = pipe(request.body_fit, generator=generator, deadline=request.deadline)
        views = np.asarray(out.views) if getattr(out, "views", None) is not None else None
        cams = getattr(out, "view_cameras", None)
        yield NetworkUpdate(
            "reconstruct", f"{len(out.gaussians):,} Gaussians from the network", views=views,
            view_cameras=None if cams is None else cams.to("cpu"), gaussians=out.gaussians.to(out_device),
            weights=dict(getattr(out, "weights", {}) or {}),
        )
        return
    if request.mode != "views" or request.prior is None:
        raise ValueError(
            f"run_networks needs mode 'views' with the prior Gaussians or mode 'full', got {request.mode!r}"
        )
    from .views_mode.run import ViewsModeOptions, fit_to_synthesized, synthesize_views

    opts = replace(request.views_options or ViewsModeOptions(), seed=int(request.seed))
    synth = synthesize_views(request.body_fit, synthesizer_pipeline(device), opts, deadline=request.deadline)
    message = f"SV3D generated {len(synth.views)} views in {synth.seconds:.1f} s; fitting the Gaussians to them"
    yield NetworkUpdate(
        "synthesize", message,
        views=np.asarray(synth.views), view_cameras=synth.view_cameras, azimuths_deg=synth.azimuths_deg,
        weights=dict(synth.weights), seconds=synth.seconds,
    )
    out = fit_to_synthesized(request.body_fit, request.prior.to(device), synth, opts, deadline=request.deadline)
    yield NetworkUpdate(
        "reconstruct", f"{len(out.gaussians):,} Gaussians fitted to the views", gaussians=out.gaussians.to(out_device),
        weights=dict(out.weights), seconds=out.timings.get("fit", 0.0),
    )
