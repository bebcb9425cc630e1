"""The avatar's skeleton: the fitted body's bones, bind pose and a way to pose them.

The rig is taken from the body model that was fitted to the photo (anny: 104 bones). Its **bind
pose** is the fitted pose itself, in the world frame of the reconstruction (the input camera's
OpenCV frame, up = -y, metres; see :mod:`humansplat.cameras`): the Gaussians were made around the
fitted body, so they are bound where they are and need no un-posing.

A :class:`Pose` is what a motion says at one instant: one axis-angle per
:data:`~humansplat.prior.body_models.POSE_GROUPS` entry (the body model's own posable joints, in
model-frame axes: x = the subject's left, y = down, z = front to back), plus a rotation and an
offset of the root (pelvis) in the same axes (a turn on the spot, a bob).

Shapes: J bones, P = len(POSE_GROUPS), T frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..cameras import invert_rigid
from ..geometry import axis_angle_to_matrix
from ..prior.body_models import POSE_GROUPS, BodyParams, get_body_model

if TYPE_CHECKING:  # pragma: no cover
    from ..prior.body_fit import BodyFit

__all__ = ["Pose", "Rig", "rig_from_fit"]


@dataclass
class Pose:
    """One pose of the avatar (model-frame axes, radians, metres).

    Attributes:
        body_pose: (P, 3) axis-angle per :data:`POSE_GROUPS` entry; zeros = the body model's
            reference pose (anny: an A-pose).
        root_rotation: (3,) axis-angle about the root joint, applied before the fitted body's
            global orientation (``(0, a, 0)`` turns the body by ``a`` about its vertical axis).
        root_offset: (3,) metres, moves the root (model-frame axes; ``-y`` is up).
    """

    body_pose: torch.Tensor
    root_rotation: torch.Tensor = field(default_factory=lambda: torch.zeros(3))
    root_offset: torch.Tensor = field(default_factory=lambda: torch.zeros(3))

    def __post_init__(self) -> None:
        self.body_pose = torch.as_tensor(self.body_pose, dtype=torch.float32)
        self.root_rotation = torch.as_tensor(self.root_rotation, dtype=torch.float32).reshape(3)
        self.root_offset = torch.as_tensor(self.root_offset, dtype=torch.float32).reshape(3)
        if self.body_pose.shape != (len(POSE_GROUPS), 3):
            raise ValueError(f"Pose.body_pose must be ({len(POSE_GROUPS)}, 3) axis-angles, got {tuple(self.body_pose.shape)}")


@dataclass
class Rig:
    """The skeleton of an avatar and the fitted body it came from (world = input camera frame).

    Attributes:
        backend: body model name (only "anny" is supported: it exposes its bones).
        joint_names: J bone names of the body model.
        parents: (J,) int64, parent bone index, -1 for the root.
        bind_poses: (J, 4, 4) float32 rigid bone frames (bone -> world) in the fitted pose; the
            translation is the bone's head (joint) position in metres.
        params: the fitted :class:`BodyParams` (global_orient (3,), translation (3,), body_pose
            (P, 3), shape (S,)); new poses keep its shape, orientation and translation.
    """

    backend: str
    joint_names: tuple[str, ...]
    parents: torch.Tensor
    bind_poses: torch.Tensor
    params: BodyParams

    @property
    def num_bones(self) -> int:
        return len(self.joint_names)

    def fitted_pose(self) -> Pose:
        """The pose the avatar was bound in (re-posing to it returns the bound Gaussians)."""
        return Pose(self.params.body_pose.detach().float().clone())

    def bone_poses(self, poses: list[Pose]) -> torch.Tensor:
        """(T, J, 4, 4) world bone frames of each pose (same convention as ``bind_poses``): the
        fitted shape, orientation and translation, each pose's joint rotations, then the root
        rotation (about the root joint) and offset, both in model-frame axes."""
        if not poses:
            raise ValueError("bone_poses needs at least one Pose")
        body = get_body_model(self.backend)
        p = self.params
        T = len(poses)
        batch = BodyParams(
            global_orient=p.global_orient.float().reshape(1, 3).expand(T, 3).clone(),
            translation=p.translation.float().reshape(1, 3).expand(T, 3).clone(),
            body_pose=torch.stack([q.body_pose for q in poses]),
            shape=p.shape.float().reshape(1, -1).expand(T, -1).clone(),
        )
        with torch.no_grad():
            bones = body.bone_poses(batch)  # (T, J, 4, 4)
        # Root motion: x -> c + R0 Rr R0^T (x - c) + R0 offset, c = the root joint (the translation).
        R0 = axis_angle_to_matrix(p.global_orient.float().reshape(3))
        Rr = R0[None] @ axis_angle_to_matrix(torch.stack([q.root_rotation for q in poses])) @ R0.T[None]
        c = p.translation.float().reshape(1, 3)
        offset = torch.stack([q.root_offset for q in poses]) @ R0.T  # (T, 3)
        W = torch.eye(4).repeat(T, 1, 1)
        W[:, :3, :3] = Rr
        W[:, :3, 3] = c - (Rr @ c[..., None])[..., 0] + offset
        return W[:, None] @ bones

    def skin_transforms(self, poses: list[Pose]) -> torch.Tensor:
        """(T, J, 4, 4) per-bone transforms from the bind pose to each pose: ``G(pose) @ G(bind)^-1``."""
        return self.bone_poses(poses) @ invert_rigid(self.bind_poses)[None]

    def descendants(self, bone: int | str) -> list[int]:
        """Indices of ``bone`` and every bone below it in the hierarchy."""
        j = self.joint_names.index(bone) if isinstance(bone, str) else int(bone)
        parents = self.parents.tolist()
        out = [j]
        for k in range(self.num_bones):  # parents come before children in the body model's order
            if parents[k] in out and k not in out:
                out.append(k)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for the avatar's sidecar file (see :func:`Rig.from_arrays`)."""
        p = self.params
        return {
            "rig_backend": np.array(self.backend),
            "rig_joint_names": np.array(self.joint_names),
            "rig_parents": self.parents.numpy().astype(np.int64),
            "rig_bind_poses": self.bind_poses.numpy().astype(np.float32),
            "rig_global_orient": p.global_orient.detach().float().reshape(3).numpy(),
            "rig_translation": p.translation.detach().float().reshape(3).numpy(),
            "rig_body_pose": p.body_pose.detach().float().reshape(-1, 3).numpy(),
            "rig_shape": p.shape.detach().float().reshape(-1).numpy(),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Rig":
        params = BodyParams(
            global_orient=torch.as_tensor(arrays["rig_global_orient"]),
            translation=torch.as_tensor(arrays["rig_translation"]),
            body_pose=torch.as_tensor(arrays["rig_body_pose"]),
            shape=torch.as_tensor(arrays["rig_shape"]),
        )
        return cls(
            backend=str(arrays["rig_backend"]),
            joint_names=tuple(str(n) for n in arrays["rig_joint_names"]),
            parents=torch.as_tensor(arrays["rig_parents"], dtype=torch.int64),
            bind_poses=torch.as_tensor(arrays["rig_bind_poses"], dtype=torch.float32),
            params=params,
        )


def rig_from_fit(body_fit: BodyFit) -> Rig:
    """The rig of a fitted body (:class:`~humansplat.prior.body_fit.BodyFit` with ``params``).

    Raises:
        ValueError: the fit has no parameters, or its body model exposes no bones (SMPL-X here).
    """
    if body_fit.params is None:
        raise ValueError("this body fit carries no BodyParams; animation needs a fit from humansplat.prior.fit")
    body = get_body_model(body_fit.backend)
    if not hasattr(body, "bone_poses"):
        raise ValueError(f"body model {body_fit.backend!r} exposes no skeleton; animate with the default 'anny' body")
    params = body_fit.params.detach().to(dtype=torch.float32)
    params = BodyParams(
        global_orient=params.global_orient.reshape(3),
        translation=params.translation.reshape(3),
        body_pose=params.body_pose.reshape(len(POSE_GROUPS), 3),
        shape=params.shape.reshape(-1),
    )
    with torch.no_grad():
        bind = body.bone_poses(params)
    return Rig(
        backend=body_fit.backend,
        joint_names=tuple(body.joint_names),
        parents=torch.tensor(body.bone_parents, dtype=torch.int64),
        bind_poses=bind,
        params=params,
    )
