"""The optional ``smplx`` body model backend (SMPL-X through the ``smplx`` package).

SMPL-X's model files need a registration and a licence of their own, so HumanSplat never
downloads or ships them: set the environment variable ``HUMANSPLAT_SMPLX_DIR`` to the folder you
downloaded (the one holding ``smplx/SMPLX_NEUTRAL.npz``, or that file's folder) and install
``smplx`` (``pip install smplx``). Without them :class:`SmplxBody` raises
:class:`~humansplat.errors.WeightsUnavailableError` saying exactly that.

SMPL-X's frame is **y up, facing +z, the subject's left at +x**, root (pelvis) joint; we rotate it
by 180 deg about x into the model frame of :mod:`.base` (``A = diag(1, -1, -1)``). Its local joint
rotations are expressed in world-aligned axes at the T-pose, so our group rotations map to them
directly (``r_smplx = A r_model``). Part labels come from the dominant skinning joint; the face is
the front of the head.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from ...errors import WeightsUnavailableError
from ...geometry import axis_angle_to_matrix
from ...parts import PART_NAMES
from .base import (
    HINGE_GROUPS,
    LANDMARK_NAMES,
    POSE_GROUPS,
    BodyModel,
    BodyOutput,
    BodyParams,
    default_pose_limits,
)

__all__ = ["SMPLX_ENV", "SmplxBody", "smplx_model_dir"]

SMPLX_ENV = "HUMANSPLAT_SMPLX_DIR"
SMPLX_TO_MODEL = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])

_GROUP_JOINTS: dict[str, tuple[tuple[str, float], ...]] = {
    "spine_lower": (("spine1", 0.5), ("spine2", 0.5)),
    "spine_upper": (("spine3", 1.0),),
    "neck": (("neck", 1.0),),
    "head": (("head", 1.0),),
    "shoulder.L": (("left_shoulder", 1.0),),
    "shoulder.R": (("right_shoulder", 1.0),),
    "elbow.L": (("left_elbow", 1.0),),
    "elbow.R": (("right_elbow", 1.0),),
    "wrist.L": (("left_wrist", 1.0),),
    "wrist.R": (("right_wrist", 1.0),),
    "hip.L": (("left_hip", 1.0),),
    "hip.R": (("right_hip", 1.0),),
    "knee.L": (("left_knee", 1.0),),
    "knee.R": (("right_knee", 1.0),),
    "ankle.L": (("left_ankle", 1.0),),
    "ankle.R": (("right_ankle", 1.0),),
}
# MediaPipe landmark -> SMPL-X output joint name (its joints include surface landmarks).
_SMPLX_FOR_LANDMARK = {
    "nose": "nose", "left_eye_inner": "left_eye4", "left_eye": "left_eye", "left_eye_outer": "left_eye1",
    "right_eye_inner": "right_eye4", "right_eye": "right_eye", "right_eye_outer": "right_eye1",
    "left_ear": "left_ear", "right_ear": "right_ear", "mouth_left": "left_mouth_1", "mouth_right": "right_mouth_1",
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder", "left_elbow": "left_elbow",
    "right_elbow": "right_elbow", "left_wrist": "left_wrist", "right_wrist": "right_wrist",
    "left_pinky": "left_pinky1", "right_pinky": "right_pinky1", "left_index": "left_index1",
    "right_index": "right_index1", "left_thumb": "left_thumb2", "right_thumb": "right_thumb2",
    "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle", "left_heel": "left_heel", "right_heel": "right_heel",
    "left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe",
}
_FALLBACK = {"left_eye_inner": "left_eye", "left_eye_outer": "left_eye", "right_eye_inner": "right_eye",
             "right_eye_outer": "right_eye", "mouth_left": "nose", "mouth_right": "nose"}


def _joint_part(name: str) -> str:
    if "elbow" in name or "shoulder" in name:
        return "arms"
    if "wrist" in name or any(f in name for f in ("index", "middle", "pinky", "ring", "thumb")):
        return "hands"
    if "hip" in name or "knee" in name:
        return "legs"
    if "ankle" in name or "foot" in name:
        return "feet"
    if name in ("head", "jaw", "left_eye_smplhf", "right_eye_smplhf"):
        return "head"
    return "torso"


def smplx_model_dir() -> Path:
    """The folder named by ``HUMANSPLAT_SMPLX_DIR``; raises with what to do when it is unset or missing."""
    value = os.environ.get(SMPLX_ENV, "").strip()
    if not value:
        raise WeightsUnavailableError(
            f"The 'smplx' body model needs SMPL-X model files, which HumanSplat does not download "
            f"(they require registration at https://smpl-x.is.tue.mpg.de and their own licence). "
            f"Download them yourself and set {SMPLX_ENV} to their folder (holding smplx/SMPLX_NEUTRAL.npz), "
            f"or use the default backend 'anny'."
        )
    path = Path(value).expanduser()
    candidates = [path / "smplx" / "SMPLX_NEUTRAL.npz", path / "SMPLX_NEUTRAL.npz", path / "smplx" / "SMPLX_NEUTRAL.pkl", path / "SMPLX_NEUTRAL.pkl"]
    if not any(c.is_file() for c in candidates):
        raise WeightsUnavailableError(
            f"{SMPLX_ENV}={value!r} holds no SMPL-X model (looked for {', '.join(str(c) for c in candidates[:2])}). "
            f"Point it at the folder you downloaded from https://smpl-x.is.tue.mpg.de, or use the backend 'anny'."
        )
    return path


class SmplxBody(BodyModel):
    """SMPL-X (neutral, 10 betas) behind :class:`BodyModel`; needs the user's own model files."""

    name = "smplx"

    def __init__(self, num_betas: int = 10) -> None:
        path = smplx_model_dir()
        try:
            import smplx
            from smplx.joint_names import JOINT_NAMES
        except ImportError as exc:
            raise WeightsUnavailableError(
                "The 'smplx' body model needs the smplx package: pip install smplx (or pip install 'humansplat[smplx]')."
            ) from exc
        folder = path / "smplx" if (path / "smplx").is_dir() else path
        ext = "npz" if (folder / "SMPLX_NEUTRAL.npz").is_file() else "pkl"
        try:
            model = smplx.SMPLX(model_path=str(folder), gender="neutral", num_betas=num_betas,
                                use_pca=False, flat_hand_mean=True, ext=ext)
        except Exception as exc:  # the package raises assorted errors for bad files
            raise WeightsUnavailableError(f"could not load SMPL-X from {path}: {exc}") from exc
        model.requires_grad_(False)
        self._smplx = model
        self._A = SMPLX_TO_MODEL
        self.faces = torch.as_tensor(np.asarray(model.faces, dtype=np.int64))
        self.shape_names = tuple(f"beta{i}" for i in range(num_betas))
        self._names = list(JOINT_NAMES)
        n_out = self._forward_raw(torch.zeros(1, num_betas), torch.zeros(1, 21, 3))[1].shape[1]
        self.joint_names = tuple(self._names[:n_out])
        # Groups -> SMPL-X body_pose rows (21 joints after the pelvis).
        body_names = self._names[1:22]
        share = torch.zeros(21, len(POSE_GROUPS))
        for g, group in enumerate(POSE_GROUPS):
            for joint, w in _GROUP_JOINTS[group]:
                share[body_names.index(joint), g] = w
        self._share = share
        idx = []
        for name in LANDMARK_NAMES:
            target = _SMPLX_FOR_LANDMARK[name]
            if target not in self.joint_names:
                target = _FALLBACK.get(name, target)
            idx.append(self.joint_names.index(target))
        self._lm_index = torch.tensor(idx)
        with torch.no_grad():
            v0, j0 = self._forward_model_frame(self.default_shape()[None], torch.zeros(1, len(POSE_GROUPS), 3))
        v0, j0 = v0[0], j0[0]
        self.surface = np.ones(len(v0), dtype=bool)
        self.parts = self._compute_parts(v0.numpy(), j0.numpy())
        self.hinge_axes = self._compute_hinge_axes(j0)

    def default_shape(self) -> torch.Tensor:
        return torch.zeros(len(self.shape_names))

    def shape_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.shape_names)
        return torch.full((n,), -3.0), torch.full((n,), 3.0)

    def pose_limits(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = default_pose_limits()
        # SMPL-X's reference is a T-pose: arms 45 deg higher than anny's A-pose.
        for side, sign in (("L", 1.0), ("R", -1.0)):
            i = POSE_GROUPS.index(f"shoulder.{side}")
            lo[i, 2] += sign * math.radians(45)
            hi[i, 2] += sign * math.radians(45)
        return lo, hi

    def _forward_raw(self, betas: torch.Tensor, body_pose_smplx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = betas.shape[0]
        out = self._smplx(betas=betas, body_pose=body_pose_smplx.reshape(B, -1), global_orient=betas.new_zeros(B, 3),
                          transl=betas.new_zeros(B, 3), return_verts=True)
        return out.vertices, out.joints

    def _forward_model_frame(self, shape: torch.Tensor, body_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rot = torch.einsum("np,bpc->bnc", self._share, body_pose.float()) @ self._A  # r_smplx = A r_model (rows)
        verts, joints = self._forward_raw(shape.float(), rot)
        root = joints[:, :1]
        return (verts - root) @ self._A.T, (joints - root) @ self._A.T

    def forward(self, params: BodyParams, vertex_index: torch.Tensor | None = None, rest: object | None = None) -> BodyOutput:
        batch = params.shape.shape[:-1]
        flat = lambda t: t.reshape((-1,) + tuple(t.shape[len(batch):])).float()
        verts, joints = self._forward_model_frame(flat(params.shape), flat(params.body_pose))
        if vertex_index is not None:
            verts = verts[:, vertex_index]
        R = axis_angle_to_matrix(flat(params.global_orient))
        t = flat(params.translation)[:, None]

        def to_cam(x: torch.Tensor) -> torch.Tensor:
            return (x @ R.transpose(-1, -2) + t).reshape(batch + x.shape[1:])

        return BodyOutput(vertices=to_cam(verts), joints=to_cam(joints), landmarks=to_cam(joints[:, self._lm_index]))

    def _compute_parts(self, v0: np.ndarray, j0: np.ndarray) -> torch.Tensor:
        idx = {n: i for i, n in enumerate(PART_NAMES)}
        dominant = self._smplx.lbs_weights.argmax(1).numpy()
        parts = np.array([idx[_joint_part(self._names[d])] for d in dominant], dtype=np.int64)
        head = parts == idx["head"]
        nose, lear, rear = (j0[self.joint_names.index(n)] for n in ("nose", "left_ear", "right_ear"))
        ear_z = 0.5 * (lear[2] + rear[2])
        front = v0[:, 2] < ear_z - 0.3 * (ear_z - nose[2])
        parts[head & front & (np.abs(v0[:, 0]) < 0.45 * abs(lear[0] - rear[0]))] = idx["face"]
        return torch.as_tensor(parts)

    def _compute_hinge_axes(self, j0: torch.Tensor) -> torch.Tensor:
        axes = []
        for group in HINGE_GROUPS:
            side = "left" if group.endswith(".L") else "right"
            if group.startswith("knee"):
                upper = j0[self.joint_names.index(f"{side}_knee")] - j0[self.joint_names.index(f"{side}_hip")]
                towards = torch.tensor([0.0, 0.0, 1.0])
            else:
                upper = j0[self.joint_names.index(f"{side}_elbow")] - j0[self.joint_names.index(f"{side}_shoulder")]
                towards = torch.tensor([0.0, 0.0, -1.0])
            axis = torch.linalg.cross(upper.float(), towards)
            axes.append(axis / axis.norm())
        return torch.stack(axes)
