"""Which side is the person's left: one facing for every left/right label of the landmarks.

MediaPipe Pose labels every landmark with the person's left or right side, one landmark at a time,
and sometimes gets a whole limb chain the wrong way round while the rest of the body is right (arms
held out sideways, a face without clear features): the fitted arms then cross the body in depth and
every side view of the avatar is ruined. A person's torso is rigid enough that the shoulders, the
hips and the face all say the same thing about whether the person faces the camera or turns away,
so this module

1. measures, for each left/right pair, which way round it is in the image *relative to the body's
   up direction* (hips -> shoulders, so an upside-down person is not a back view): positive when the
   person's left lies on the left of the person's "up" as seen from the camera, i.e. the person faces
   the camera;
2. decides one facing by a weighted vote (:data:`WEIGHTS`): Face Mesh's face, when it found one
   (it models a front face, so it is the strongest cue), the feet (toes nearer the camera than the
   heels show lower in the image), the shoulders, the hips and the pose's face points;
3. swaps the labels of each chain (arm: shoulder to fingers; leg: hip to toes; face points) whose
   own pair disagrees with that facing. Elbows, wrists, knees and ankles follow their chain: arms
   folded across the chest or crossed ankles are real and stay.

MediaPipe's 3D ``body_world`` points of a swapped chain are swapped too and mirrored in depth about
the hips' centre (their origin): the mirror image in depth is exactly the interpretation with the
other labels, so the fit's initial yaw agrees with the 2D labels.

Pixel coordinates: (u, v), u to the right, v down (the crop's pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .landmarks import Landmarks

__all__ = ["ARM_CHAIN", "FACE_PAIRS", "LEG_CHAIN", "SideVotes", "consistent_sides", "side_votes"]

# MediaPipe Pose (left, right) index pairs of each chain.
FACE_PAIRS: tuple[tuple[int, int], ...] = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10))
ARM_CHAIN: tuple[tuple[int, int], ...] = ((11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22))
LEG_CHAIN: tuple[tuple[int, int], ...] = ((23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
_HEELS, _TOES = (29, 30), (31, 32)
# Face Mesh (canonical face): outer corners of the person's left and right eye.
_MESH_LEFT_EYE, _MESH_RIGHT_EYE = 263, 33

WEIGHTS: dict[str, float] = {"face_mesh": 3.0, "feet": 2.0, "shoulders": 1.0, "hips": 1.0, "face": 0.5}
"""Weight of each cue in the facing vote (each cue's own value lies in [-1, 1]). The cues that do not
depend on MediaPipe's left/right labels (Face Mesh's canonical face, heels vs toes) weigh most: the
labels are what fails, and when they fail the shoulders and the pose's face points tend to fail
together (seen on a person with arms held out sideways and a plain face, turned 15-30 degrees)."""


@dataclass
class SideVotes:
    """The facing cues of one person, each in [-1, 1] (+ faces the camera, - turned away, 0 unknown).

    Attributes:
        face_mesh: from Face Mesh's eye corners (0 without a face mesh).
        shoulders, hips: from the shoulder and hip pairs.
        face: mean over the pose's face pairs (eyes, ears, mouth) that were seen.
        face_pairs: the vote of each pair of :data:`FACE_PAIRS` (0 when unseen).
        feet: toes below (+) or above (-) the heels, along the body's up direction.
        facing: +1 (faces the camera) or -1 (turned away): the sign of the weighted sum; a tie faces
            the camera.
    """

    face_mesh: float
    shoulders: float
    hips: float
    face: float
    feet: float
    facing: int
    face_pairs: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(getattr(self, k)), 3) for k in ("face_mesh", "shoulders", "hips", "face", "feet", "facing")}


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _up_direction(body: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(2,) unit vector of the body's up direction in the image: hips' centre -> shoulders' centre
    (label-free midpoints), else shoulders' centre -> nose, else image up."""
    if seen[[11, 12, 23, 24]].all():
        d = 0.5 * (body[11] + body[12]) - 0.5 * (body[23] + body[24])
    elif seen[[11, 12, 0]].all():
        d = body[0] - 0.5 * (body[11] + body[12])
    else:
        d = np.array([0.0, -1.0])
    n = float(np.linalg.norm(d))
    return d / n if n > 1e-6 else np.array([0.0, -1.0])


def _scale(body: np.ndarray, seen: np.ndarray) -> float:
    """A length in pixels for "clearly apart": 15 % of the shoulder-to-hip span, or of the extent of
    the seen landmarks."""
    if seen[[11, 12, 23, 24]].all():
        return 0.15 * float(np.linalg.norm(0.5 * (body[11] + body[12]) - 0.5 * (body[23] + body[24])))
    pts = body[seen]
    return 0.15 * float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0)) if len(pts) else 1.0


