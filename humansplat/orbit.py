"""Orbits around a fitted body: the one place that says where views and turntables turn.

An orbit turns about the **fitted body's up axis** through the **body's centre** (not about the input
camera's vertical), so a photo taken from above or below still gives a level turntable whose "back"
view is behind the person. :func:`body_orbit` gives the axis, centre and radius;
:func:`body_orbit_cameras` the cameras of the network pipeline and of the training data (the input
crop's field of view); :func:`humansplat.avatar_views.orbit_framing` adds a field of view that frames the
avatar. Conventions: :mod:`humansplat.cameras` (world = input camera frame, OpenCV axes, metres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from .cameras import Cameras, focal_to_fov
from .geometry import axis_angle_to_matrix

if TYPE_CHECKING:  # pragma: no cover
    from .prior.body_fit import BodyFit

__all__ = ["BodyOrbit", "body_center", "body_orbit", "body_orbit_cameras", "body_up_axis", "framing"]

_MODEL_UP = (0.0, -1.0, 0.0)
"""The body models' up direction in their model frame (y down: :mod:`humansplat.prior.body_models.base`)."""
_L_SH, _R_SH, _L_HIP, _R_HIP = 11, 12, 23, 24  # MediaPipe Pose indices of landmarks3d


@dataclass(frozen=True)
class BodyOrbit:
    """Where an orbit around a fitted body turns (world = input camera frame, metres).

    Attributes:
        centre: (3,) the body's centre (bounding-box centre of its vertices); the orbit looks at it.
        up: (3,) unit up axis of the body; the orbit turns about the line through ``centre`` along it.
        radius: distance of the input camera from ``centre`` (so azimuth 0 is as far as the photo).
    """

    centre: torch.Tensor
    up: torch.Tensor
    radius: float

    def centred_on(self, points: torch.Tensor) -> BodyOrbit:
        """The same up direction, the look-at point moved to the middle of ``points`` (N, 3): along the
        axis and across it (robust 0.5/99.5 % extents along the up axis and two directions
        perpendicular to it). A half-body or head-and-shoulders avatar then sits in the middle of every
        view and turns about its own centre, not about the whole fitted body's (whose head may lie
        forward of it). The orbit stays level; the radius stays the input camera's distance."""
        points = torch.as_tensor(points).detach().float().cpu()
        if len(points) < 10:
            return self
        side = torch.linalg.cross(self.up, torch.tensor([0.0, 0.0, 1.0]))
        if float(side.norm()) < 1e-6:
            side = torch.tensor([1.0, 0.0, 0.0])
        side = side / side.norm()
        depth = torch.linalg.cross(side, self.up)
        offset = torch.zeros(3)
        for axis in (self.up, side, depth):
            along = (points - self.centre) @ axis
            sample = along[:: max(1, len(along) // 1_000_000)]
            offset += 0.5 * float(torch.quantile(sample, 0.005) + torch.quantile(sample, 0.995)) * axis
        return BodyOrbit(centre=self.centre + offset, up=self.up, radius=self.radius)

    def cameras(
        self,
        azimuths_deg: Sequence[float] | torch.Tensor,
        elevations_deg: Sequence[float] | torch.Tensor | float,
        fov_y_deg: float,
        width: int,
        height: int,
        radius: float | None = None,
    ) -> Cameras:
        """:meth:`Cameras.orbit` about this axis (``radius`` defaults to :attr:`radius`)."""
        return Cameras.orbit(
            self.centre, self.radius if radius is None else radius, azimuths_deg, elevations_deg,
            fov_y_deg, width, height, up=self.up,
        )


def body_up_axis(body_fit: BodyFit) -> torch.Tensor:
    """(3,) unit up direction of the fitted body in the world frame.

    From the body's global orientation (the root's rotation applied to the model frame's up, -y) when
    the fit has parameters; else the direction from the hips' to the shoulders' midpoint of
    ``landmarks3d``; else the world's up (-y). An axis within 5 deg of the input camera's viewing
    axis (a photo from straight above or below) falls back to -y, where an orbit is undefined. A photo
    of a face alone (``crop.framing == "face only"``) says nothing about the body's axis (a tilted head
    would tilt every view): its orbit turns about the photo's own up, -y.
    """
    if getattr(getattr(body_fit, "crop", None), "framing", None) == "face only":
        return torch.tensor(_MODEL_UP)
    up = None
    params = getattr(body_fit, "params", None)
    if params is not None and getattr(params, "global_orient", None) is not None:
        R = axis_angle_to_matrix(torch.as_tensor(params.global_orient, dtype=torch.float32).reshape(3))
        up = R @ torch.tensor(_MODEL_UP)
    elif body_fit.landmarks3d is not None:
        lm = torch.as_tensor(body_fit.landmarks3d, dtype=torch.float32)
        up = (lm[_L_SH] + lm[_R_SH] - lm[_L_HIP] - lm[_R_HIP]) / 2
    if up is None or not bool(torch.isfinite(up).all()) or float(up.norm()) < 1e-6:
        return torch.tensor(_MODEL_UP)
    up = up / up.norm()
    if abs(float(up[2])) > 0.996:  # cos 5 deg
        return torch.tensor(_MODEL_UP)
    return up


def body_center(vertices: torch.Tensor) -> torch.Tensor:
    """(..., M, 3) -> (..., 3): centre of the vertices' bounding box (metres), the body's reference point
    (independent of how densely each part is meshed)."""
    return (vertices.amin(dim=-2) + vertices.amax(dim=-2)) / 2


def body_orbit(body_fit: BodyFit) -> BodyOrbit:
    """The orbit around ``body_fit``: its centre, its up axis and the input camera's distance."""
    centre = body_center(torch.as_tensor(body_fit.vertices).detach().float().cpu())
    input_centre = body_fit.camera.centers[0].detach().float().cpu()
    return BodyOrbit(centre=centre, up=body_up_axis(body_fit), radius=float((centre - input_centre).norm()))


def body_orbit_cameras(
    body_fit: BodyFit,
    azimuths_deg: Sequence[float] | torch.Tensor,
    elevations_deg: Sequence[float] | torch.Tensor | float,
    width: int,
    height: int,
) -> Cameras:
    """Cameras of an orbit around the fitted body (:func:`body_orbit`), ``width`` x ``height`` pixels,
    with the input crop's vertical field of view (the network's generated views, training views)."""
    crop_cam = body_fit.camera
    fov = focal_to_fov(float(crop_cam.Ks[0, 1, 1]), crop_cam.height)
    return body_orbit(body_fit).cameras(azimuths_deg, elevations_deg, fov, width, height)


def framing(centre: torch.Tensor, points: torch.Tensor, min_radius: float, margin: float = 1.08) -> tuple[float, float]:
    """(radius metres, vertical fov degrees) of orbit cameras looking at ``centre`` that show every
    view of ``points`` (N, 3): the fov fits a sphere about ``centre`` holding 99.5 % of the points (times
    ``margin``); the radius is ``min_radius`` (e.g. the input camera's distance), grown when the sphere needs it."""
    points = points.detach().float().cpu()
    extent = 1e-3
    if len(points):
        dist = (points - centre).norm(dim=-1)[:: max(1, len(points) // 4_000_000)]
        extent = max(float(torch.quantile(dist, 0.995)), 1e-3)
    radius = max(float(min_radius), 2.0 * extent)
    fov = 2.0 * math.degrees(math.atan(margin * extent / math.sqrt(max(radius**2 - extent**2, 1e-12))))
    return radius, fov
