"""Hands beside or over the face: a thin, closed shape of their own at the hand's depth.

A hand held beside the face lies inside or next to the head's outline. Left to the generic fill of
:mod:`.surfaces` and the close-up head of :mod:`.head` it would count as hair (the head's ellipsoid
grown sideways to it) and lie on the head's shell, a flat sheet, with the head's back (or a slab of
the hand's colour) behind it. Here each hand near the head is found on the geometry grid and given
its own surfaces:

* **Pixels** (:func:`hands_near_head`): MediaPipe Hands' 21 landmarks of a hand
  (``PersonCrop.landmarks.left_hand`` / ``right_hand``) drawn as the palm (the polygon of the wrist
  and the knuckles) and capsules along the finger bones, :data:`FINGER_RADIUS` x the hand's size
  (wrist to the middle finger's knuckle) wide, within the person mask; a hand that Hands did not
  find is the fitted body's hand where the fit is trusted. A hand counts when it lies within
  :data:`NEAR_HEAD_M` of the head's pixels (a hand elsewhere keeps the generic surfaces).
* **Depth** (:func:`hand_surfaces`): the fitted body's hand where it covers at least
  :data:`FITTED_SHARE` of the hand (the fit placed it from Pose's and Hands' points; its pixels
  keep their own depth, the rest of the hand takes their median); else, over the face (at least
  :data:`OVER_HEAD_SHARE` of its pixels in front of the fitted face or the head's shell), the face's
  depth under it less :data:`GAP_M`; else, beside the head, the depth of the head's surface next to
  it (:data:`BESIDE_QUANTILE` of the head's front depths in a band :data:`SIDE_BAND_M` wide along
  the hand: the head's outline, its side, where a hand beside it touches it).
* **Shape**: front and back :data:`THICKNESS_M` apart, closed at its edges by the walls of
  :mod:`.walls` (silhouette walls, and the depth-jump walls to the face beside it).
* **Behind** (in :func:`~.surfaces.prior_surfaces`): where the close-up head's shell lies behind a
  hand, the back layer there is the head's back: seen from behind, the head stays one closed surface,
  and the walls at the hand's edges close the hand towards the face. Elsewhere the far surface behind
  a hand is what the ray leaves last when that is another part (the torso's back), else the hand's
  own back: no slab behind it.

Shapes: S geometry-grid side (pixels); maps are (S, S); depths are camera z in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..prior.landmarks import Landmarks

__all__ = [
    "BESIDE_QUANTILE",
    "FINGER_RADIUS",
    "FITTED_SHARE",
    "GAP_M",
    "NEAR_HEAD_M",
    "OVER_HEAD_SHARE",
    "SIDE_BAND_M",
    "THICKNESS_M",
    "HandSurfaces",
    "hand_surfaces",
    "hands_near_head",
    "landmark_hand",
]

FINGER_RADIUS = 0.13
"""Half width of a finger (and the margin around the palm's polygon), times the hand's size (wrist to the
middle finger's knuckle, MediaPipe Hands points 0 and 9): about 1.2 cm for a 9 cm palm."""
THICKNESS_M = 0.03
"""A hand's thickness (metres): its front and back surfaces this far apart."""
GAP_M = 0.02
"""A hand over the face lies this far (metres) in front of the face's surface under it."""
NEAR_HEAD_M = 0.05
"""A hand within this distance (metres at the person's depth, in the image) of the head's pixels is beside
the face."""
SIDE_BAND_M = 0.02
"""Width (metres at the person's depth) of the band of the head's pixels nearest to a hand beside it that
gives the hand its depth."""
FITTED_SHARE = 0.3
"""The fitted body's hand gives the hand its depth when it covers at least this share of the hand's pixels."""
OVER_HEAD_SHARE = 0.5
"""A hand with at least this share of its pixels in front of the head lies over the face (else beside it)."""
BESIDE_QUANTILE = 0.75
"""Quantile of the head's front depths next to a hand beside it (:data:`SIDE_BAND_M`) that the hand's centre
takes: towards the deeper ones, the head's outline (its side), where the hand touches the head."""

_PALM = (0, 1, 5, 9, 13, 17)  # wrist, thumb base, index / middle / ring / pinky knuckles
_BONES = (
    (0, 1), (1, 2), (2, 3), (3, 4),  # thumb
    (5, 6), (6, 7), (7, 8),  # index
    (9, 10), (10, 11), (11, 12),  # middle
    (13, 14), (14, 15), (15, 16),  # ring
    (17, 18), (18, 19), (19, 20),  # pinky
)  # fmt: skip
_MIN_PIXELS = 4


@dataclass
class HandSurfaces:
    """The hands near the head on the geometry grid.

    Attributes:
        pixels: (S, S) bool pixels of the hands.
        front: (S, S) float64 camera depth of the hands' front surface (0 off the hands).
        back: (S, S) float64 camera depth of their back surface, ``front`` + :data:`THICKNESS_M`.
    """

    pixels: np.ndarray
    front: np.ndarray
    back: np.ndarray


def _segment_distance(uv: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P,) distance of points ``uv`` (P, 2) to the segment from ``a`` to ``b`` (2,), pixels."""
    ab = b - a
    t = np.clip(((uv - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(uv - (a + t[:, None] * ab), axis=-1)


def _inside_polygon(uv: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(P,) bool: points ``uv`` (P, 2) inside the polygon ``poly`` (K, 2) (even-odd rule)."""
    inside = np.zeros(len(uv), dtype=bool)
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (a[1] > uv[:, 1]) != (b[1] > uv[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            u = a[0] + (uv[:, 1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
        inside ^= crosses & (uv[:, 0] < u)
    return inside


def landmark_hand(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(S, S) bool: the pixels of ``mask`` (S, S) that one hand covers, from its 21 MediaPipe Hands
    landmarks ``points`` (21, 2) in this grid's pixels (u, v; pixel centres at +0.5): the palm's
    polygon and the finger bones, each grown by :data:`FINGER_RADIUS` x the hand's size."""
    pts = np.asarray(points, dtype=np.float64)
    radius = max(FINGER_RADIUS * float(np.linalg.norm(pts[9] - pts[0])), 0.5)
    S = mask.shape[0]
    lo = np.clip(np.floor(pts.min(0) - radius), 0, S).astype(int)
    hi = np.clip(np.ceil(pts.max(0) + radius) + 1, 0, S).astype(int)
    out = np.zeros(mask.shape, dtype=bool)
    if (hi <= lo).any():
        return out
    vv, uu = np.mgrid[lo[1] : hi[1], lo[0] : hi[0]]
    uv = np.stack([uu.ravel(), vv.ravel()], -1) + 0.5
    palm = pts[list(_PALM)]
    near = _inside_polygon(uv, palm)
    for a, b in list(zip(palm, np.roll(palm, -1, axis=0))) + [(pts[i], pts[j]) for i, j in _BONES]:
        near |= _segment_distance(uv, a, b) <= radius
    out[lo[1] : hi[1], lo[0] : hi[0]] = near.reshape(uu.shape)
    return out & mask


def hands_near_head(
    landmarks: Landmarks,
    crop_size: int,
    mask: np.ndarray,
    fitted_hand: np.ndarray,
    head: np.ndarray,
    metres_per_px: float,
) -> list[np.ndarray]:
    """The hands within :data:`NEAR_HEAD_M` of the ``head`` (S, S) bool pixels: one (S, S) bool map
    per hand (module docstring). ``landmarks`` in crop pixels of a crop of side ``crop_size``;
    ``mask`` (S, S) the person; ``fitted_hand`` (S, S) where the fitted body's (trusted) hands show;
    ``metres_per_px`` the grid's pixel footprint at the person's depth."""
    from scipy.ndimage import distance_transform_edt, label

    S = mask.shape[0]
    hands = [
        landmark_hand(np.asarray(p) * (S / crop_size), mask)
        for p in (landmarks.left_hand, landmarks.right_hand)
        if p is not None
    ]
    found = np.any(hands, axis=0) if hands else np.zeros(mask.shape, dtype=bool)
    pieces, n = label(fitted_hand & mask, structure=np.ones((3, 3), dtype=bool))
    for k in range(1, n + 1):  # a fitted hand that Hands did not find
        piece = pieces == k
        if not (piece & found).any():
            hands.append(piece)

    def gap_m(hand: np.ndarray) -> float:  # to the head's pixels beside the hand, not the hand's own
        others = head & ~hand
        return float(distance_transform_edt(~others)[hand].min()) * metres_per_px if others.any() else np.inf

    return [h for h in hands if h.sum() >= _MIN_PIXELS and gap_m(h) <= NEAR_HEAD_M]


def hand_surfaces(
    hands: list[np.ndarray],
    head: np.ndarray,
    front: np.ndarray,
    body_front: np.ndarray,
    fitted_hand: np.ndarray,
    face_front: np.ndarray,
    metres_per_px: float,
) -> HandSurfaces:
    """Front and back surfaces of ``hands`` (from :func:`hands_near_head`; module docstring).

    Args:
        hands: (S, S) bool map per hand.
        head: (S, S) bool the head's pixels beside the hands (not on them).
        front: (S, S) camera depth of the person's front surface (the head's beside the hands).
        body_front: (S, S) camera depth where the fitted body's front is (any value elsewhere).
        fitted_hand: (S, S) bool where the fitted body's (trusted) hands show.
        face_front: (S, S) camera depth of the head's front surface behind each pixel (the fitted
            face, or the head's shell), NaN where the head is not behind it.
        metres_per_px: the grid's pixel footprint at the person's depth.
    """
    from scipy.ndimage import distance_transform_edt

    shape = head.shape
    out = HandSurfaces(np.zeros(shape, dtype=bool), np.zeros(shape), np.zeros(shape))
    for hand in hands:
        over = hand & np.isfinite(face_front)
        fitted = hand & fitted_hand
        if fitted.sum() >= max(FITTED_SHARE * hand.sum(), 1):
            hand_front = np.where(fitted, body_front, float(np.median(body_front[fitted])))
        elif over.sum() >= OVER_HEAD_SHARE * hand.sum():
            hand_front = np.full(shape, float(np.median(face_front[over])) - GAP_M - THICKNESS_M)
        else:
            to_hand = distance_transform_edt(~hand)
            reach = float(to_hand[head].min()) + max(SIDE_BAND_M / metres_per_px, 1.0) if head.any() else 0.0
            ring = head & (to_hand <= reach) if head.any() else hand  # no head: the hand's own depth
            side = float(np.quantile(front[ring], BESIDE_QUANTILE))
            hand_front = np.full(shape, side - 0.5 * THICKNESS_M)
        out.pixels |= hand
        out.front = np.where(hand, hand_front, out.front)
    out.back = np.where(out.pixels, out.front + THICKNESS_M, 0.0)
    return out
