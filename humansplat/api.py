"""Photo -> 3D Gaussian avatar: the public stages chained, for the CLI, the app and scripts.

``iter_reconstruct`` runs the stages one by one and yields a :class:`StageUpdate` after each
(an app can show the crop, the body and the views as they arrive); ``reconstruct`` runs them all
and returns the :class:`~humansplat.result.Result`.

Stages: ``load`` (decode the photo) -> ``detect`` (person mask, landmarks, square crop) -> ``fit``
(the body model, the structure prior) -> [views mode only: ``synthesize``, the synthesizer's orbit
views, yielded the moment they are decoded, before the fit] -> ``reconstruct`` (Gaussians: prior mode,
prior mode refined on the synthesizer's views in views mode, or the network in full mode) -> ``views`` (the 4 orthogonal views front/left/back/right, and the input-view quality)
-> ``turntable`` (a 360 deg orbit) -> ``done``.

Modes: ``"prior"`` builds the Gaussians from the fitted body and the photo alone
(:mod:`humansplat.prior_mode.build`, no network weights). ``"full"`` runs the novel-view
synthesizer and the latent reconstruction transformer (:mod:`humansplat.network.pipeline_humansplat`)
and raises :class:`~humansplat.errors.WeightsUnavailableError` when their weights cannot be loaded.
``"views"`` runs the public human-fine-tuned SV3D synthesizer (``paulpanwang/GenHuman3D``) and fits
the prior-mode Gaussians to its orbit views and the photo (:mod:`humansplat.views_mode`).
``"auto"`` runs full with trained reconstructor and synthesizer weights on a CUDA GPU, views with the
synthesizer's weights on a CUDA GPU, else prior, with a note saying why the others did not run
(:func:`humansplat.modes.choose_mode`).

Options are checked once, before any work, by :func:`check_options` (the limits are
:data:`LIMITS`; the app narrows them with its own :class:`OptionLimits`). A
:class:`~humansplat.errors.Deadline` passed as ``deadline=`` is checked between stages and inside
the long loops (fit iterations, sampler steps, render chunks): past it the run stops with
:class:`~humansplat.errors.TimeLimitError` naming the stage.

Renders use a white background; views and turntables orbit about the fitted body's up axis through
its centre (:mod:`humansplat.orbit`), so a photo from above or below still gives a level turntable.
The networks' part of a run (views and full modes) is one call, :func:`humansplat.gpu_stage.run_networks`,
over plain values; a host that lends a GPU per call wraps it (``network_runner=``), and when it refuses
(:class:`~humansplat.errors.GpuUnavailableError`) the run ends in prior mode with its sentence as a note.
Models are loaded once per process and device, under a lock (:mod:`humansplat.gpu_stage`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import hub, weights
from .avatar_views import (  # re-exported: the Python API's names for the avatar's views
    VIEW_AZIMUTHS,
    VIEW_NAMES,
    back_coverage,
    input_view_quality,
    orbit_cameras,
    orbit_framing,
    render_turntable,
    render_views,
)
from .cameras import Cameras
from .errors import Deadline, GpuUnavailableError, InputError, WeightsUnavailableError, check_deadline
from .gaussians import Gaussians
from .modes import MODES, Mode, RequestedMode, choose_mode  # MODES, RequestedMode re-exported (api names)
from .result import ProgressCallback, Result

if TYPE_CHECKING:
    from .gpu_stage import NetworkRequest, NetworkUpdate
    from .prior.body_fit import BodyFit
    from .prior.fit import FitOptions
    from .prior.person import PersonCrop
    from .prior_mode.build import PriorOptions

__all__ = [
    "LIMITS",
    "MODES",
    "VIEW_AZIMUTHS",
    "VIEW_NAMES",
    "OptionLimits",
    "RunOptions",
    "StageUpdate",
    "check_options",
    "input_view_quality",
    "iter_reconstruct",
    "network_status",
    "orbit_cameras",
    "orbit_framing",
    "reconstruct",
    "render_turntable",
    "render_views",
]


STAGE_FRACTIONS: dict[str, float] = {
    "load": 0.03,
    "detect": 0.15,
    "fit": 0.45,
    "synthesize": 0.52,
    "reconstruct": 0.6,
    "views": 0.7,
    "turntable": 1.0,
    "done": 1.0,
}
"""Fraction of the work done when each stage ends (used for progress bars)."""

STAGE_LABELS: dict[str, str] = {
    "load": "reading the photo",
    "detect": "finding the person",
    "fit": "the body fit",
    "synthesize": "generating the views (SV3D)",
    "reconstruct": "building the Gaussians",
    "views": "rendering the views",
    "turntable": "rendering the turntable",
}
"""What each stage does, for people (time-limit messages)."""

@dataclass
class StageUpdate:
    """What :func:`iter_reconstruct` yields after each stage (fields not produced yet are None).

    Attributes:
        stage: ``load``, ``detect``, ``fit``, ``synthesize`` (views mode only), ``reconstruct``, ``views``,
            ``turntable`` or ``done``.
        fraction: share of the work done, in [0, 1].
        message: one line for people describing the stage that just ended.
        crop: the person crop (from ``detect`` on).
        body_fit: the fitted body (from ``fit`` on).
        gaussians: the avatar (from ``reconstruct`` on).
        views: (V, S, S, 3) uint8 orthogonal views (from ``views`` on; in views mode from ``synthesize`` on):
            in views and full modes the synthesizer's generated views nearest front/left/back/right (their
            size is the synthesizer's), else the avatar rendered; see ``Result.views``.
        result: the :class:`Result` (only on ``done``).
    """

    stage: str
    fraction: float
    crop: PersonCrop | None = None
    body_fit: BodyFit | None = None
    gaussians: Gaussians | None = None
    views: np.ndarray | None = None
    result: Result | None = None
    message: str = ""


# ---------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class OptionLimits:
    """Inclusive ranges of the run options (whole numbers).

    Attributes:
        frames: turntable frames (0 = no turntable).
        resolution: side of the views and turntable frames, pixels.
        seed: seed of the network's sampling.
    """

    frames: tuple[int, int] = (0, 720)
    resolution: tuple[int, int] = (16, 2048)
    seed: tuple[int, int] = (0, 2**31 - 1)


LIMITS = OptionLimits()
"""The library's limits (the CLI's); the app passes narrower ones."""


@dataclass(frozen=True)
class RunOptions:
    """Checked options of one run (:func:`check_options`).

    Attributes:
        mode: the mode that will run (``"prior"``, ``"views"`` or ``"full"``; ``"auto"`` resolved).
        frames, resolution, seed: whole numbers within the limits.
        device: where Gaussians are rendered (and the networks run, unless ``network_device`` says otherwise).
        network_device: where the networks run (the synthesizer, the views fit, the network).
        notes: notes for the Result (e.g. why auto ran prior mode).
    """

    mode: Mode
    frames: int
    resolution: int
    seed: int
    device: torch.device
    notes: tuple[str, ...] = field(default_factory=tuple)
    network_device: torch.device | None = None

    @property
    def networks_on(self) -> torch.device:
        """Where the networks run: ``network_device``, else ``device``."""
        return self.network_device if self.network_device is not None else self.device


def _whole(name: str, value: Any, limits: tuple[int, int], unit: str = "") -> int:
    """``value`` as an int within ``limits`` (inclusive); InputError quoting it otherwise."""
    lo, hi = limits
    number: float | None
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not number.is_integer() or not lo <= number <= hi:
        raise InputError(f"{name} {value!r} is out of range: use a whole number{unit} from {lo} to {hi}")
    return int(number)


def _device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InputError(f"unknown device {device!r}; use e.g. 'cpu' or 'cuda:0'") from exc
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def check_options(
    mode: str = "auto",
    frames: Any = 36,
    resolution: Any = 512,
    seed: Any = 0,
    device: str | torch.device | None = None,
    limits: OptionLimits = LIMITS,
    network_device: str | torch.device | None = None,
) -> RunOptions:
    """Check a run's options once, before any work (the one check: :func:`iter_reconstruct`, the CLI
    and the app call it).

    Args:
        mode: ``"auto"``, ``"prior"``, ``"views"`` or ``"full"`` (module docstring; ``"auto"``: full with
            trained reconstructor + synthesizer weights on a CUDA GPU, views with the synthesizer's
            weights on a CUDA GPU, else prior).
        frames, resolution, seed: whole numbers (ints, or floats/strings holding one) within ``limits``.
        device: a torch device name (default CUDA when available, else CPU).
        limits: the allowed ranges (default :data:`LIMITS`).
        network_device: where the networks run when not on ``device`` (a host that lends a GPU per
            call renders on the CPU and runs the networks on ``"cuda"``); ``auto`` looks at it.

    Raises:
        InputError: an option is unknown, not a whole number or out of range (the message quotes it).
        WeightsUnavailableError: ``mode="views"``/``"full"`` and their weights are not available here.
    """
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; use {', '.join(repr(m) for m in MODES)}")
    checked = dict(
        frames=_whole("frames", frames, limits.frames),
        resolution=_whole("resolution", resolution, limits.resolution, " of pixels"),
        seed=_whole("seed", seed, limits.seed),
        device=_device(device),
    )
    networks = _device(network_device) if network_device is not None else None
    run_mode, notes = _resolve_mode(mode, networks or checked["device"])
    return RunOptions(mode=run_mode, notes=tuple(notes), network_device=networks, **checked)


# ---------------------------------------------------------------------------------------- network
def network_status() -> tuple[bool, str]:
    """Whether ``"full"`` mode can run here: (available, a message saying why or why not).

    Looks at the network pipeline (:mod:`humansplat.network.pipeline_humansplat`) without
    downloading anything; never raises.
    """
    try:
        from .network.pipeline_humansplat import network_status as probe

        ok, message = probe()
    except Exception as exc:  # noqa: BLE001 - a probe must not break the app
        return False, f"checking the network weights failed: {exc}"
    return bool(ok), str(message)


def _resolve_mode(mode: str, device: torch.device | None = None) -> tuple[Mode, list[str]]:
    """Requested mode (one of MODES) -> (mode to run, notes): the rule of
    :func:`humansplat.modes.choose_mode` over this machine's weight statuses. Raises WeightsUnavailableError for an explicit
    ``"views"``/``"full"`` whose weights are missing."""
    if mode == "prior":
        return "prior", ["prior mode: Gaussians from the fitted body and the photo; no network weights ran"]
    device = device if device is not None else _device(None)
    net_ok, net_message = network_status()
    synth_ok, synth_message = weights.synthesizer_status()
    notes: list[str] = []
    if mode == "views" and not synth_ok and not hub.hub_offline():  # asked for explicitly: fetch on first use
        synth_ok = True
        notes.append(f"views mode: the synthesizer's weights are fetched from the Hub on first use ({synth_message})")
    try:
        run_mode, reasons = choose_mode({"synthesizer": synth_ok, "reconstructor": net_ok}, device, mode)
    except ValueError as exc:
        detail = net_message if mode == "full" else synth_message
        raise WeightsUnavailableError(
            f"{mode} mode cannot run: {detail}. Use mode='prior' (no weights needed) or 'auto' instead of {mode!r}."
        ) from exc
    if run_mode == "prior":
        first = lambda message: message.split(". ")[0].rstrip(".")  # noqa: E731
        note = (
            "Prior mode ran (no network weights ran): " + "; ".join(reasons) + ". "
            f"Why: full mode unavailable here ({first(net_message)}); views mode: {first(synth_message)}. "
            "Details: humansplat.api.network_status() and the README section 'Network weights'."
        )
        return "prior", [note]
    return run_mode, notes + [f"{run_mode} mode: " + r for r in reasons]


# ---------------------------------------------------------------------------------------- stages
class _StageRun:
    """The bookkeeping shared by every stage of :func:`iter_reconstruct`: the deadline checked as a
    stage starts, its seconds, and the artefacts so far that each :class:`StageUpdate` carries."""

    def __init__(self, deadline: Deadline | None) -> None:
        self.deadline = deadline
        self.timings: dict[str, float] = {}
        self.artefacts: dict[str, Any] = {"crop": None, "body_fit": None, "gaussians": None, "views": None}

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Check the deadline, then time the block into ``timings[stage]``."""
        check_deadline(self.deadline, STAGE_LABELS.get(stage, stage))
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def update(self, stage: str, message: str, fraction: float | None = None, **artefacts: Any) -> StageUpdate:
        """A StageUpdate with every artefact so far (plus ``artefacts``, remembered for later stages)."""
        result = artefacts.pop("result", None)
        self.artefacts.update(artefacts)
        frac = STAGE_FRACTIONS[stage] if fraction is None else fraction
        return StageUpdate(stage, frac, message=message, result=result, **self.artefacts)


