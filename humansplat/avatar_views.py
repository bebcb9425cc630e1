"""The avatar's standard views: orbit cameras that frame it, the four views, the turntable, and the
numbers measured on them (input-view fidelity, back coverage).

Orbits turn about the fitted body's up axis (:mod:`humansplat.orbit`); cameras follow
:mod:`humansplat.cameras` (world = input camera frame, OpenCV axes, metres). Images are uint8 on white.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .cameras import Cameras
from .errors import Deadline, check_deadline
from .gaussians import Gaussians
from .imaging import psnr
from .orbit import BodyOrbit, body_orbit, framing
from .prior.body_fit import BodyFit
from .render import render
from .render.mesh import rasterize_mesh

__all__ = [
    "VIEW_AZIMUTHS",
    "VIEW_NAMES",
    "back_coverage",
    "input_view_quality",
    "orbit_cameras",
    "orbit_framing",
    "render_turntable",
    "render_views",
]

VIEW_AZIMUTHS: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
"""Azimuths (degrees) of the 4 orthogonal views: front, the subject's left, back, the subject's right."""
VIEW_NAMES: tuple[str, ...] = ("front", "left", "back", "right")


# ---------------------------------------------------------------------------------------- cameras
def _framing(orbit: BodyOrbit, gaussians: Gaussians, body_fit: BodyFit, margin: float) -> tuple[float, float]:
    """(radius metres, vertical fov degrees) of orbit cameras that frame the avatar (:func:`orbit_framing`)."""
    points = gaussians.means if len(gaussians) else torch.as_tensor(body_fit.vertices)
    return framing(orbit.centre, points, orbit.radius, margin)


def orbit_framing(gaussians: Gaussians, body_fit: BodyFit, margin: float = 1.08) -> tuple[torch.Tensor, float, float]:
    """Centre, radius and vertical field of view of orbit cameras that frame the avatar in every view.

    The up axis and the input camera's distance come from :func:`humansplat.orbit.body_orbit`; the
    look-at point is the middle of the Gaussians along and across that axis (:meth:`BodyOrbit.centred_on`:
    a half body or a bust is centred and turns about its own centre); the field of view fits a sphere
    around the centre holding 99.5 % of the Gaussians' means (plus ``margin``), the radius grows when
    that sphere needs it.

    Returns:
        centre (3,) metres, radius (metres), fov_y (degrees).
    """
    orbit = body_orbit(body_fit).centred_on(gaussians.means)
    radius, fov = _framing(orbit, gaussians, body_fit, margin)
    return orbit.centre, radius, fov


def orbit_cameras(
    gaussians: Gaussians, body_fit: BodyFit, azimuths_deg: Any, resolution: int, margin: float = 1.08
) -> Cameras:
    """Square cameras at ``azimuths_deg`` (elevation 0) about the fitted body's up axis through its
    centre, framing the avatar (:func:`orbit_framing`), on the Gaussians' device."""
    orbit = body_orbit(body_fit).centred_on(gaussians.means)
    radius, fov = _framing(orbit, gaussians, body_fit, margin)
    return orbit.cameras(azimuths_deg, 0.0, fov, resolution, resolution, radius=radius).to(gaussians.device)


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    return (rgb.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())


def _render_rgb(
    gaussians: Gaussians, cameras: Cameras, chunk: int = 4, deadline: Deadline | None = None, stage: str = "rendering"
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Render on white in chunks of cameras; yields (start index, rgb uint8 (c, H, W, 3), alpha (c, H, W)).
    ``deadline`` is checked before each chunk."""
    for start in range(0, len(cameras), chunk):
        check_deadline(deadline, stage)
        with torch.no_grad():
            out = render(gaussians, cameras[start : start + chunk], background=1.0)
        yield start, _to_uint8(out.rgb), out.alpha[..., 0].detach().cpu().numpy()


def render_views(
    gaussians: Gaussians,
    body_fit: BodyFit,
    resolution: int = 512,
    azimuths: tuple[float, ...] = VIEW_AZIMUTHS,
    deadline: Deadline | None = None,
    stage: str = "rendering the views",
) -> tuple[np.ndarray, np.ndarray, Cameras]:
    """The avatar from orbit views about the body's up axis (default front/left/back/right);
    ``deadline`` is checked before each chunk (``stage`` names the work in its message).

    Returns:
        rgb (V, S, S, 3) uint8 on white, alpha (V, S, S) float32, the V cameras.
    """
    cams = orbit_cameras(gaussians, body_fit, list(azimuths), resolution)
    rgbs, alphas = [], []
    for _, rgb, alpha in _render_rgb(gaussians, cams, deadline=deadline, stage=stage):
        rgbs.append(rgb)
        alphas.append(alpha)
    return np.concatenate(rgbs), np.concatenate(alphas), cams


def render_turntable(
    gaussians: Gaussians,
    body_fit: BodyFit,
    frames: int = 36,
    resolution: int = 512,
    chunk: int = 4,
    deadline: Deadline | None = None,
    stage: str = "rendering the turntable",
) -> Iterator[tuple[int, np.ndarray]]:
    """Frames of a 360 deg orbit about the body's up axis, starting at the input side; yields
    (start index, (c, S, S, 3) uint8). ``deadline`` is checked before each chunk."""
    cams = orbit_cameras(gaussians, body_fit, torch.arange(frames, dtype=torch.float32) * (360.0 / frames), resolution)
    for start, rgb, _ in _render_rgb(gaussians, cams, chunk, deadline, stage):
        yield start, rgb


def input_view_quality(gaussians: Gaussians, body_fit: BodyFit) -> dict[str, float]:
    """Input-view fidelity: render the crop's own camera (the one view the avatar is built from) over
    white and compare it with the crop's ``rgb``, which is the photo composited over white through the
    crop's soft person mask (:func:`humansplat.prior.person.detect_person`): rim pixels that are partly
    the person are partly white on both sides, and the photo's backdrop never enters. It says nothing
    about unseen views.

    Returns:
        ``input_view_psnr_db``: PSNR (dB, colours in [0, 1]) over pixels with person mask > 0.5;
        ``input_view_alpha_iou``: IoU of rendered alpha > 0.5 with mask > 0.5.
    """
    crop = body_fit.crop
    with torch.no_grad():
        out = render(gaussians, body_fit.camera.to(gaussians.device), background=1.0)
    rgb = out.rgb[0].detach().clamp(0, 1).cpu().numpy().astype(np.float64)
    alpha = out.alpha[0, ..., 0].detach().cpu().numpy()
    mask = np.asarray(crop.mask) > 0.5
    target = np.asarray(crop.rgb, dtype=np.float64) / 255.0
    mse = float(((rgb - target) ** 2)[mask].mean()) if mask.any() else float("nan")
    psnr_db = psnr(mse) if mask.any() else float("nan")
    pred = alpha > 0.5
    union = int((pred | mask).sum())
    iou = float((pred & mask).sum() / union) if union else float("nan")
    return {"input_view_psnr_db": round(psnr_db, 3), "input_view_alpha_iou": round(iou, 4)}


def back_coverage(alpha_back: np.ndarray, body_fit: BodyFit, camera: Cameras, threshold: float = 0.5) -> float:
    """Share of the fitted body's silhouette in ``camera`` (the back view) where ``alpha_back`` >= threshold.

    Only the body's triangles that project inside the person mask in the input view count (where
    the fit sticks out of the person, e.g. a bad fit, the photo says nothing about the body).
    """
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
