"""The fitted body: the human structure prior that travels to reconstruction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..cameras import Cameras
from .person import PersonCrop

if TYPE_CHECKING:  # pragma: no cover
    from .body_models import BodyParams


@dataclass
class BodyFit:
    """A body model fitted to one photo, in the input camera's frame (world = camera, OpenCV axes).

    Attributes:
        backend: body model name ("anny" or "smplx").
        pose: backend pose parameters (backend-specific shape, e.g. anny (B=1, bones, 4, 4)).
        shape: backend shape parameters (name -> tensor).
        vertices: (V, 3) float32, metres, in the input camera frame.
        faces: (F, 3) int64 triangle indices into ``vertices``.
        parts: (V,) int64 semantic part labels, indices into :data:`humansplat.prior.parts.PART_NAMES`.
        joints: (J, 3) float32 joint positions in the camera frame (metres).
        camera: the crop's one-view :class:`Cameras` (same as ``crop.camera``).
        crop: the photo crop with mask and landmarks the body was fitted to.
        errors: fit quality, e.g. ``landmark_error_pct`` (mean 2D error, % of person height) and
            ``silhouette_iou`` (fitted body vs. person mask).
        params: the full :class:`~humansplat.prior.body_models.BodyParams` (global orientation and
            translation in the world frame, pose (P, 3) axis-angles, shape (S,)), or None.
        landmarks3d: (33, 3) float32 MediaPipe-topology points of the fitted body (world frame), or None.
        timings: seconds spent, e.g. ``fit_landmarks_s``, ``fit_total_s``.
    """

    backend: str
    pose: torch.Tensor
    shape: dict[str, torch.Tensor]
    vertices: torch.Tensor
    faces: torch.Tensor
    parts: torch.Tensor
    joints: torch.Tensor
    camera: Cameras
    crop: PersonCrop
    errors: dict[str, float] = field(default_factory=dict)
    params: BodyParams | None = None
    landmarks3d: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)