@dataclass
class _Reconstruction:
    """What the ``reconstruct`` stage made: the Gaussians, the weights that ran, in views and full modes
    the synthesizer's views and their cameras (else None), the mode that ran and a note (a GPU refusal)."""

    gaussians: Gaussians
    weights: dict[str, str]
    views: np.ndarray | None = None
    view_cameras: Cameras | None = None
    mode: Mode = "prior"
    note: str | None = None


NetworkRunner = Callable[["NetworkRequest"], Iterator["NetworkUpdate"]]
"""Runs the networks' part of a run (:func:`humansplat.gpu_stage.run_networks` or a host's wrapper of it,
e.g. the app's ZeroGPU call); may raise :class:`~humansplat.errors.GpuUnavailableError`."""


def _reconstruct_gaussians(
    run: _StageRun,
    fit: BodyFit,
    opts: RunOptions,
    prior_options: PriorOptions | None,
    views_options: Any = None,
    network_runner: NetworkRunner | None = None,
) -> Iterator[StageUpdate]:
    """The ``reconstruct`` stage: prior mode on the CPU; in views and full modes the networks' part
    through ``network_runner`` (default :func:`humansplat.gpu_stage.run_networks`). In views mode yields
    one ``synthesize`` update (the generated views nearest front/left/back/right) as soon as the
    synthesizer's frames are decoded, before the fit. When the runner raises
    :class:`~humansplat.errors.GpuUnavailableError` the prior-mode Gaussians are the result, with its
    sentence as the note. Returns the :class:`_Reconstruction`."""
    from .gpu_stage import NetworkRequest, run_networks
    from .prior_mode.build import gaussians_from_prior

    prior = gaussians_from_prior(fit, prior_options) if opts.mode != "full" else None  # CPU work
    if opts.mode == "prior":
        return _Reconstruction(prior.to(opts.device), {})
    request = NetworkRequest(
        mode=opts.mode, body_fit=fit, prior=prior, seed=opts.seed, device=str(opts.networks_on),
        output_device=str(opts.device), views_options=views_options, deadline=run.deadline,
    )
    views = cams = final = None
    try:
        for update in (network_runner or run_networks)(request):
            if update.stage == "synthesize":  # the 4-view strip from the orbit's frames
                pick = _nearest_frames(update.azimuths_deg, VIEW_AZIMUTHS)
                views, cams = np.asarray(update.views)[pick], update.view_cameras[torch.as_tensor(pick)]
                yield run.update("synthesize", update.message, views=views)
            else:
                final = update
    except GpuUnavailableError as exc:
        prior = prior if prior is not None else gaussians_from_prior(fit, prior_options)
        return _Reconstruction(prior.to(opts.device), {}, mode="prior", note=str(exc))
    assert final is not None  # every runner ends with "reconstruct"
    if final.views is not None:
        views, cams = final.views, final.view_cameras
    return _Reconstruction(final.gaussians.to(opts.device), dict(final.weights), views, cams, mode=opts.mode)


