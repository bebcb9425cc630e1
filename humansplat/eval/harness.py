"""Novel-view evaluation: photograph a subject, reconstruct it, compare orbit views with the truth.

For each subject (a :class:`~humansplat.eval.subjects.EvalSubject` in the scan frame: +Y up, facing
+Z, feet at y = 0) and each input azimuth (default 0, +30, -30 degrees):

1. **Photo.** A level camera with a 45 degree field of view on a square image at azimuth ``a`` in
   the subject's frame (0 = its front, +90 = its left side, 180 = its back), framed one of two ways
   (``framing``): ``"full_body"`` looks at the subject's mid-height from the distance where the
   subject fills ``fill`` (85 %) of the image height; ``"portrait"`` (a selfie's head and shoulders)
   looks at the head's vertical axis :data:`PORTRAIT_AIM_BELOW_TOP_M` below the top of the head
   from :data:`PORTRAIT_DISTANCE_M`. The subject is moved into that camera's frame (the world of a reconstruction, see
   :mod:`humansplat.cameras`) and rendered on white with flat albedo
   (:func:`humansplat.render.mesh.render_mesh`).
2. **Reconstruction.** ``reconstruct_fn(photo)`` -> Gaussians (default: the pipeline in ``mode``).
3. **Scale alignment.** One photo fixes a person only up to scale and depth: the prediction is
   scaled about the input camera centre (the world origin). Full body: by ``true height / predicted
   height``, heights measured the same way on both (:func:`up_extent`: robust percentiles along the
   up axis of opaque Gaussians' means, and of dense surface samples of the truth). Portrait (the
   photo shows no height): by the median ratio of the truth's depth to the prediction's rendered
   depth over the pixels both cover in the photo (:func:`align_depth`). The input view does not
   change; the orbit then turns about the same point for both.
4. **Views.** Both are rendered from the 8 orbit azimuths 0, 45, ..., 315 in the subject's frame
   (orbit centre: the point the photo looks at; radius: the photo's distance) and from the
   input camera ("input"), at ``render_scale`` x the size and averaged down (anti-aliasing, so the
   renderers' sub-pixel footprints do not dominate small images).
5. **Scores** per view (:mod:`humansplat.eval.metrics`), raw and silhouette-aligned, and LPIPS when
   its backbone weights are available locally (:func:`lpips_scorer`).

Shapes: S image side in pixels, N Gaussians.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch

from ..cameras import Cameras, fov_to_focal
from ..gaussians import Gaussians
from ..geometry import OPENCV_TO_GLTF
from ..render.mesh import TexturedMesh, render_mesh
from .convert import mesh_to_gaussians, sample_surface
from .metrics import align_to_box, alpha_box, score_view
from .report import EvalReport, RunImages, RunRecord, ViewScore, view_group, write_contact_sheet
from .subjects import EvalSubject

__all__ = [
    "FOV_DEG",
    "FRAMINGS",
    "ORBIT_AZIMUTHS",
    "PORTRAIT_AIM_BELOW_TOP_M",
    "PORTRAIT_DISTANCE_M",
    "Framing",
    "InputView",
    "align_depth",
    "align_height",
    "evaluate",
    "lpips_scorer",
    "make_input_view",
    "perfect_reconstruction",
    "predicted_height",
    "up_extent",
]

FOV_DEG = 45.0
"""Field of view of every evaluation camera (the pipeline's default for photos without EXIF)."""
ORBIT_AZIMUTHS: tuple[float, ...] = (0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0)
"""Azimuths (degrees, subject frame) of the scored orbit views: 0 = front, 90 = left, 180 = back."""

Framing = Literal["full_body", "portrait"]
FRAMINGS: tuple[str, ...] = ("full_body", "portrait")
"""How the photo frames the subject: the whole person, or a selfie's head and shoulders."""
PORTRAIT_DISTANCE_M = 0.75
"""Camera distance of the portrait framing: a selfie at arm's length (metres)."""
PORTRAIT_AIM_BELOW_TOP_M = 0.22
"""The portrait camera looks at the head's axis this far below the top of the head (metres): with the
45 degree field of view the photo spans from 9 cm above the head to mid-chest."""

ReconstructFn = Callable[..., Any]
"""``fn(photo (S, S, 3) uint8) -> Gaussians`` (or a :class:`~humansplat.result.Result`). A callable
that also takes a keyword ``view`` gets the :class:`InputView` (ground truth included): for oracles."""


@dataclass
class InputView:
    """One evaluation photo and its ground truth, in the world frame (= the input camera's frame).

    Attributes:
        subject: subject name.
        azimuth: input camera azimuth in degrees, subject frame.
        photo: (S, S, 3) uint8 render on white.
        alpha: (S, S) float32 coverage of the photo.
        mesh: the subject in the world frame (OpenCV axes: x right, y down, z forward; metres).
        camera: the input camera (identity extrinsics, FOV_DEG, S x S).
        centre: (3,) world point the orbit turns about (the point the photo looks at).
        distance: metres from the input camera to ``centre``.
        true_height: the subject's height measured by :func:`up_extent` (metres).
        pixel_size: metres per pixel at ``centre`` at the render resolution (S x render_scale).
        framing: how the photo frames the subject (:data:`Framing`).
        depth: (S, S) float32 camera depth of the truth in the photo (metres; 0 where empty).
    """

    subject: str
    azimuth: float
    photo: np.ndarray
    alpha: np.ndarray
    mesh: TexturedMesh
    camera: Cameras
    centre: torch.Tensor
    distance: float
    true_height: float
    pixel_size: float
    framing: str = "full_body"
    depth: np.ndarray | None = None

    def orbit(self, azimuths: Sequence[float], size: int) -> Cameras:
        """Cameras at subject-frame ``azimuths`` (degrees) on the orbit, ``size`` x ``size`` pixels."""
        relative = [float(b) - self.azimuth for b in azimuths]  # orbit azimuths are relative to the input camera
        return Cameras.orbit(self.centre, self.distance, relative, 0.0, FOV_DEG, size, size)


# ------------------------------------------------------------------------------------------ geometry
def _to_world(
    mesh: TexturedMesh, azimuth_deg: float, mid_height: float, distance: float, axis: tuple[float, float] = (0.0, 0.0)
) -> TexturedMesh:
    """Scan frame -> the frame of a level camera at subject azimuth ``azimuth_deg`` looking at the
    vertical line x, z = ``axis`` (scan frame, metres) at height ``mid_height``, ``distance`` metres
    away (OpenCV axes)."""
    a = math.radians(azimuth_deg)
    c, s = math.cos(a), math.sin(a)
    # R_y(-a) turns the camera direction (sin a, 0, cos a) onto +Z; then (x, y, z) -> (x, -y, -z).
    rot = torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    flip = torch.tensor(OPENCV_TO_GLTF, dtype=torch.float32)
    aim = torch.tensor([axis[0], mid_height, axis[1]])
    v = (mesh.vertices - aim) @ (flip @ rot).T + torch.tensor([0.0, 0.0, distance])
    return replace(mesh, vertices=v)


def up_extent(points: torch.Tensor, lo: float = 0.001, hi: float = 0.999) -> float:
    """Height (metres) of a point set along the world's up axis (-y): the spread between its
    ``lo`` and ``hi`` quantiles (robust to a few stray points). nan for fewer than 10 points."""
    if len(points) < 10:
        return float("nan")
    up = -points[:, 1].double()
    if len(up) > 4_000_000:
        up = up[torch.randperm(len(up), generator=torch.Generator().manual_seed(0))[:4_000_000]]
    return float(torch.quantile(up, hi) - torch.quantile(up, lo))


def predicted_height(gaussians: Gaussians, min_opacity: float = 0.5) -> float:
    """:func:`up_extent` of the means of the Gaussians with opacity >= ``min_opacity``."""
    g = gaussians.detach()
    return up_extent(g.means[g.opacities >= min_opacity].float().cpu())


def align_height(gaussians: Gaussians, true_height: float) -> tuple[Gaussians, float]:
    """Scale ``gaussians`` about the world origin (the input camera centre) by
    ``true_height / predicted_height`` (means and scales, so the input view is unchanged).

    Returns:
        the scaled Gaussians and the factor (1 when the prediction's height is undefined).
    """
    h = predicted_height(gaussians)
    if not (math.isfinite(h) and h > 0):
        return gaussians, 1.0
    k = float(true_height) / h
    return replace(gaussians, means=gaussians.means * k, log_scales=gaussians.log_scales + math.log(k)), k


def align_depth(gaussians: Gaussians, true_depth: np.ndarray, camera: Cameras, min_cover: float = 0.5) -> tuple[Gaussians, float]:
    """Scale ``gaussians`` about the world origin (the input camera centre) so that their depth in
    ``camera`` matches ``true_depth`` ((S, S) metres, 0 where empty): by the median ratio over the
    pixels where both cover at least ``min_cover``. Means and scales scale together, so the input view
    does not change. Returns the scaled Gaussians and the factor (1 when they share no pixel)."""
    from ..render import render

    if len(gaussians) == 0:
        return gaussians, 1.0
    with torch.no_grad():
        out = render(gaussians.detach(), camera.to(gaussians.device), background=1.0)
    depth = out.depth[0, ..., 0].float().cpu().numpy()
    alpha = out.alpha[0, ..., 0].float().cpu().numpy()
    both = (alpha >= min_cover) & (true_depth > 0) & (depth > 0)
    if both.sum() < 10:
        return gaussians, 1.0
    k = float(np.median(true_depth[both] / depth[both]))
    return replace(gaussians, means=gaussians.means * k, log_scales=gaussians.log_scales + math.log(k)), k


def _framing_distance(mesh: TexturedMesh, fill: float, size: int) -> tuple[float, float]:
    """(distance, mid height): where a level camera facing the subject's front at mid-height shows
    it ``fill`` of the image height (perspective: iterated)."""
    y = mesh.vertices[:, 1]
    mid = 0.5 * float(y.max() + y.min())
    half = 0.5 * float(y.max() - y.min())
    d = half / (fill * math.tan(math.radians(FOV_DEG / 2)))
    cam = Cameras.from_fov(FOV_DEG, size, size)
    for _ in range(4):
        uv, _z = cam.project(_to_world(mesh, 0.0, mid, d).vertices)
        extent = float(uv[0, :, 1].max() - uv[0, :, 1].min()) / size
        d *= extent / fill
    return d, mid


@dataclass(frozen=True)
class Placement:
    """Where the camera of a subject's photos stands: the same for every input azimuth (the camera
    turns about the vertical line ``axis``), so :func:`evaluate` computes it once per subject.

    Attributes:
        distance: metres from the camera to the point it looks at.
        aim_height: height of that point (scan frame y, metres).
        axis: (x, z) of the vertical line the camera turns about (scan frame, metres).
        true_height: the subject's height (:func:`up_extent` of dense surface samples, metres).
        framing: :data:`Framing`.
    """

    distance: float
    aim_height: float
    axis: tuple[float, float]
    true_height: float
    framing: str = "full_body"


def _head_axis(mesh: TexturedMesh, below_top: float) -> tuple[float, float]:
    """(x, z) median of the vertices within ``below_top`` metres of the top of the subject (scan frame)."""
    v = mesh.vertices
    top = v[v[:, 1] > float(v[:, 1].max()) - below_top]
    return float(top[:, 0].median()), float(top[:, 2].median())


def _placement(subject: EvalSubject, fill: float, size: int, framing: str = "full_body") -> Placement:
    """The :class:`Placement` of ``subject``'s photos for ``framing``."""
    points, _, _ = sample_surface(subject.mesh, spacing=0.0025, seed=0)  # dense: the quantiles must not be noisy
    height = up_extent(points * torch.tensor([1.0, -1.0, 1.0]))  # scan frame: +y is up
    if framing == "portrait":
        top = float(subject.mesh.vertices[:, 1].max())
        axis = _head_axis(subject.mesh, PORTRAIT_AIM_BELOW_TOP_M)
        return Placement(PORTRAIT_DISTANCE_M, top - PORTRAIT_AIM_BELOW_TOP_M, axis, height, framing)
    if framing != "full_body":
        raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
    distance, mid = _framing_distance(subject.mesh, fill, size)
    return Placement(distance, mid, (0.0, 0.0), height, framing)


def make_input_view(
    subject: EvalSubject,
    azimuth: float,
    size: int,
    fill: float = 0.85,
    render_scale: int = 2,
    placement: Placement | None = None,
    framing: str = "full_body",
) -> InputView:
    """The photo of ``subject`` from subject azimuth ``azimuth`` (degrees) and its ground truth
    (``placement``: :func:`_placement` of the subject for ``framing``, computed here when not given)."""
    place = placement or _placement(subject, fill, size, framing)
    distance = place.distance
    mesh = _to_world(subject.mesh, azimuth, place.aim_height, distance, place.axis)
    camera = Cameras.from_fov(FOV_DEG, size, size)
    truth = render_mesh(mesh, camera, supersample=2 * render_scale, background=1.0)
    rgb, alpha = truth.rgb.numpy(), truth.alpha.numpy()
    pixel = distance / fov_to_focal(FOV_DEG, size * render_scale)
    return InputView(
        subject=subject.name,
        azimuth=float(azimuth),
        photo=(rgb[0] * 255.0 + 0.5).clip(0, 255).astype(np.uint8),
        alpha=alpha[0],
        mesh=mesh,
        camera=camera,
        centre=torch.tensor([0.0, 0.0, distance]),
        distance=distance,
        true_height=place.true_height,
        pixel_size=pixel,
        framing=place.framing,
        depth=truth.depth[0].numpy(),
    )


def perfect_reconstruction(view: InputView) -> Gaussians:
    """The ground truth as Gaussians (:func:`~humansplat.eval.convert.mesh_to_gaussians`), sized
    for the render resolution: a sanity check of the harness (it should score > 30 dB)."""
    px = view.pixel_size
    return mesh_to_gaussians(view.mesh, spacing=0.7 * px, scale=0.3, opacity=0.99, inset=1.5 * px, trim=1.0 * px, keep_axis=(0.0, 1.0, 0.0))


# ------------------------------------------------------------------------------------------ rendering
def _downsample(x: torch.Tensor, k: int) -> torch.Tensor:
    """(C, H k, W k, ...) -> (C, H, W, ...) box average."""
    if k == 1:
        return x
    C, Hk, Wk = x.shape[:3]
    rest = x.shape[3:]
    return x.reshape(C, Hk // k, k, Wk // k, k, *rest).mean((2, 4))


def _render_truth(mesh: TexturedMesh, cameras: Cameras, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The truth with (2 k)^2 samples per pixel (the prediction's k^2 renders, each edge-antialiased)."""
    out = render_mesh(mesh, cameras, supersample=2 * k, background=1.0)
    return out.rgb.numpy(), out.alpha.numpy()


def _render_prediction(
    gaussians: Gaussians, cameras: Cameras, k: int, chunk: int = 3, rasterize_mode: str = "classic"
) -> tuple[np.ndarray, np.ndarray]:
    from ..render import render

    big = cameras.resize(cameras.width * k, cameras.height * k)
    if len(gaussians) == 0:
        H, W = cameras.height, cameras.width
        return np.ones((len(cameras), H, W, 3), np.float32), np.zeros((len(cameras), H, W), np.float32)
    rgbs, alphas = [], []
    for start in range(0, len(big), chunk):
        with torch.no_grad():
            out = render(gaussians, big[start : start + chunk], background=1.0, rasterize_mode=rasterize_mode)
        rgbs.append(_downsample(out.rgb.clamp(0, 1).float().cpu(), k))
        alphas.append(_downsample(out.alpha[..., 0].float().cpu(), k))
    return torch.cat(rgbs).numpy(), torch.cat(alphas).numpy()


# ------------------------------------------------------------------------------------------ LPIPS
def lpips_scorer(device: torch.device | str = "cpu") -> tuple[Callable[[np.ndarray, np.ndarray], float] | None, str]:
    """LPIPS (AlexNet) when the ``lpips`` package and its backbone weights are already on this
    machine (nothing is downloaded). Returns (scorer or None, one line saying what was used or why not).

    The scorer takes two (H, W, 3) float images in [0, 1] and returns the distance (lower is better).
    """
    try:
        import lpips  # noqa: F401
    except ImportError:
        return None, "LPIPS skipped: the 'lpips' package is not installed (pip install lpips, with its AlexNet weights cached)"
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    cached = sorted(hub.glob("alexnet-owt-*.pth")) if hub.is_dir() else []
    if not cached:
        return None, f"LPIPS skipped: the AlexNet weights are not in the torch hub cache ({hub}); not downloading them"
    try:
        model = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
    except Exception as exc:  # noqa: BLE001 - any failure to build the metric only skips it
        return None, f"LPIPS skipped: building the metric failed ({exc})"

    def score(a: np.ndarray, b: np.ndarray) -> float:
        ta = torch.from_numpy(np.ascontiguousarray(a)).float().permute(2, 0, 1)[None].to(device) * 2 - 1  # [H, W, 3] -> [1, 3, H, W]
        tb = torch.from_numpy(np.ascontiguousarray(b)).float().permute(2, 0, 1)[None].to(device) * 2 - 1
        with torch.no_grad():
            return float(model(ta, tb).mean())

    return score, f"LPIPS: AlexNet weights from {cached[0]}"


# ------------------------------------------------------------------------------------------ evaluate
def _pipeline_reconstructor(mode: str, device: str | torch.device | None) -> ReconstructFn:
    def run(photo: np.ndarray) -> Any:
        from ..api import reconstruct

        return reconstruct(photo, mode=mode, frames=0, resolution=64, device=device)

    return run


def _call(fn: ReconstructFn, view: InputView) -> tuple[Gaussians, list[str]]:
    try:
        wants_view = "view" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        wants_view = False
    out = fn(view.photo, view=view) if wants_view else fn(view.photo)
    notes: list[str] = []
    if hasattr(out, "gaussians"):  # a pipeline Result
        notes = [f"mode {getattr(out, 'mode', '?')}"] + list(getattr(out, "notes", []))
        out = out.gaussians
    if not isinstance(out, Gaussians):
        raise TypeError(f"reconstruct_fn must return Gaussians or a Result, got {type(out).__name__}")
    return out.detach(), notes


def evaluate(
    subjects: Sequence[EvalSubject],
    mode: str = "prior",
    input_azimuths: Sequence[float] = (0.0, 30.0, -30.0),
    size: int = 256,
    *,
    reconstruct_fn: ReconstructFn | None = None,
    device: str | torch.device | None = None,
    fill: float = 0.85,
    framing: str = "full_body",
    render_scale: int = 2,
    out_dir: str | Path | None = None,
    use_lpips: bool = True,
    keep_images: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    rasterize_mode: str = "classic",
) -> EvalReport:
    """Score reconstructions of ``subjects`` from novel views (module docstring).

    Args:
        subjects: subjects in the scan frame (built-in or loaded scans).
        mode: the pipeline mode (``"prior"``, ``"full"``, ``"auto"``, ...) used when ``reconstruct_fn``
            is None; recorded in the report either way.
        input_azimuths: azimuths (degrees, subject frame) of the input photos.
        size: side S of the square photo and of every scored view, in pixels.
        reconstruct_fn: ``fn(photo (S, S, 3) uint8) -> Gaussians | Result`` (see :data:`ReconstructFn`).
        device: device of the default reconstructor (default: the pipeline's choice).
        fill: share of the image height the subject fills in a full-body photo.
        framing: ``"full_body"`` or ``"portrait"`` (:data:`Framing`, module docstring).
        render_scale: views are rendered at ``size * render_scale`` and averaged down.
        out_dir: where contact sheets go (``<subject>.png``); None writes none.
        use_lpips: also score LPIPS when it is available locally (else one note says why not).
        keep_images: keep every scored image in ``RunRecord.images`` (memory: 2 x 9 views per photo).
        progress: ``progress(done, total, message)`` after each reconstruction.
        rasterize_mode: how predictions are rendered, ``"classic"`` or ``"antialiased"``
            (:data:`humansplat.render.RasterizeMode`); the truth is a mesh either way.

    Returns:
        :class:`~humansplat.eval.report.EvalReport`. A reconstruction that raises is recorded as a
        failed run (``EvalReport.failures``) and the evaluation goes on.
    """
    if not isinstance(size, int) or not 32 <= size <= 2048:
        raise ValueError(f"size must be an integer number of pixels in [32, 2048], got {size!r}")
    if not isinstance(render_scale, int) or not 1 <= render_scale <= 4:
        raise ValueError(f"render_scale must be 1, 2, 3 or 4, got {render_scale!r}")
    if not 0.2 <= fill <= 1.0:
        raise ValueError(f"fill must be in [0.2, 1], got {fill}")
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
    azimuths = [float(a) for a in input_azimuths]
    if not azimuths:
        raise ValueError("input_azimuths is empty; give at least one azimuth in degrees, e.g. (0,)")
    fn = reconstruct_fn if reconstruct_fn is not None else _pipeline_reconstructor(mode, device)
    scorer, lpips_note = lpips_scorer() if use_lpips else (None, "LPIPS skipped: turned off (use_lpips=False)")
    sheet_dir = Path(out_dir) if out_dir is not None else None
    if sheet_dir is not None:
        sheet_dir.mkdir(parents=True, exist_ok=True)

    report = EvalReport(mode=mode, size=size, input_azimuths=azimuths, lpips_note=lpips_note, framing=framing)
    total, done = len(subjects) * len(azimuths), 0
    for subject in subjects:
        placement = _placement(subject, fill, size, framing)
        gt_orbit: tuple[np.ndarray, np.ndarray] | None = None
        sheet_rows: list[tuple[str, list[np.ndarray], list[str]]] = []
        for a in azimuths:
            t0 = time.perf_counter()
            view = make_input_view(subject, a, size, fill, render_scale, placement, framing)
            if gt_orbit is None:  # the orbit views of the truth do not depend on the input azimuth
                gt_orbit = _render_truth(view.mesh, view.orbit(ORBIT_AZIMUTHS, size), render_scale)
            record = RunRecord(subject=subject.name, input_azimuth=a, true_height_m=view.true_height)
            try:
                pred, notes = _call(fn, view)
            except Exception as exc:  # noqa: BLE001 - one failed subject must not end the evaluation
                record.error = f"{type(exc).__name__}: {exc}"
                record.seconds = time.perf_counter() - t0
                report.runs.append(record)
                done += 1
                if progress is not None:
                    progress(done, total, f"{subject.name} @ {a:+.0f} deg failed: {record.error}")
                continue
            record.notes = notes
            record.gaussians = len(pred)
            record.predicted_height_m = predicted_height(pred)
            if framing == "portrait":
                pred, record.scale = align_depth(pred, view.depth, view.camera)
            else:
                pred, record.scale = align_height(pred, view.true_height)
            cams = Cameras.cat([view.camera, view.orbit(ORBIT_AZIMUTHS, size)])
            pr_rgb, pr_alpha = _render_prediction(pred, cams, render_scale, rasterize_mode=rasterize_mode)
            gt_rgb = np.concatenate([view.photo[None].astype(np.float32) / 255.0, gt_orbit[0]])
            gt_alpha = np.concatenate([view.alpha[None], gt_orbit[1]])
            labels = ["input"] + [f"{b:g}" for b in ORBIT_AZIMUTHS]
            captions = []
            for k, label in enumerate(labels):
                raw = score_view(gt_rgb[k], gt_alpha[k], pr_rgb[k], pr_alpha[k])
                box = alpha_box(gt_alpha[k])
                if box is not None:
                    al_rgb, al_alpha = align_to_box(pr_rgb[k], pr_alpha[k], box)
                    aligned = score_view(gt_rgb[k], gt_alpha[k], al_rgb, al_alpha)
                else:
                    aligned = raw
                if scorer is not None:
                    raw.lpips = scorer(gt_rgb[k], pr_rgb[k])
                    aligned.lpips = scorer(gt_rgb[k], al_rgb) if box is not None else raw.lpips
                azimuth = None if k == 0 else ORBIT_AZIMUTHS[k - 1]
                report.views.append(
                    ViewScore(subject.name, a, label, azimuth, view_group(azimuth), raw, aligned)
                )
                captions.append(f"{raw.psnr:.1f} dB")
            if keep_images:
                record.images = RunImages(labels, gt_rgb, gt_alpha, pr_rgb, pr_alpha)
            record.seconds = time.perf_counter() - t0
            report.runs.append(record)
            sheet_rows.append((f"truth, photo at {a:+.0f}", list(gt_rgb), []))
            sheet_rows.append((f"prediction x{record.scale:.2f}", list(pr_rgb), captions))
            done += 1
            if progress is not None:
                progress(done, total, f"{subject.name} @ {a:+.0f} deg: {record.seconds:.1f}s")
        if sheet_dir is not None and sheet_rows:
            path = sheet_dir / f"{subject.name}.png"
            write_contact_sheet(path, ["input"] + [_azimuth_label(b) for b in ORBIT_AZIMUTHS], sheet_rows, title=f"{subject.name} ({mode}, {framing.replace('_', ' ')})")
            report.sheets.append(str(path))
    return report


def _azimuth_label(b: float) -> str:
    names = {0.0: "front", 90.0: "left", 180.0: "back", 270.0: "right"}
    return f"{b:g}" + (f" {names[b]}" if b in names else "")
