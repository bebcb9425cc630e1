"""Rotations and axis flips: the one home of the rotation formulas and of the OpenCV-to-glTF flip.

Conventions: rotation matrices act on column vectors (``x' = R @ x``); axis-angle vectors are
radians (direction = axis, norm = angle, right-handed); quaternions are (w, x, y, z). The world is
the input camera's OpenCV frame (:mod:`humansplat.cameras`: x right, y down, z forward); glTF (and
the scan frame of :mod:`humansplat.data.scans`) is y up, facing +z: ``(x, -y, -z)`` of the world.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "OPENCV_TO_GLTF",
    "axis_angle_to_matrix",
    "axis_rotation",
    "matrix_to_axis_angle",
    "opencv_to_gltf",
    "quat_to_rotmat",
    "rotmat_to_quat",
]

OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0])
OPENCV_TO_GLTF.setflags(write=False)
"""(3, 3) float64: OpenCV world (y down, facing -z) -> glTF / scan frame (y up, facing +z), 180 deg about x.
Its own inverse (glTF -> OpenCV is the same matrix); det = +1, so triangle winding is kept."""

_Points = TypeVar("_Points", np.ndarray, torch.Tensor)


def opencv_to_gltf(points: _Points) -> _Points:
    """(..., 3) points -> the same points with y and z negated (:data:`OPENCV_TO_GLTF`), same type.

    Elementwise (no matrix product), so values are exact; works for numpy arrays and torch tensors."""
    signs = OPENCV_TO_GLTF.diagonal()
    if isinstance(points, torch.Tensor):
        return points * torch.tensor(signs.tolist(), dtype=points.dtype, device=points.device)
    return points * signs


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle vectors (radians) -> (..., 3, 3) rotation matrices.

    Smooth at zero (series expansion below 1e-4 rad), so it is safe to optimise through.
    """
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)  # (..., 1)
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)  # sin(t)/t
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)  # (1-cos t)/t^2
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(K)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle vectors (not for angles near pi)."""
    cos = ((R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2] - 1.0) / 2.0).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    w = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = torch.sin(theta)
    scale = torch.where(sin.abs() < 1e-6, torch.full_like(theta, 0.5), theta / (2.0 * sin.clamp_min(1e-12)))
    return w * scale[..., None]


def axis_rotation(axis: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """(F, 3, 3) float32 rotations by ``angles_deg`` (F,) degrees about the unit ``axis`` (3,),
    right-handed (Rodrigues, closed form: ``c I + s [u]x + (1 - c) u u^T``)."""
    a = torch.deg2rad(torch.as_tensor(angles_deg, dtype=torch.float32).reshape(-1))
    u = torch.nn.functional.normalize(torch.as_tensor(axis, dtype=torch.float32).reshape(3), dim=0)
    ux = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    eye = torch.eye(3).expand(len(a), 3, 3)
    s, c = torch.sin(a)[:, None, None], torch.cos(a)[:, None, None]
    return eye * c + s * ux + (1.0 - c) * torch.outer(u, u)


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """(N, 4) quaternions (w, x, y, z), any norm -> (N, 3, 3) rotation matrices."""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)


def rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) proper rotations -> (N, 4) unit quaternions (w, x, y, z)."""
    m = R
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cands = torch.stack(
        [
            torch.stack([1 + tr, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
            torch.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
            torch.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2], m[:, 1, 2] + m[:, 2, 1]], -1),
            torch.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]], -1),
        ],
        dim=1,
    )  # (N, 4 candidates, 4); candidate k is 4 * q * q_k, best conditioned where q_k is largest
    diag = torch.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], -1)
    best = diag.argmax(dim=-1)
    q = cands[torch.arange(R.shape[0]), best]
    return torch.nn.functional.normalize(q, dim=-1)
