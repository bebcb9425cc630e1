"""Photo -> 3D Gaussian avatar: the public stages chained, for the CLI, the app and scripts.

``iter_reconstruct`` runs the stages one by one and yields a :class:`StageUpdate` after each
(an app can show the crop, the body and the views as they arrive); ``reconstruct`` runs them all
and returns the :class:`~humansplat.result.Result`.

Stages: ``load`` (decode the photo) -> ``detect`` (person mask, landmarks, square crop) -> ``fit``
(the body model, the structure prior) -> ``reconstruct`` (Gaussians: prior mode, or the network in
full mode) -> ``views`` (the 4 orthogonal views front/left/back/right, and the input-view quality)
-> ``turntable`` (a 360 deg orbit) -> ``done``.

Modes: ``"prior"`` builds the Gaussians from the fitted body and the photo alone
(:mod:`humansplat.reconstruct.prior_only`, no network weights). ``"full"`` runs the novel-view
synthesizer and the latent reconstruction transformer (:mod:`humansplat.reconstruct.pipeline_humansplat`)
and raises :class:`~humansplat.errors.WeightsUnavailableError` when their weights cannot be loaded.
``"auto"`` runs full when :func:`network_status` says it can, else prior with a note saying why.

Renders use a white background; the orbit turns around the fitted body's centre
(see :meth:`humansplat.cameras.Cameras.orbit`). Models are loaded lazily, once per process, under a lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from .cameras import Cameras
from .errors import InputError, WeightsUnavailableError
from .gaussians import Gaussians
from .result import Mode, ProgressCallback, Result

if TYPE_CHECKING:
    from .prior.body_fit import BodyFit
    from .prior.person import PersonCrop
    from .reconstruct.prior_only import PriorOptions

__all__ = [
    "VIEW_AZIMUTHS",
    "VIEW_NAMES",
    "StageUpdate",
    "input_view_quality",
    "iter_reconstruct",
    "network_status",
    "orbit_framing",
    "reconstruct",
    "render_turntable",
    "render_views",
]

RequestedMode = Literal["auto", "prior", "full"]

VIEW_AZIMUTHS: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
"""Azimuths (degrees) of the 4 orthogonal views: front, the subject's left, back, the subject's right."""
VIEW_NAMES: tuple[str, ...] = ("front", "left", "back", "right")

STAGE_FRACTIONS: dict[str, float] = {
    "load": 0.03,
    "detect": 0.15,
    "fit": 0.45,
    "reconstruct": 0.6,
    "views": 0.7,
    "turntable": 1.0,
    "done": 1.0,
}
"""Fraction of the work done when each stage ends (used for progress bars)."""

_NETWORK_LOCK = threading.Lock()
_NETWORK_CACHE: dict[str, Any] = {}


@dataclass
class StageUpdate:
    """What :func:`iter_reconstruct` yields after each stage (fields not produced yet are None).

    Attributes:
        stage: ``load``, ``detect``, ``fit``, ``reconstruct``, ``views``, ``turntable`` or ``done``.
        fraction: share of the work done, in [0, 1].
        message: one line for people describing the stage that just ended.
        crop: the person crop (from ``detect`` on).
        body_fit: the fitted body (from ``fit`` on).
        gaussians: the avatar (from ``reconstruct`` on).
        views: (V, S, S, 3) uint8 orthogonal views (from ``views`` on): in full mode the synthesizer's
            generated views (their size is the synthesizer's), else the avatar rendered; see ``Result.views``.
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


# ---------------------------------------------------------------------------------------- network
def network_status() -> tuple[bool, str]:
    """Whether ``"full"`` mode can run here: (available, a message saying why or why not).

    Looks at the network pipeline (:mod:`humansplat.reconstruct.pipeline_humansplat`) without
    downloading anything; never raises.
    """
    try:
        from .reconstruct.pipeline_humansplat import network_status as probe

        ok, message = probe()
    except Exception as exc:  # noqa: BLE001 - a probe must not break the app
        return False, f"checking the network weights failed: {exc}"
    return bool(ok), str(message)


def _network_pipeline(device: torch.device) -> Any:
    """The full-mode pipeline, loaded once per process and device (thread-safe)."""
    key = str(device)
    with _NETWORK_LOCK:
        if key not in _NETWORK_CACHE:
            try:
                from .reconstruct.pipeline_humansplat import HumanSplatPipeline
            except ImportError as exc:
                raise WeightsUnavailableError(
                    f"full mode needs the network pipeline (humansplat.reconstruct.pipeline_humansplat), "
                    f"which is not available here ({exc}); use mode='prior' or 'auto'"
                ) from exc
            _NETWORK_CACHE[key] = HumanSplatPipeline.from_pretrained().to(device)
        return _NETWORK_CACHE[key]


def _resolve_mode(mode: str) -> tuple[Mode, list[str]]:
    """Requested mode -> (mode to run, notes). Raises InputError / WeightsUnavailableError."""
    if mode not in ("auto", "prior", "full"):
        raise InputError(f"unknown mode {mode!r}; use 'auto', 'prior' or 'full'")
    if mode == "prior":
        return "prior", ["prior mode: Gaussians from the fitted body and the photo; no network weights ran"]
    ok, message = network_status()
    if mode == "full":
        if not ok:
            raise WeightsUnavailableError(
                f"full mode cannot run: {message}. Use mode='prior' (no weights needed) or 'auto'."
            )
        return "full", []
    if ok:
        return "full", []
    reason = message.split(". ")[0].rstrip(".")
    note = (
        f"Prior mode ran (no network weights): full mode unavailable here. {reason}. "
        "Details: humansplat.pipeline.network_status() and the README section 'Network weights'."
    )
    return "prior", [note]


# ---------------------------------------------------------------------------------------- cameras
def orbit_framing(gaussians: Gaussians, body_fit: BodyFit, margin: float = 1.08) -> tuple[torch.Tensor, float, float]:
    """Centre, radius and vertical field of view of orbit cameras that frame the avatar in every view.

    The centre is the fitted body's bounding-box centre; the radius is the input camera's distance
    to it (so azimuth 0 looks like the photo); the field of view fits a sphere around the centre
    holding 99.5 % of the Gaussians' means (plus ``margin``).

    Returns:
        centre (3,) metres, radius (metres), fov_y (degrees).
    """
    verts = body_fit.vertices.detach().float().cpu()
    centre = (verts.min(dim=0).values + verts.max(dim=0).values) / 2
    input_centre = body_fit.camera.centers[0].detach().float().cpu()
    radius = float((centre - input_centre).norm())
    means = gaussians.means.detach().float().cpu()
    if len(means):
        dist = (means - centre).norm(dim=-1)
        extent = float(torch.quantile(dist, 0.995)) if len(dist) < 16_000_000 else float(dist.max())
    else:
        extent = float((verts - centre).norm(dim=-1).max())
    extent = max(extent, 1e-3)
    radius = max(radius, 2.0 * extent)
    fov = 2.0 * math.degrees(math.atan(margin * extent / math.sqrt(max(radius**2 - extent**2, 1e-12))))
    return centre, radius, fov


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    return (rgb.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())


def _render_rgb(gaussians: Gaussians, cameras: Cameras, chunk: int = 4) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Render on white in chunks of cameras; yields (start index, rgb uint8 (c, H, W, 3), alpha (c, H, W))."""
    from .render import render

    for start in range(0, len(cameras), chunk):
        with torch.no_grad():
            out = render(gaussians, cameras[start : start + chunk], background=1.0)
        yield start, _to_uint8(out.rgb), out.alpha[..., 0].detach().cpu().numpy()


def render_views(
    gaussians: Gaussians, body_fit: BodyFit, resolution: int = 512, azimuths: tuple[float, ...] = VIEW_AZIMUTHS
) -> tuple[np.ndarray, np.ndarray, Cameras]:
    """The avatar from orbit views around the body's centre (default front/left/back/right).

    Returns:
        rgb (V, S, S, 3) uint8 on white, alpha (V, S, S) float32, the V cameras.
    """
    centre, radius, fov = orbit_framing(gaussians, body_fit)
    cams = Cameras.orbit(centre, radius, list(azimuths), 0.0, fov, resolution, resolution).to(gaussians.device)
    rgbs, alphas = [], []
    for _, rgb, alpha in _render_rgb(gaussians, cams):
        rgbs.append(rgb)
        alphas.append(alpha)
    return np.concatenate(rgbs), np.concatenate(alphas), cams


def render_turntable(
    gaussians: Gaussians, body_fit: BodyFit, frames: int = 36, resolution: int = 512, chunk: int = 4
) -> Iterator[tuple[int, np.ndarray]]:
    """Frames of a 360 deg orbit starting at the input view; yields (start index, (c, S, S, 3) uint8)."""
    centre, radius, fov = orbit_framing(gaussians, body_fit)
    cams = Cameras.turntable(centre, radius, frames, 0.0, fov, resolution, resolution).to(gaussians.device)
    for start, rgb, _ in _render_rgb(gaussians, cams, chunk):
        yield start, rgb


def input_view_quality(gaussians: Gaussians, body_fit: BodyFit) -> dict[str, float]:
    """How well the avatar reproduces the photo: render the crop's own camera and compare.

    Returns:
        ``input_psnr_db``: PSNR (dB, colours in [0, 1]) over pixels with person mask > 0.5;
        ``alpha_iou``: IoU of rendered alpha > 0.5 with mask > 0.5.
    """
    from .render import render

    crop = body_fit.crop
    with torch.no_grad():
        out = render(gaussians, body_fit.camera.to(gaussians.device), background=1.0)
    rgb = out.rgb[0].detach().clamp(0, 1).cpu().numpy().astype(np.float64)
    alpha = out.alpha[0, ..., 0].detach().cpu().numpy()
    mask = np.asarray(crop.mask) > 0.5
    target = np.asarray(crop.rgb, dtype=np.float64) / 255.0
    mse = float(((rgb - target) ** 2)[mask].mean()) if mask.any() else float("nan")
    psnr = 10.0 * math.log10(1.0 / max(mse, 1e-10)) if mask.any() else float("nan")
    pred = alpha > 0.5
    union = int((pred | mask).sum())
    iou = float((pred & mask).sum() / union) if union else float("nan")
    return {"input_psnr_db": round(psnr, 3), "alpha_iou": round(iou, 4)}


def back_coverage(alpha_back: np.ndarray, body_fit: BodyFit, camera: Cameras, threshold: float = 0.5) -> float:
    """Share of the fitted body's silhouette in ``camera`` (the back view) where ``alpha_back`` >= threshold.

    Only the body's triangles that project inside the person mask in the input view count (where
    the fit sticks out of the person, e.g. a bad fit, the photo says nothing about the body).
    """
    from .render.mesh import rasterize_mesh

    verts = body_fit.vertices.detach().float().cpu()
    faces = body_fit.faces.detach().cpu().long()
    mask = np.asarray(body_fit.crop.mask) > 0.5
    uv, z = body_fit.camera.to("cpu").project(verts)
    H, W = mask.shape
    j = uv[0, :, 0].floor().long().clamp(0, W - 1).numpy()
    i = uv[0, :, 1].floor().long().clamp(0, H - 1).numpy()
    inside = torch.as_tensor(mask[i, j] & (z[0].numpy() > 0))
    faces = faces[inside[faces].all(dim=1)]
    if len(faces) == 0:
        return float("nan")
    sil = rasterize_mesh(verts, faces, camera[0].to("cpu")).coverage.numpy()
    if not sil.any():
        return float("nan")
    return float((alpha_back[sil] >= threshold).mean())


# ---------------------------------------------------------------------------------------- stages
def _default_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InputError(f"unknown device {device!r}; use e.g. 'cpu' or 'cuda:0'") from exc
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _check_options(frames: int, resolution: int) -> None:
    if not isinstance(frames, int) or frames < 0 or frames > 720:
        raise InputError(f"frames must be an integer in [0, 720], got {frames!r}")
    if not isinstance(resolution, int) or resolution < 16 or resolution > 2048:
        raise InputError(f"resolution must be an integer in [16, 2048] pixels, got {resolution!r}")


def iter_reconstruct(
    photo: Any,
    mode: RequestedMode = "auto",
    frames: int = 36,
    resolution: int = 512,
    seed: int = 0,
    device: str | torch.device | None = None,
    body_backend: str = "anny",
    prior_options: PriorOptions | None = None,
) -> Iterator[StageUpdate]:
    """Reconstruct a person stage by stage (module docstring); the last update carries the Result.

    Args:
        photo: a path, file bytes, (H, W, 3|4) array, PIL image or an already loaded Photo.
        mode: ``"auto"``, ``"prior"`` or ``"full"`` (module docstring).
        frames: turntable frames (0 = none).
        resolution: side in pixels of the orthogonal views and the turntable frames.
        seed: seed of the network's sampling (full mode; prior mode is deterministic).
        device: where Gaussians are rendered and networks run (default CUDA when available, else CPU).
        body_backend: body model of the structure prior (``"anny"``; ``"smplx"`` with its model files).
        prior_options: options of prior mode (:class:`~humansplat.reconstruct.prior_only.PriorOptions`).

    Raises:
        InputError: the photo or an option cannot be used (no person, bad file, ...).
        WeightsUnavailableError: ``mode="full"`` and the network weights cannot be loaded.
    """
    from .io.images import Photo, load_photo
    from .prior.fit import fit_body
    from .prior.person import detect_person

    _check_options(frames, resolution)
    run_mode, notes = _resolve_mode(mode)  # fail before any work when full mode cannot run
    dev = _default_device(device)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    ph = photo if isinstance(photo, Photo) else load_photo(photo)
    timings["load"] = time.perf_counter() - t
    notes = list(ph.notes) + notes
    yield StageUpdate("load", STAGE_FRACTIONS["load"], message=f"loaded {ph.source} ({ph.width}x{ph.height})")

    t = time.perf_counter()
    crop = detect_person(ph)
    timings["detect"] = time.perf_counter() - t
    notes += [n for n in crop.notes if n not in notes]
    yield StageUpdate("detect", STAGE_FRACTIONS["detect"], crop=crop, message="found the person")

    t = time.perf_counter()
    fit = fit_body(crop, backend=body_backend)
    timings["fit"] = time.perf_counter() - t
    yield StageUpdate("fit", STAGE_FRACTIONS["fit"], crop=crop, body_fit=fit, message=f"fitted the {fit.backend} body")

    t = time.perf_counter()
    weights: dict[str, str] = {}
    net_views: np.ndarray | None = None
    net_cameras: Cameras | None = None
    if run_mode == "full":
        pipe = _network_pipeline(dev)
        generator = torch.Generator(device=dev).manual_seed(int(seed))
        out = pipe(fit, generator=generator)
        gaussians = out.gaussians.to(dev)
        weights = dict(getattr(out, "weights", {}) or {})
        net_views = np.asarray(out.views) if getattr(out, "views", None) is not None else None
        net_cameras = getattr(out, "view_cameras", None)
    else:
        from .reconstruct.prior_only import reconstruct_from_prior

        gaussians = reconstruct_from_prior(fit, prior_options).to(dev)
    timings["reconstruct"] = time.perf_counter() - t
    yield StageUpdate(
        "reconstruct", STAGE_FRACTIONS["reconstruct"], crop=crop, body_fit=fit, gaussians=gaussians,
        message=f"{len(gaussians):,} Gaussians ({run_mode} mode)",
    )

    t = time.perf_counter()
    views, alphas, view_cams = render_views(gaussians, fit, resolution)
    quality = input_view_quality(gaussians, fit)
    quality["back_coverage"] = round(back_coverage(alphas[2], fit, view_cams[2]), 4)
    if net_views is not None and len(net_views) and net_cameras is not None:  # the synthesizer's views
        views, view_cams = net_views, net_cameras
    timings["views"] = time.perf_counter() - t
    yield StageUpdate(
        "views", STAGE_FRACTIONS["views"], crop=crop, body_fit=fit, gaussians=gaussians, views=views,
        message=f"input view PSNR {quality['input_psnr_db']:.1f} dB, alpha IoU {quality['alpha_iou']:.3f}",
    )

    t = time.perf_counter()
    turntable = np.zeros((0, resolution, resolution, 3), dtype=np.uint8)
    if frames > 0:
        chunks = []
        lo, hi = STAGE_FRACTIONS["views"], STAGE_FRACTIONS["turntable"]
        for start, rgb in render_turntable(gaussians, fit, frames, resolution):
            chunks.append(rgb)
            done = start + len(rgb)
            if done < frames:
                yield StageUpdate(
                    "turntable", lo + (hi - lo) * done / frames, crop=crop, body_fit=fit, gaussians=gaussians,
                    views=views, message=f"turntable frame {done}/{frames}",
                )
        turntable = np.concatenate(chunks)
    timings["turntable"] = time.perf_counter() - t
    yield StageUpdate(
        "turntable", STAGE_FRACTIONS["turntable"], crop=crop, body_fit=fit, gaussians=gaussians, views=views,
        message=f"turntable: {frames} frames",
    )

    result = Result(
        gaussians=gaussians,
        body_fit=fit,
        views=views,
        view_cameras=view_cams,
        turntable=turntable,
        mode=run_mode,
        weights=weights,
        timings={k: round(v, 3) for k, v in timings.items()},
        quality=quality,
        notes=notes,
    )
    yield StageUpdate(
        "done", 1.0, crop=crop, body_fit=fit, gaussians=gaussians, views=views, result=result, message=result.summary()
    )


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
    ``kwargs`` go to :func:`iter_reconstruct` (``body_backend``, ``prior_options``).
    """
    result: Result | None = None
    for update in iter_reconstruct(photo, mode, frames, resolution, seed, device, **kwargs):
        if progress is not None:
            progress(update.fraction, update.stage if not update.message else f"{update.stage}: {update.message}")
        if update.result is not None:
            result = update.result
    assert result is not None  # iter_reconstruct always ends with "done"
    return result