def _nearest_frames(azimuths_deg: torch.Tensor, wanted: Sequence[float]) -> list[int]:
    """Index of the frame whose azimuth is nearest (on the circle) to each wanted azimuth (degrees)."""
    az = torch.as_tensor(azimuths_deg, dtype=torch.float64).reshape(-1)
    return [int(((az - w + 180.0) % 360.0 - 180.0).abs().argmin()) for w in wanted]


def _views_and_quality(
    recon: _Reconstruction, fit: BodyFit, resolution: int, deadline: Deadline | None
) -> tuple[np.ndarray, Cameras, dict[str, float]]:
    """The ``views`` stage: the 4 orthogonal views (the synthesizer's in views and full modes), their cameras and
    the quality numbers (input view, back coverage of the rendered back view)."""
    views, alphas, view_cams = render_views(recon.gaussians, fit, resolution, deadline=deadline, stage=STAGE_LABELS["views"])
    quality = input_view_quality(recon.gaussians, fit)
    quality["back_coverage"] = round(back_coverage(alphas[2], fit, view_cams[2]), 4)
    if recon.views is not None and len(recon.views) and recon.view_cameras is not None:
        views, view_cams = recon.views, recon.view_cameras
    return views, view_cams, quality


def _turntable(run: _StageRun, gaussians: Gaussians, fit: BodyFit, opts: RunOptions) -> Iterator[StageUpdate]:
    """The ``turntable`` stage: yields an update after each chunk but the last; returns the frames
    (F, S, S, 3) uint8 (F = 0 without a turntable)."""
    S = opts.resolution
    if opts.frames == 0:
        return np.zeros((0, S, S, 3), dtype=np.uint8)
    chunks = []
    lo, hi = STAGE_FRACTIONS["views"], STAGE_FRACTIONS["turntable"]
    for start, rgb in render_turntable(gaussians, fit, opts.frames, S, deadline=run.deadline, stage=STAGE_LABELS["turntable"]):
        chunks.append(rgb)
        done = start + len(rgb)
        if done < opts.frames:
            yield run.update("turntable", f"turntable frame {done}/{opts.frames}", lo + (hi - lo) * done / opts.frames)
    return np.concatenate(chunks)


