"""Built-in poses and motions, written over the body model's own posable joints.

No motion-capture data: every motion is a few sinusoids over
:data:`~humansplat.prior.body_models.POSE_GROUPS` (model-frame axes: x = the subject's left,
y = down, z = front to back; see :mod:`humansplat.prior.body_models.base` for the signs: hip and
shoulder flexion (swinging a hanging limb forward) is -x, -z raises a left limb sideways, the
right side mirrors y and z). Angles that depend on the body (how far to raise the arms for a
T-pose) are measured on the body model's own joints in its reference pose.

A :class:`Motion` maps a time in seconds to a :class:`~humansplat.animate.rig.Pose`; looping
motions end where they start. :data:`MOTIONS` names them all: ``a_pose``, ``t_pose`` (still poses),
``walk`` (a walk cycle on the spot), ``wave`` (the right hand waves), ``turn`` (a full turn on the
spot with small steps).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..prior.body_models import HINGE_GROUPS, POSE_GROUPS, get_body_model
from .rig import Pose

__all__ = ["MOTIONS", "Motion", "get_motion", "motion_names"]


@dataclass(frozen=True)
class Motion:
    """A named motion: ``pose_at(t)`` for t in [0, duration_s] seconds.

    Attributes:
        name: identifier (CLI ``--motion``, glTF clip name).
        duration_s: length of one cycle in seconds.
        description: one line for people.
        fn: (time in seconds, backend) -> Pose.
    """

    name: str
    duration_s: float
    description: str
    fn: Callable[[float, str], Pose]

    def pose_at(self, t: float, backend: str = "anny") -> Pose:
        return self.fn(float(t), backend)

    def sample(self, frames: int, backend: str = "anny") -> tuple[list[float], list[Pose]]:
        """``frames`` evenly spaced times over one cycle (the end excluded, so a loop repeats
        seamlessly) and their poses."""
        if int(frames) < 1:
            raise ValueError(f"frames must be >= 1, got {frames!r}")
        times = [self.duration_s * k / int(frames) for k in range(int(frames))]
        return times, [self.pose_at(t, backend) for t in times]


def _deg(x: float) -> float:
    return math.radians(x)


class _PoseBuilder:
    """(P, 3) body pose written group by group; :meth:`side` mirrors a left-side value to the right."""

    def __init__(self, backend: str) -> None:
        self.pose = torch.zeros(len(POSE_GROUPS), 3)
        self.body = get_body_model(backend)

    def set(self, group: str, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> "_PoseBuilder":
        self.pose[POSE_GROUPS.index(group)] += torch.tensor([x, y, z])
        return self

    def side(self, group: str, side: str, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> "_PoseBuilder":
        """A left-side value (radians); the right side mirrors y and z."""
        s = 1.0 if side == "L" else -1.0
        return self.set(f"{group}.{side}", x, s * y, s * z)

    def flex(self, group: str, angle: float) -> "_PoseBuilder":
        """Bend a hinge group (elbow, knee) by ``angle`` radians (>= 0) about its own axis."""
        axis = self.body.hinge_axes[HINGE_GROUPS.index(group)]
        self.pose[POSE_GROUPS.index(group)] += angle * axis
        return self


@functools.lru_cache(maxsize=4)
def _arm_raise_for_t_pose(backend: str) -> float:
    """Sideways raise (radians) that makes the upper arm horizontal, from the reference joints."""
    body = get_body_model(backend)
    params = body.neutral_params()
    params.body_pose = torch.zeros_like(params.body_pose)  # the reference pose
    with torch.no_grad():
        joints = body(params, vertex_index=torch.zeros(1, dtype=torch.int64)).joints
    names = body.joint_names
    if "upperarm01.L" in names:
        shoulder, elbow = joints[names.index("upperarm01.L")], joints[names.index("lowerarm01.L")]
    else:  # SMPL-X names
        shoulder, elbow = joints[names.index("left_shoulder")], joints[names.index("left_elbow")]
    d = elbow - shoulder
    return math.atan2(float(d[1]), float(d[0].abs()))  # angle below the horizontal (y is down)


def _relaxed(backend: str) -> _PoseBuilder:
    """The body model's neutral standing pose (arms by the sides) with slightly bent elbows."""
    b = _PoseBuilder(backend)
    b.pose += b.body.neutral_pose()
    return b.flex("elbow.L", _deg(12)).flex("elbow.R", _deg(12))


