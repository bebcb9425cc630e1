"""The body-model interface shared by every backend (anny, SMPL-X).

Frames and units
----------------
* **Model frame** (a backend's canonical frame, after conversion from its own axes): the body
  stands facing a camera at the origin, **x = the subject's left, y = down, z = from the subject's
  front to its back** (the OpenCV camera axes of :mod:`humansplat.cameras` seen from the front),
  with the root joint (pelvis) at the origin. Metres.
* **Camera frame**: ``x_cam = R(global_orient) @ x_model + translation``; the world frame of a
  reconstruction is the input camera's frame, so this is where fitted bodies live.
* **Pose**: one axis-angle rotation (radians) per entry of :data:`POSE_GROUPS`, expressed in
  model-frame axes at the reference pose (so ``x`` rotations bend forward/backward, ``y``
  rotations twist about the vertical, ``z`` rotations bend sideways). A group drives one or more
  backend bones. The zero pose is the backend's reference pose (anny: a relaxed A-pose).

Shapes: B batch (optional leading dimension), V vertices, J joints, P = len(POSE_GROUPS), S shape
parameters, L = 33 landmarks (MediaPipe Pose order, :data:`LANDMARK_NAMES`).
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "HINGE_GROUPS",
    "LANDMARK_NAMES",
    "POSE_GROUPS",
    "BodyModel",
    "BodyOutput",
    "BodyParams",
    "default_pose_limits",
]

POSE_GROUPS: tuple[str, ...] = (
    "spine_lower", "spine_upper", "neck", "head",
    "shoulder.L", "shoulder.R", "elbow.L", "elbow.R", "wrist.L", "wrist.R",
    "hip.L", "hip.R", "knee.L", "knee.R", "ankle.L", "ankle.R",
)
"""Posable joint groups (the bones that matter for a body prior); ``.L`` is the subject's left."""

HINGE_GROUPS: tuple[str, ...] = ("elbow.L", "elbow.R", "knee.L", "knee.R")
"""Groups that bend about one axis (:attr:`BodyModel.hinge_axes`), flexion angle >= 0."""

LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
"""The 33 MediaPipe Pose (BlazePose) landmarks in their index order; left/right are the subject's."""


@dataclass
class BodyParams:
    """Parameters of a posed, shaped body in a camera (see the module docstring for frames).

    Attributes:
        global_orient: (..., 3) axis-angle (radians), model frame -> camera frame.
        translation: (..., 3) metres, the root joint's position in the camera frame.
        body_pose: (..., P, 3) axis-angle per :data:`POSE_GROUPS` entry, model-frame axes.
        shape: (..., S) backend shape values (anny: phenotype values in [0, 1], named by
            :attr:`BodyModel.shape_names`; SMPL-X: betas).
    """

    global_orient: torch.Tensor
    translation: torch.Tensor
    body_pose: torch.Tensor
    shape: torch.Tensor

    def detach(self) -> BodyParams:
        return BodyParams(**{f.name: getattr(self, f.name).detach().clone() for f in fields(self)})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> BodyParams:
        return BodyParams(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)})

    def replace(self, **changes: torch.Tensor) -> BodyParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, list]:
        """Plain lists (JSON-ready)."""
        return {f.name: getattr(self, f.name).detach().cpu().tolist() for f in fields(self)}


