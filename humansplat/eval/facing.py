"""How robust the facing decision (:mod:`humansplat.prior.sides`) is to what differs between processors.

MediaPipe's CPU inference is not bit-identical across processors. Two things then change: every
landmark moves a little, and near the network's decision boundary whole chains come back with their
left/right labels exchanged (the arms, the legs, the face points, or all of them at once). Face Mesh
may find the face on one processor and not on another. :func:`perturbed` makes those changes to one
detection; :func:`facing_trials` runs the decision on every combination and says, for each, whether
the facing and the returned labels are right and by what margin.

Pixel coordinates: (u, v), u to the right, v down.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from ..prior.landmarks import Landmarks
from ..prior.sides import CHAINS, consistent_sides, exchange_labels, side_votes, torso_span, up_direction

__all__ = ["LANDMARK_NOISE", "FacingTrial", "facing_trials", "labels_agree", "perturbed"]

LANDMARK_NOISE = 0.02
"""Standard deviation of the landmark noise, as a fraction of the shoulder-to-hip span. Measured with
``benchmarks/facing.py --measure-noise``: adding +-1 grey level of noise to the photo (the size of a
rounding difference between two processors' arithmetic) moves MediaPipe's landmarks by 0.7 % of that
span (median) and 4.9 % (95th percentile) on the built-in subjects; Gaussian noise of 2 % moves them
by 2.4 % (median) and 4.9 % (95th percentile) alike."""

def perturbed(
    landmarks: Landmarks,
    swap: tuple[str, ...] = (),
    noise: float = 0.0,
    drop_face_mesh: bool = False,
    rng: np.random.Generator | None = None,
) -> Landmarks:
    """One detection as another processor might have returned it.

    Args:
        landmarks: a detection with consistent labels.
        swap: names of :data:`~humansplat.prior.sides.CHAINS` whose labels are exchanged.
        noise: standard deviation of the Gaussian noise added to every 2D point (body and face mesh),
            as a fraction of the shoulder-to-hip span.
        drop_face_mesh: return the detection without its face mesh.
        rng: random generator for the noise (seeded by the caller).
    """
    out = landmarks
    for name in swap:
        out = exchange_labels(out, CHAINS[name])
    if drop_face_mesh:
        out = replace(out, face=None)
    if noise > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        sigma = noise * torso_span(np.asarray(landmarks.body, np.float64), np.asarray(landmarks.body_confidence) > 0)
        body = np.asarray(out.body, dtype=np.float64) + rng.normal(0.0, sigma, size=np.shape(out.body))
        face = (
            None if out.face is None else np.asarray(out.face, np.float64) + rng.normal(0.0, sigma, np.shape(out.face))
        )
        out = replace(out, body=body.astype(np.float32), face=None if face is None else face.astype(np.float32))
    return out


def labels_agree(landmarks: Landmarks, facing: int) -> bool:
    """True when the shoulder and hip labels that are seen lie the way round ``facing`` says: facing the
    camera (+1), the person's left on the right of the body's up direction in the image."""
    b = np.asarray(landmarks.body, dtype=np.float64)
    c = np.asarray(landmarks.body_confidence) > 0
    up = up_direction(b, c)
    for left, right in ((11, 12), (23, 24)):
        if c[left] and c[right]:
            d = b[left] - b[right]
            if facing * (up[0] * d[1] - up[1] * d[0]) <= 0:
                return False
    return True


@dataclass
class FacingTrial:
    """The facing decision on one perturbed detection.

    Attributes:
        swap: the chains whose labels were exchanged before the decision.
        face_mesh: whether the face mesh was kept.
        facing: the decision, +1 or -1.
        margin: the truth's side of the label-free cues (:attr:`SideVotes.margin` times ``truth *
            facing``): > 0 when they point the right way.
        sure: whether the label-free cues decided.
        right: the facing equals the truth and the returned shoulder and hip labels agree with it.
    """

    swap: tuple[str, ...]
    face_mesh: bool
    facing: int
    margin: float
    sure: bool
    right: bool


def facing_trials(
    landmarks: Landmarks, truth: int, noise: float = LANDMARK_NOISE, repeats: int = 2, seed: int = 0
) -> list[FacingTrial]:
    """The decision on ``landmarks`` under every combination of label swaps (none, each chain, all), with
    and without the face mesh (when there is one), each ``repeats`` times with fresh noise.

    Args:
        landmarks: a detection, labels made consistent (as :func:`~humansplat.prior.person.detect_person`
            returns them).
        truth: +1 the person faces the camera, -1 turned away.
    """
    rng = np.random.default_rng(seed)
    names = tuple(CHAINS)
    swaps = [s for k in range(len(names) + 1) for s in itertools.combinations(names, k)]
    meshes = (True, False) if landmarks.face is not None else (False,)
    trials = []
    for swap in swaps:
        for keep_mesh in meshes:
            for _ in range(repeats):
                lm = perturbed(landmarks, swap, noise, drop_face_mesh=not keep_mesh, rng=rng)
                votes = side_votes(lm)
                sided, _ = consistent_sides(lm, votes)
                right = votes.facing == truth and labels_agree(sided, truth)
                trials.append(
                    FacingTrial(swap, keep_mesh, votes.facing, votes.margin * truth * votes.facing, votes.sure, right)
                )
    return trials