def _pair_vote(body: np.ndarray, conf: np.ndarray, pair: tuple[int, int], up: np.ndarray, scale: float) -> float:
    """In [-1, 1]: which way round the pair lies across ``up``, weighted by the lower confidence and
    by how clearly apart the two points are (a person seen from the side has both on one spot)."""
    left, right = pair
    c = min(float(conf[left]), float(conf[right]))
    if c <= 0:
        return 0.0
    across = _cross(up, body[left] - body[right])
    return c * float(np.tanh(across / max(scale, 1e-6)))


def side_votes(landmarks: Landmarks) -> SideVotes:
    """The facing cues of ``landmarks`` and the facing they vote for (module docstring)."""
    body = np.asarray(landmarks.body, dtype=np.float64)
    conf = np.asarray(landmarks.body_confidence, dtype=np.float64)
    seen = conf > 0
    up = _up_direction(body, seen)
    scale = _scale(body, seen)
    shoulders = _pair_vote(body, conf, (11, 12), up, scale)
    hips = _pair_vote(body, conf, (23, 24), up, scale)
    face_pairs = tuple(_pair_vote(body, conf, p, up, 0.3 * scale) for p in FACE_PAIRS)
    seen_pairs = [v for v, p in zip(face_pairs, FACE_PAIRS) if min(conf[p[0]], conf[p[1]]) > 0]
    face = float(np.mean(seen_pairs)) if seen_pairs else 0.0
    feet_votes = []
    for heel, toe in zip(_HEELS, _TOES):
        c = min(conf[heel], conf[toe])
        if c > 0:
            below = -float(np.dot(body[toe] - body[heel], up))  # toes nearer the camera show lower
            feet_votes.append(c * float(np.tanh(below / max(0.3 * scale, 1e-6))))
    feet = float(np.mean(feet_votes)) if feet_votes else 0.0
    face_mesh = 0.0
    if landmarks.face is not None and len(landmarks.face) > max(_MESH_LEFT_EYE, _MESH_RIGHT_EYE):
        f = np.asarray(landmarks.face, dtype=np.float64)
        face_mesh = float(np.tanh(_cross(up, f[_MESH_LEFT_EYE] - f[_MESH_RIGHT_EYE]) / max(0.3 * scale, 1e-6)))
    total = (
        WEIGHTS["face_mesh"] * face_mesh
        + WEIGHTS["shoulders"] * shoulders
        + WEIGHTS["hips"] * hips
        + WEIGHTS["face"] * face
        + WEIGHTS["feet"] * feet
    )
    return SideVotes(face_mesh, shoulders, hips, face, feet, facing=1 if total >= 0 else -1, face_pairs=face_pairs)


def _swap(array: np.ndarray | None, pairs: tuple[tuple[int, int], ...], mirror_z: bool = False) -> np.ndarray | None:
    if array is None:
        return None
    out = np.array(array, copy=True)
    for left, right in pairs:
        out[[left, right]] = out[[right, left]]
        if mirror_z:
            out[[left, right], 2] *= -1.0
    return out


def _swap_chain(landmarks: Landmarks, pairs: tuple[tuple[int, int], ...]) -> Landmarks:
    """``landmarks`` with the labels of ``pairs`` exchanged (2D points, confidences, and the 3D points
    mirrored in depth)."""
    return replace(
        landmarks,
        body=_swap(landmarks.body, pairs),
        body_confidence=_swap(landmarks.body_confidence, pairs),
        body_world=_swap(landmarks.body_world, pairs, mirror_z=True),
    )


def consistent_sides(landmarks: Landmarks) -> tuple[Landmarks, list[str]]:
    """``landmarks`` with every left/right chain agreeing with one facing, and what was swapped.

    Returns:
        (landmarks, swapped): ``swapped`` names the chains whose labels were exchanged (``"arms"``,
        ``"legs"``, ``"face"``); empty when MediaPipe's labels already agreed. Hands from MediaPipe
        Hands are exchanged with their arms.
    """
    votes = side_votes(landmarks)
    swapped: list[str] = []
    out = landmarks
    for name, pairs, vote in (("arms", ARM_CHAIN, votes.shoulders), ("legs", LEG_CHAIN, votes.hips)):
        if vote * votes.facing < 0:
            swapped.append(name)
            out = _swap_chain(out, pairs)
            if name == "arms":
                out = replace(out, left_hand=out.right_hand, right_hand=out.left_hand)
    if votes.face * votes.facing < 0:
        pairs = tuple(p for p, v in zip(FACE_PAIRS, votes.face_pairs) if v * votes.facing < 0)
        if pairs:
            swapped.append("face")
            out = _swap_chain(out, pairs)
    return out, swapped
