"""The person's skin colour, and the fitted hands that the photo does not show as skin."""

from __future__ import annotations

import numpy as np

from ..parts import PART_NAMES

__all__ = ["HAND_SKIN_DISTANCE", "SKIN_BRIGHTNESS", "SKIN_DISTANCE", "misplaced_hands", "skin_colour"]

HAND_SKIN_DISTANCE = 0.08
"""Chromaticity distance (rgb / (r + g + b)) from the person's skin beyond which a fitted-hand pixel is not
the hand: skin in other light keeps its hue."""
SKIN_BRIGHTNESS = (0.35, 3.0)
"""Range of brightness (sum of RGB) relative to the face's skin within which a hand pixel may be skin."""
SKIN_DISTANCE = 0.15
"""RGB distance (0-1 scale) within which a colour counts as the face's skin colour."""


def skin_colour(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray) -> np.ndarray | None:
    """(3,) the person's skin colour: the median of the visible face, or (when the fit labels no
    face) of the lower half of the visible head, or of the hands; None when none shows (8 pixels)."""
    face = mask & (front_part == PART_NAMES.index("face"))
    if face.sum() < 8:
        face = mask & (front_part == PART_NAMES.index("head"))
        rows = np.nonzero(face.any(axis=1))[0]
        if len(rows):
            face[: (rows[0] + rows[-1]) // 2 + 1] = False  # the lower half: the face, not the hair
    if face.sum() < 8:
        face = mask & (front_part == PART_NAMES.index("hands"))
    return np.median(rgb[face], axis=0) if face.sum() >= 8 else None


def misplaced_hands(rgb: np.ndarray, mask: np.ndarray, body: np.ndarray, front_part: np.ndarray) -> np.ndarray:
    """(S, S) bool: pixels where the fitted body shows its hands but the photo does not: chromaticities
    farther than :data:`HAND_SKIN_DISTANCE` from the person's skin (:func:`skin_colour`), or brightness
    outside :data:`SKIN_BRIGHTNESS` x the skin's, in connected pieces that hold a 3 x 3 block.

    The fit's hands often miss the photo's by a hand's width (a hand on the belly fitted hanging
    beside the thigh); their depth would push a hand-shaped piece of the trousers out of the body.
    Those pixels take the depth of their surroundings instead. Gloves count as misplaced too (they
    then lie on their surroundings). None when no face or head shows skin to compare with.
    ``rgb`` (S, S, 3) in [0, 1]; ``mask``, ``body`` (S, S) bool; ``front_part`` (S, S) part labels.
    """
    hands = body & (front_part == PART_NAMES.index("hands"))
    if not hands.any():
        return np.zeros(mask.shape, dtype=bool)
    skin = skin_colour(rgb, mask & ~hands, front_part)  # from the face or head, never the hands themselves
    if skin is None:
        return np.zeros(mask.shape, dtype=bool)
    from scipy.ndimage import binary_erosion, label

    # skin under other light (a sunlit hand, a face in the shade of a cap) keeps its hue: compare
    # chromaticities, and brightness only within a wide range (black cloth is not skin)
    total = rgb.sum(-1)
    bright = total / max(float(skin.sum()), 1e-6)
    chroma = rgb / np.maximum(total, 1e-6)[..., None]
    far = np.linalg.norm(chroma - skin / max(float(skin.sum()), 1e-6), axis=-1) > HAND_SKIN_DISTANCE
    other = hands & (far | (bright < SKIN_BRIGHTNESS[0]) | (bright > SKIN_BRIGHTNESS[1]))
    # a miss is a connected piece with some 3 x 3 block of other colours (a palm; its fingers come
    # with it); thin chains along a real hand's rim (blended with the background, shaded) are not
    labels, _ = label(other, structure=np.ones((3, 3), dtype=bool))
    solid = np.unique(labels[binary_erosion(other, structure=np.ones((3, 3), dtype=bool))])
    return np.isin(labels, solid[solid > 0])
