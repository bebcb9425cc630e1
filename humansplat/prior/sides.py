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
2. decides one facing, and how sure it is (:class:`SideVotes`). MediaPipe's labels fail together:
   near its decision boundary the whole body comes back mirrored (shoulders, hips and face all say
   "turned away" for a person facing the camera), and where that boundary lies differs from one
   processor to the next. So the labelled pairs (shoulders, hips, the pose's face points) never
   decide against the cues that do not depend on the labels (:data:`LABEL_FREE_CUES`): Face Mesh's
   face (a model of a front face: its left eye lies on the person's left whatever Pose says) and the
   feet (toes nearer the camera than the heels show lower in the image; a heel and its toe are
   swapped together with their leg). The facing is the sign of the label-free cues' weighted mean
   when its size is at least :data:`SURE_MARGIN`; else (no face mesh and no feet, or both weak) the
   weighted vote of all cues decides and the facing is reported as uncertain. (Fitting the body to
   both readings cannot settle it: the mirrored reading is the same picture of a body facing the
   other way, and on the built-in subjects both fits reach the same landmark error and silhouette
   IoU to 0.001. The labels are right for people turned away, whose face Face Mesh cannot see.);
3. swaps the labels of each chain (arm: shoulder to fingers; leg: hip to toes; face points) whose
   own pair disagrees with that facing. Elbows, wrists, knees and ankles follow their chain: arms
   folded across the chest or crossed ankles are real and stay. When the chain's root pair
   (shoulders, hips) disagrees but its next pair (elbows, knees) already agrees with the facing, the
   detector mislabelled the root pair alone (seen for the hips of a person turned 30-45 degrees with
   the legs apart): only that pair is exchanged, so the legs do not cross.

MediaPipe's 3D ``body_world`` points of a swapped chain are swapped too and mirrored in depth about
the hips' centre (their origin): the mirror image in depth is exactly the interpretation with the
other labels, so the fit's initial yaw agrees with the 2D labels.

Pixel coordinates: (u, v), u to the right, v down (the crop's pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .landmarks import Landmarks

__all__ = [
    "ARM_CHAIN",
    "CHAINS",
    "FACE_PAIRS",
    "LABEL_FREE_CUES",
    "LEG_CHAIN",
    "SURE_MARGIN",
    "WEIGHTS",
    "SideVotes",
    "consistent_sides",
    "exchange_labels",
    "mirrored_reading",
    "side_votes",
    "torso_span",
    "up_direction",
]

# MediaPipe Pose (left, right) index pairs of each chain.
FACE_PAIRS: tuple[tuple[int, int], ...] = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10))
ARM_CHAIN: tuple[tuple[int, int], ...] = ((11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22))
LEG_CHAIN: tuple[tuple[int, int], ...] = ((23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
_HEELS, _TOES = (29, 30), (31, 32)
# Face Mesh (canonical face): outer corners of the person's left and right eye.
_MESH_LEFT_EYE, _MESH_RIGHT_EYE = 263, 33

WEIGHTS: dict[str, float] = {"face_mesh": 3.0, "feet": 2.0, "shoulders": 1.0, "hips": 1.0, "face": 0.5}
"""Weight of each cue in the facing vote (each cue's own value lies in [-1, 1])."""

LABEL_FREE_CUES: tuple[str, ...] = ("face_mesh", "feet")
"""The cues that do not depend on MediaPipe Pose's left/right labels; only they can make a facing sure."""

SURE_MARGIN = 0.2
"""Smallest size of the label-free cues' weighted mean that decides the facing on its own. Measured on
the built-in subjects at 256 px (``benchmarks/facing.py``): facing the camera and turned up to 60
degrees, the feet give 0.29-0.98 in the right direction; turned away, the feet seen edge-on from
behind (120 and 240 degrees) give at most 0.08 in the wrong direction. +-1 grey level of photo noise
moves the value by 0.005 (median) to 0.23 (max)."""


@dataclass
class SideVotes:
    """The facing cues of one person, each in [-1, 1] (+ faces the camera, - turned away, 0 unknown).

    Attributes:
        face_mesh: from Face Mesh's eye corners (0 without a face mesh).
        shoulders, hips: from the shoulder and hip pairs.
        face: mean over the pose's face pairs (eyes, ears, mouth) that were seen.
        feet: toes below (+) or above (-) the heels, along the body's up direction (0 without feet).
        facing: +1 (faces the camera) or -1 (turned away).
        margin: the label-free cues' weighted mean in the direction of ``facing`` (0 when there is
            none; negative when the vote of all cues overruled weak label-free cues).
        basis: the cues that decided: ``"face mesh"``, ``"feet"``, ``"face mesh and feet"`` (label-free,
            sure) or ``"labels"`` (the vote of all cues, uncertain).
        face_pairs: the vote of each pair of :data:`FACE_PAIRS` (0 when unseen).
    """

    face_mesh: float
    shoulders: float
    hips: float
    face: float
    feet: float
    facing: int
    margin: float = 0.0
    basis: str = "labels"
    face_pairs: tuple[float, ...] = ()

    @property
    def sure(self) -> bool:
        """True when the label-free cues decided (``margin >= SURE_MARGIN``)."""
        return self.basis != "labels"

    def as_dict(self) -> dict[str, float | str]:
        out: dict[str, float | str] = {
            k: round(float(getattr(self, k)), 3) for k in ("face_mesh", "shoulders", "hips", "face", "feet", "facing", "margin")
        }
        out["basis"] = self.basis
        return out


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def up_direction(body: np.ndarray, seen: np.ndarray) -> np.ndarray:
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


def torso_span(body: np.ndarray, seen: np.ndarray) -> float:
    """A body length in pixels, label-free: the shoulders' centre to the hips' centre, or the extent
    of the seen landmarks when those four are not all seen.

    Args:
        body: (33, 2) pixels (u, v); seen: (33,) bool.
    """
    if seen[[11, 12, 23, 24]].all():
        return float(np.linalg.norm(0.5 * (body[11] + body[12]) - 0.5 * (body[23] + body[24])))
    pts = body[seen]
    return float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0)) if len(pts) else 1.0


def _scale(body: np.ndarray, seen: np.ndarray) -> float:
    """A length in pixels for "clearly apart": 15 % of :func:`torso_span`."""
    return 0.15 * torso_span(body, seen)


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
    up = up_direction(body, seen)
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
    has_face_mesh = landmarks.face is not None and len(landmarks.face) > max(_MESH_LEFT_EYE, _MESH_RIGHT_EYE)
    if has_face_mesh:
        f = np.asarray(landmarks.face, dtype=np.float64)
        face_mesh = float(np.tanh(_cross(up, f[_MESH_LEFT_EYE] - f[_MESH_RIGHT_EYE]) / max(0.3 * scale, 1e-6)))
    cues = {"face_mesh": face_mesh, "shoulders": shoulders, "hips": hips, "face": face, "feet": feet}
    present = {"face_mesh": has_face_mesh, "feet": bool(feet_votes)}
    free_weight = sum(WEIGHTS[k] for k in LABEL_FREE_CUES if present[k])
    free = sum(WEIGHTS[k] * cues[k] for k in LABEL_FREE_CUES if present[k]) / free_weight if free_weight else 0.0
    if abs(free) >= SURE_MARGIN:
        facing = 1 if free > 0 else -1
        basis = " and ".join(k.replace("_", " ") for k in LABEL_FREE_CUES if present[k])
    else:
        facing = 1 if sum(WEIGHTS[k] * v for k, v in cues.items()) >= 0 else -1
        basis = "labels"
    return SideVotes(
        face_mesh, shoulders, hips, face, feet, facing=facing, margin=facing * free, basis=basis, face_pairs=face_pairs
    )


def _swap(array: np.ndarray | None, pairs: tuple[tuple[int, int], ...], mirror_z: bool = False) -> np.ndarray | None:
    if array is None:
        return None
    out = np.array(array, copy=True)
    for left, right in pairs:
        out[[left, right]] = out[[right, left]]
        if mirror_z:
            out[[left, right], 2] *= -1.0
    return out


CHAINS: dict[str, tuple[tuple[int, int], ...]] = {"arms": ARM_CHAIN, "legs": LEG_CHAIN, "face": FACE_PAIRS}
"""The chains whose labels the pose detector gets the wrong way round as a whole."""


def exchange_labels(landmarks: Landmarks, pairs: tuple[tuple[int, int], ...]) -> Landmarks:
    """``landmarks`` with the labels of ``pairs`` exchanged: 2D points, confidences, and the 3D points
    mirrored in depth (the other reading of the same picture). Hands from MediaPipe Hands are exchanged
    when the wrists are."""
    out = replace(
        landmarks,
        body=_swap(landmarks.body, pairs),
        body_confidence=_swap(landmarks.body_confidence, pairs),
        body_world=_swap(landmarks.body_world, pairs, mirror_z=True),
    )
    if ARM_CHAIN[2] in pairs:  # the wrists: the hands go with them
        out = replace(out, left_hand=landmarks.right_hand, right_hand=landmarks.left_hand)
    return out


def mirrored_reading(landmarks: Landmarks) -> Landmarks:
    """``landmarks`` read as the same picture of a person facing the other way: every left/right label
    exchanged. (Face Mesh's points are left as they are: they do not depend on Pose's labels.)"""
    return exchange_labels(landmarks, ARM_CHAIN + LEG_CHAIN + FACE_PAIRS)


def _next_pair_vote(landmarks: Landmarks, chain: tuple[tuple[int, int], ...]) -> float:
    """The vote of the chain's second pair (elbows, knees): which way round it lies (:func:`_pair_vote`)."""
    body = np.asarray(landmarks.body, dtype=np.float64)
    conf = np.asarray(landmarks.body_confidence, dtype=np.float64)
    seen = conf > 0
    return _pair_vote(body, conf, chain[1], up_direction(body, seen), _scale(body, seen))


def consistent_sides(landmarks: Landmarks, votes: SideVotes | None = None) -> tuple[Landmarks, list[str]]:
    """``landmarks`` with every left/right chain agreeing with one facing, and what was swapped.

    Args:
        landmarks: the pose detector's landmarks, labels as detected.
        votes: ``side_votes(landmarks)`` when the caller has it already.

    Returns:
        (landmarks, swapped): ``swapped`` names the chains whose labels were exchanged (``"arms"``,
        ``"legs"``, ``"face"``, or ``"shoulders"``/``"hips"`` for a root pair alone); empty when
        MediaPipe's labels already agreed. Hands from MediaPipe
        Hands are exchanged with their arms.
    """
    votes = votes or side_votes(landmarks)
    swapped: list[str] = []
    out = landmarks
    for name, vote in (("arms", votes.shoulders), ("legs", votes.hips)):
        if vote * votes.facing < 0:
            chain = CHAINS[name]
            if _next_pair_vote(out, chain) * votes.facing > 0:  # the root pair alone was mislabelled
                swapped.append("shoulders" if name == "arms" else "hips")
                out = exchange_labels(out, chain[:1])
            else:
                swapped.append(name)
                out = exchange_labels(out, chain)
    if votes.face * votes.facing < 0:
        pairs = tuple(p for p, v in zip(FACE_PAIRS, votes.face_pairs) if v * votes.facing < 0)
        if pairs:
            swapped.append("face")
            out = exchange_labels(out, pairs)
    return out, swapped