def iter_reconstruct(
    photo: Any,
    mode: RequestedMode = "auto",
    frames: int = 36,
    resolution: int = 512,
    seed: int = 0,
    device: str | torch.device | None = None,
    body_backend: str = "anny",
    prior_options: PriorOptions | None = None,
    views_options: Any = None,
    deadline: Deadline | None = None,
    options: RunOptions | None = None,
    fit_options: FitOptions | None = None,
    network_device: str | torch.device | None = None,
    network_runner: NetworkRunner | None = None,
) -> Iterator[StageUpdate]:
    """Reconstruct a person stage by stage (module docstring); the last update carries the Result.

    Args:
        photo: a path, file bytes, (H, W, 3|4) array, PIL image or an already loaded Photo.
        mode: ``"auto"``, ``"prior"``, ``"views"`` or ``"full"`` (module docstring).
        frames: turntable frames (0 = none).
        resolution: side in pixels of the orthogonal views and the turntable frames.
        seed: seed of the synthesizer's sampling and the views fit (views and full modes; prior mode is
            deterministic).
        device: where Gaussians are rendered and networks run (default CUDA when available, else CPU).
        body_backend: body model of the structure prior (``"anny"``; ``"smplx"`` with its model files).
        prior_options: options of prior mode (:class:`~humansplat.prior_mode.build.PriorOptions`).
        fit_options: options of the body fit (:class:`~humansplat.prior.fit.FitOptions`; None: its defaults).
        views_options: options of views mode (:class:`~humansplat.views_mode.ViewsModeOptions`: frames,
            sampler steps, the fit's steps; its seed is ``seed``).
        deadline: the run's time limit (:class:`~humansplat.errors.Deadline`; None: no limit).
        options: options already checked by :func:`check_options` (a batch checks them once); when
            given, they replace ``mode``, ``frames``, ``resolution``, ``seed``, ``device`` and ``network_device``.
        network_device: where the networks run, when not on ``device`` (:func:`check_options`).
        network_runner: runs the networks' part (default :func:`humansplat.gpu_stage.run_networks`, in
            this process); a host lending GPUs per call passes its wrapper. When it raises
            :class:`~humansplat.errors.GpuUnavailableError` the run finishes in prior mode and its
            sentence is the first note.

    Raises:
        InputError: the photo or an option cannot be used (no person, bad file, ...).
        WeightsUnavailableError: ``mode="views"``/``"full"`` and their weights cannot be loaded.
        TimeLimitError: ``deadline`` passed; the message names the stage that was stopped.
    """
    from .io.images import Photo, load_photo
    from .prior.fit import fit_body
    from .prior.person import detect_person

    opts = options or check_options(mode, frames, resolution, seed, device, network_device=network_device)
    run = _StageRun(deadline)

    with run.timed("load"):
        ph = photo if isinstance(photo, Photo) else load_photo(photo)
    notes = list(ph.notes) + list(opts.notes)
    yield run.update("load", f"loaded {ph.source} ({ph.width}x{ph.height})")

    with run.timed("detect"):
        crop = detect_person(ph)
    notes += [n for n in crop.notes if n not in notes]
    yield run.update("detect", "found the person", crop=crop)

    with run.timed("fit"):
        fit = fit_body(crop, backend=body_backend, options=fit_options, deadline=deadline)
    yield run.update("fit", f"fitted the {fit.backend} body", body_fit=fit)

    with run.timed("reconstruct"):
        recon = yield from _reconstruct_gaussians(run, fit, opts, prior_options, views_options, network_runner)
    if recon.note:
        notes.insert(0, recon.note)
    yield run.update("reconstruct", f"{len(recon.gaussians):,} Gaussians ({recon.mode} mode)", gaussians=recon.gaussians)

    with run.timed("views"):
        views, view_cams, quality = _views_and_quality(recon, fit, opts.resolution, deadline)
    message = (
        f"input-view fidelity: PSNR {quality['input_view_psnr_db']:.1f} dB, "
        f"alpha IoU {quality['input_view_alpha_iou']:.3f}"
    )
    yield run.update("views", message, views=views)

    with run.timed("turntable"):
        turntable = yield from _turntable(run, recon.gaussians, fit, opts)
    yield run.update("turntable", f"turntable: {opts.frames} frames")

    result = Result(
        gaussians=recon.gaussians,
        body_fit=fit,
        views=views,
        view_cameras=view_cams,
        turntable=turntable,
        mode=recon.mode,
        weights=recon.weights,
        timings={k: round(v, 3) for k, v in run.timings.items()},
        quality=quality,
        notes=notes,
    )
    yield run.update("done", result.summary(), result=result)


def reconstruct(
    photo: Any,
    mode: RequestedMode = "auto",
    frames: int = 36,
    resolution: int = 512,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: ProgressCallback | None = None,
    **kwargs: Any,
) -> Result:
    """Run every stage of :func:`iter_reconstruct` and return the Result.

    ``progress(fraction, stage)`` is called after each stage (and during the turntable);
    ``kwargs`` go to :func:`iter_reconstruct` (``body_backend``, ``fit_options``, ``prior_options``, ``views_options``, ``deadline``, ``options``).
    """
    result: Result | None = None
    for update in iter_reconstruct(photo, mode, frames, resolution, seed, device, **kwargs):
        if progress is not None:
            progress(update.fraction, update.stage if not update.message else f"{update.stage}: {update.message}")
        if update.result is not None:
            result = update.result
    assert result is not None  # iter_reconstruct always ends with "done"
    return result