def _a_pose(t: float, backend: str) -> Pose:
    return Pose(torch.zeros(len(POSE_GROUPS), 3))


def _t_pose(t: float, backend: str) -> Pose:
    raise_ = _arm_raise_for_t_pose(backend)
    b = _PoseBuilder(backend).side("shoulder", "L", z=-raise_).side("shoulder", "R", z=-raise_)
    return Pose(b.pose)


def _walk_pose(phase: float, backend: str, stride: float = 1.0) -> _PoseBuilder:
    """Walk-cycle pose at ``phase`` radians: the left leg swings forward while sin(phase) rises."""
    b = _relaxed(backend)
    s = math.sin(phase)
    for side, sign in (("L", 1.0), ("R", -1.0)):
        swing = sign * s  # > 0: this leg is in front
        forward = math.cos(phase) * sign  # > 0: this leg is moving forward (swing phase)
        b.side("hip", side, x=-stride * _deg(22) * swing)
        b.flex(f"knee.{side}", stride * (_deg(6) + _deg(45) * max(0.0, forward) ** 1.5))
        b.side("ankle", side, x=stride * _deg(10) * max(0.0, forward))
        b.side("shoulder", side, x=stride * _deg(18) * swing)  # arms swing against the legs
        b.flex(f"elbow.{side}", stride * _deg(15) * max(0.0, -swing))
    b.set("spine_lower", y=stride * _deg(6) * s)
    b.set("spine_upper", y=-stride * _deg(8) * s, x=_deg(2))
    return b


def _walk(t: float, backend: str) -> Pose:
    phase = 2.0 * math.pi * t / 1.2
    bob = 0.012 * (1.0 - math.cos(2.0 * phase)) * 0.5  # the hips rise (-y) as the legs pass
    return Pose(_walk_pose(phase, backend).pose, root_offset=torch.tensor([0.0, -bob + 0.006, 0.0]))


def _wave(t: float, backend: str) -> Pose:
    b = _relaxed(backend)
    b.pose[POSE_GROUPS.index("shoulder.R")] = 0.0
    b.pose[POSE_GROUPS.index("elbow.R")] = 0.0
    lift = min(1.0, t / 0.5)  # raise the arm over half a second, then wave
    lift = 0.5 - 0.5 * math.cos(math.pi * lift)
    w = math.sin(2.0 * math.pi * 2.0 * t) * (1.0 if t > 0.5 else 0.0)
    raise_ = _arm_raise_for_t_pose(backend)
    b.side("shoulder", "R", z=-lift * (raise_ + _deg(55)) - _deg(12) * w * lift, x=-lift * _deg(15))
    b.flex("elbow.R", lift * _deg(25) + _deg(12) * w * lift)
    b.side("wrist", "R", z=_deg(15) * w * lift)
    b.set("head", z=_deg(5) * lift)
    return Pose(b.pose)


def _turn(t: float, backend: str) -> Pose:
    duration = 4.0
    angle = 2.0 * math.pi * t / duration
    phase = 2.0 * math.pi * t / 1.0  # small steps while turning
    b = _walk_pose(phase, backend, stride=0.35)
    return Pose(b.pose, root_rotation=torch.tensor([0.0, -angle, 0.0]))


MOTIONS: dict[str, Motion] = {
    m.name: m
    for m in (
        Motion("a_pose", 1.0, "the body model's reference A-pose (still)", _a_pose),
        Motion("t_pose", 1.0, "arms raised to the horizontal (still)", _t_pose),
        Motion("walk", 2.4, "a walk cycle on the spot (two strides)", _walk),
        Motion("wave", 2.5, "raises the right arm and waves", _wave),
        Motion("turn", 4.0, "a full turn on the spot with small steps", _turn),
    )
}
"""The built-in motions by name."""


def motion_names() -> tuple[str, ...]:
    return tuple(MOTIONS)


def get_motion(name: str) -> Motion:
    """The built-in motion ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return MOTIONS[name]
    except KeyError:
        raise ValueError(f"unknown motion {name!r}; choose one of {', '.join(MOTIONS)}") from None