@dataclass
class BodyOutput:
    """What :meth:`BodyModel.forward` returns, in the camera frame (metres), float32.

    Attributes:
        vertices: (..., V, 3), or (..., len(vertex_index), 3) for a vertex subset.
        joints: (..., J, 3) joint (bone head) positions, named by :attr:`BodyModel.joint_names`.
        landmarks: (..., 33, 3) MediaPipe-topology points regressed from the mesh and joints.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks: torch.Tensor


class BodyModel(ABC):
    """A differentiable parametric body (one per backend; instances are shared, read-only).

    Attributes:
        name: backend name ("anny", "smplx").
        faces: (F, 3) int64 triangles.
        parts: (V,) int64 labels, indices into :data:`humansplat.parts.PART_NAMES`.
        surface: (V,) bool NumPy array, vertices on the outer skin (False for eyeball backs, the
            mouth cavity, ...: hidden inside the body).
        joint_names: J names of ``BodyOutput.joints``.
        shape_names: S names of ``BodyParams.shape`` entries.
        hinge_axes: (len(HINGE_GROUPS), 3) unit flexion axes (model frame) of the hinge groups:
            a positive angle about the axis bends the joint the natural way.
    """

    name: str
    faces: torch.Tensor
    parts: torch.Tensor
    surface: np.ndarray
    joint_names: tuple[str, ...]
    shape_names: tuple[str, ...]
    hinge_axes: torch.Tensor

    @property
    def num_vertices(self) -> int:
        return int(self.parts.shape[0])

    @abstractmethod
    def forward(self, params: BodyParams, vertex_index: torch.Tensor | None = None, rest: object | None = None) -> BodyOutput:
        """Pose and shape the body; differentiable w.r.t. every field of ``params``.

        Args:
            params: body parameters (an optional leading batch dimension is kept in the output).
            vertex_index: (n,) int64, skin only these vertices (cheaper); default all V.
            rest: a :meth:`rest_state` for this ``vertex_index`` (fast, first order in the shape), or None.
        """

    def __call__(self, params: BodyParams, vertex_index: torch.Tensor | None = None, rest: object | None = None) -> BodyOutput:
        return self.forward(params, vertex_index, rest)

    def model_frame(
        self, body_pose: torch.Tensor, shape: torch.Tensor, vertex_index: torch.Tensor | None = None, rest: object | None = None
    ) -> BodyOutput:
        """The posed body in the model frame (no global rotation or translation) for ``body_pose``
        (B, P, 3) and ``shape`` (B, S): :meth:`forward` at the origin, without its last transform."""
        zero = shape.new_zeros(shape.shape[0], 3)
        return self.forward(BodyParams(zero, zero, body_pose, shape), vertex_index, rest)

    def rest_state(self, shape: torch.Tensor, vertex_index: torch.Tensor) -> object | None:
        """Precomputed shape-dependent data that speeds up repeated :meth:`forward` calls for shapes
        near ``shape`` (S,) and this ``vertex_index``; None when the backend has nothing to cache."""
        return None

    @abstractmethod
    def default_shape(self) -> torch.Tensor:
        """(S,) the shape values of an average adult (the shape prior's mean)."""

    def shape_scale(self) -> torch.Tensor:
        """(S,) typical spread of each shape value (the shape prior's standard deviation)."""
        return torch.ones(len(self.shape_names))

    def shape_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(S,), (S,) hard bounds of the shape values."""
        n = len(self.shape_names)
        return torch.full((n,), -math.inf), torch.full((n,), math.inf)

    def pose_limits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, 3), (P, 3) per-component axis-angle limits (radians) of a plausible pose."""
        return default_pose_limits()

    def neutral_pose(self) -> torch.Tensor:
        """(P, 3) a relaxed standing pose (the pose prior's mean); default the reference pose."""
        return torch.zeros(len(POSE_GROUPS), 3)

    def neutral_params(self, batch: tuple[int, ...] = ()) -> BodyParams:
        """Neutral pose, average shape, facing the camera 3 m in front of it."""
        z = torch.zeros(batch + (3,))
        t = z.clone()
        t[..., 2] = 3.0
        return BodyParams(
            global_orient=z.clone(),
            translation=t,
            body_pose=self.neutral_pose().expand(batch + (len(POSE_GROUPS), 3)).clone(),
            shape=self.default_shape().expand(batch + (len(self.shape_names),)).clone(),
        )


# Per-group limits in degrees about the model-frame axes, from the reference A-pose. Signs: +x bends
# the spine/neck/head forward, swings a hanging limb backward (so hip/shoulder flexion is -x, knee
# flexion +x, ankle plantarflexion +x); y twists about the vertical; -z raises a left limb sideways
# (abduction). Left side given; the right side mirrors it (y and z negated).
_LIMITS_DEG: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "spine_lower": ((-25, 50), (-30, 30), (-25, 25)),
    "spine_upper": ((-20, 35), (-30, 30), (-20, 20)),
    "neck": ((-40, 45), (-50, 50), (-30, 30)),
    "head": ((-40, 40), (-60, 60), (-30, 30)),
    "shoulder.L": ((-170, 60), (-100, 100), (-135, 80)),
    "elbow.L": ((-10, 150), (-10, 10), (-10, 10)),
    "wrist.L": ((-70, 70), (-40, 40), (-60, 60)),
    "hip.L": ((-125, 35), (-45, 45), (-50, 30)),
    "knee.L": ((-5, 150), (-5, 5), (-5, 5)),
    "ankle.L": ((-25, 45), (-25, 25), (-25, 25)),
}


def default_pose_limits() -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 3), (P, 3) lower and upper axis-angle limits (radians) for :data:`POSE_GROUPS`.

    For hinge groups the x row is the flexion angle about the hinge axis (see
    :attr:`BodyModel.hinge_axes`), the other rows are small tolerances. Fresh copies of a table built
    once (the fit asks at every step).
    """
    lo, hi = _pose_limit_table()
    return lo.clone(), hi.clone()


@functools.cache
def _pose_limit_table() -> tuple[torch.Tensor, torch.Tensor]:
    lo = torch.zeros(len(POSE_GROUPS), 3)
    hi = torch.zeros(len(POSE_GROUPS), 3)
    for i, group in enumerate(POSE_GROUPS):
        side = group[-2:] if group.endswith((".L", ".R")) else ""
        table = _LIMITS_DEG[group[:-2] + ".L" if side else group]
        for axis, (a, b) in enumerate(table):
            if side == ".R" and axis > 0 and group not in HINGE_GROUPS:
                a, b = -b, -a
            lo[i, axis], hi[i, axis] = math.radians(a), math.radians(b)
    return lo, hi
