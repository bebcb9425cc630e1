"""Colours of the unseen side: garments, not parts (the back and far layers of :mod:`.build`).

Per body part and image row band, the colours on the part's sides are its outermost garment
(:func:`_garment_match`): front pixels of that garment continue round the back (the photo blurred, so a
pattern continues), pixels that are not (a shirt in a jacket's opening, a print on the front only) get
the garment's colour; the back of the head gets the visible hair's colour (never the face's skin), and
long hair falls down the back as far as it shows below the chin.

Shapes: S back-grid side (pixels); maps are (S, S); colours RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..imaging import blur_masked
from ..parts import PART_NAMES
from .skin import SKIN_DISTANCE, skin_colour

__all__ = [
    "BACK_BLUR_PX",
    "BACK_PART_MIX",
    "DEFAULT_HAIR",
    "GARMENT_MATCH",
    "GARMENT_SIDE_FRACTION",
    "GARMENT_SUPPORT",
    "HAIR_MATCH",
    "PART_ROW_BAND",
    "SHOULDER_ROWS",
    "SHOULDER_WIDTH_FRACTION",
    "back_colours",
    "hair_colour",
    "long_hair",
]

BACK_BLUR_PX = 2.0
"""Blur (back-grid pixels) of the photo's colours before they continue round the back: a pattern
continues, its front-only detail does not."""
BACK_PART_MIX = 0.6
"""Weight of the garment's colour against the blurred photo on the back (the back is not the front's mirror)."""
GARMENT_MATCH = 0.12
"""RGB distance (0-1 scale) within which a pixel's colour belongs to the outer garment of its part."""
GARMENT_SIDE_FRACTION = 0.2
"""A part's sides, where its outer garment shows, are this fraction of its width in each row from either edge."""
GARMENT_SUPPORT = 0.15
"""A colour belongs to the outer garment when at least this share of each side's pixels is within
:data:`GARMENT_MATCH` of it (a few stray pixels on the sides are not a garment)."""
PART_ROW_BAND = 0.04
"""Part colours for the back are medians over rows within this fraction of the grid side (garments change
down the body), falling back to the whole part."""
HAIR_MATCH = 0.12
"""RGB distance (0-1 scale) within which a pixel below the head has the hair's colour (long hair)."""
DEFAULT_HAIR = np.array([0.22, 0.16, 0.12])
"""Hair colour (RGB, 0-1) for the back of a head when the photo shows (almost) none: a dark brown."""

_HEAD, _FACE, _TORSO = PART_NAMES.index("head"), PART_NAMES.index("face"), PART_NAMES.index("torso")
SHOULDER_WIDTH_FRACTION = 0.8
"""The torso's rows at least this fraction of its widest row are below the neck (:func:`_neck_rows`)."""
SHOULDER_ROWS = 8
"""The first this many of those rows are the shoulders, whose garment covers the back of the neck."""


def _neck_rows(torso: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(neck, shoulders): (S,) bool rows of the torso's pixels ``torso`` (S, S). The neck: its rows above
    the first one at least :data:`SHOULDER_WIDTH_FRACTION` as wide as its widest, whose front shows what
    is worn there (a collar, a tie's knot, the shirt inside a jacket's collar); the shoulders: the first
    :data:`SHOULDER_ROWS` rows that wide, whose garment is what covers the back of the neck."""
    width = torso.sum(axis=1)
    neck, shoulders = np.zeros(len(width), dtype=bool), np.zeros(len(width), dtype=bool)
    if width.max() == 0:
        return neck, shoulders
    wide = np.nonzero(width >= SHOULDER_WIDTH_FRACTION * width.max())[0]
    neck[: wide[0]] = width[: wide[0]] > 0
    shoulders[wide[:SHOULDER_ROWS]] = True
    return neck, shoulders


def _lateral_bands(part: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(left, right): (S, S) bool each: in each row, the pixels of ``part`` within ``fraction`` of that
    row's span of the part from its leftmost (rightmost) pixel, at least one pixel: the part's two
    sides, where the outermost garment shows (an open jacket's sides, not the shirt between them)."""
    cols = np.arange(part.shape[1])[None, :]
    has = part.any(axis=1)
    left = np.where(has, np.argmax(part, axis=1), 0)[:, None]
    right = np.where(has, part.shape[1] - 1 - np.argmax(part[:, ::-1], axis=1), 0)[:, None]
    width = np.maximum(1.0, fraction * (right - left + 1))
    return part & (cols - left < width), part & (right - cols < width)


def _lateral_band(part: np.ndarray, fraction: float) -> np.ndarray:
    """(S, S) bool: both of :func:`_lateral_bands`."""
    left, right = _lateral_bands(part, fraction)
    return left | right


def _garment_match(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray) -> np.ndarray:
    """(S, S) weight in [0, 1]: how well each pixel's colour matches the *outermost garment* of its part.

    For each part and block of rows, the colours seen on the part's sides (:func:`_lateral_band`)
    are the outer garment's palette (every colour of a checked dress shows at its sides; an open
    jacket shows only the jacket there). A pixel whose colour is within :data:`GARMENT_MATCH` (RGB
    distance) of at least :data:`GARMENT_SUPPORT` of the colours on *each* side is that garment
    (weight 1, falling to 0 at twice the distance): its colour may continue round the back. A shirt
    in a jacket's opening, a print on the front only, or a hand in front of a coat does not match and
    gets the garment's colour on the back instead.
    """
    size = mask.shape[0]
    block = max(4, size // 32)
    weight = np.ones(mask.shape)
    rng = np.random.default_rng(0)
    for k in range(len(PART_NAMES)):
        part = mask & (front_part == k)
        bands = _lateral_bands(part, GARMENT_SIDE_FRACTION)
        if min(int(b.sum()) for b in bands) < 4:
            continue
        for y0 in range(0, size, block):
            here = part[y0 : y0 + block]
            if not here.any():
                continue
            lo, hi = max(0, y0 - block // 2), min(size, y0 + block + block // 2)
            px = rgb[y0 : y0 + block][here]  # (P, 3)
            d = np.zeros(len(px))
            for band in bands:  # the garment shows on both sides: a colour seen on one only (the
                # shirt next to one edge of a turned person's jacket) is not the outer layer
                ref = rgb[lo:hi][band[lo:hi]]
                if len(ref) < 4:
                    ref = rgb[band]
                if len(ref) > 64:
                    ref = ref[rng.choice(len(ref), 64, replace=False)]
                # distance to the colour's GARMENT_SUPPORT nearest share of the palette: a few
                # stray pixels on the sides (a shirt's edge, anti-aliasing) are not a garment
                dist = np.sqrt(((px[:, None, :] - ref[None]) ** 2).sum(-1))
                q = max(1, int(GARMENT_SUPPORT * len(ref)))
                d = np.maximum(d, np.partition(dist, q - 1, axis=1)[:, q - 1])
            sub = weight[y0 : y0 + block]
            sub[here] = np.clip(2.0 - d / GARMENT_MATCH, 0.0, 1.0)
    return weight


def _side_colours(
    rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, garment: np.ndarray
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per part label k with at least 8 pixels: (its outer garment's median colour (3,), the (S, S) bool
    pixels it was taken from). A part's colour comes from its sides: the outermost garment (an open
    coat over a shirt) shows there, and it is what covers the back; of those, the colours both sides
    show (``garment`` >= 0.5)."""
    medians, sels = {}, {}
    for k in range(len(PART_NAMES)):
        sel = mask & (front_part == k)
        side = _lateral_band(sel, GARMENT_SIDE_FRACTION)
        if side.sum() >= 8:
            sel = side
            if (side & (garment >= 0.5)).sum() >= 8:
                sel = side & (garment >= 0.5)
        if sel.sum() >= 8:
            medians[k] = np.median(rgb[sel], axis=0)
            sels[k] = sel
    return medians, sels


def _row_band_colours(
    rgb: np.ndarray,
    medians: dict[int, np.ndarray],
    sels: dict[int, np.ndarray],
    back_parts: Sequence[np.ndarray],
    fallback: np.ndarray,
) -> np.ndarray:
    """(P, S, 3) each part's garment colour per image row (P part labels): the median of its side pixels
    ``sels`` within :data:`PART_ROW_BAND` of the row, else its whole-part median ``medians``, else
    ``fallback`` (3,). Garments change down the body (a dress over the legs, shoes below trousers), so
    the legs' back at dress height takes the dress's colour."""
    size = rgb.shape[0]
    band = max(1, round(PART_ROW_BAND * size))
    med = np.empty((len(PART_NAMES), size, 3))
    for k in range(len(PART_NAMES)):
        med[k] = medians.get(k, fallback)
        if k not in sels:
            continue
        rows_with = np.nonzero(sels[k].any(axis=1) | np.any([(bp == k).any(axis=1) for bp in back_parts], axis=0))[0]
        for y in rows_with:
            y0, y1 = max(0, y - band), min(size, y + band + 1)
            vals = rgb[y0:y1][sels[k][y0:y1]]
            if len(vals) >= 8:
                med[k, y] = np.median(vals, axis=0)
    return med


def hair_colour(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, skin: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
    """(3,) colour for the back of the head: the median of the visible head pixels in the upper half
    of the head that are not skin-coloured (hair, a hat); :data:`DEFAULT_HAIR` when fewer than 8 show
    (a bald or short-haired head seen from the front shows little hair, and a skin-toned back of the
    head looks wrong), or 0.6 x ``fallback`` (3,) when no ``skin`` colour is known either."""
    head = mask & np.isin(front_part, [_HEAD, _FACE])
    rows = np.nonzero(head.any(axis=1))[0]
    if len(rows):  # the upper half: hair is on top (a beard or a scarf below is not)
        head[(rows[0] + rows[-1]) // 2 + 1 :] = False
    if skin is not None:
        head &= np.linalg.norm(rgb - skin, axis=-1) > SKIN_DISTANCE
    if head.sum() >= 8:
        return np.median(rgb[head], axis=0)
    return DEFAULT_HAIR if skin is not None else 0.6 * fallback


def long_hair(
    rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, hair: np.ndarray, clothes: np.ndarray | None = None
) -> np.ndarray:
    """(S, S) bool: where long hair covers the back below the head. Hair that falls past the chin shows
    in the photo as hair-coloured pixels (within :data:`HAIR_MATCH` of ``hair`` (3,)) connected to the
    head below it, beside the neck and over the shoulders; behind, it hangs down the back as far: in
    every row from the head down to the lowest such pixel, across the columns the hair spans in the
    photo (at least the head's width). Nothing when no hair falls below the head (short hair, a bald
    head), or when the ``clothes`` below it (3,) have the hair's colour (a dark puffer under black
    hair: the photo cannot tell the one from the other, and the creases of the coat would pass for
    strands)."""
    from scipy.ndimage import label

    if clothes is not None and np.linalg.norm(clothes - hair) < HAIR_MATCH:
        return np.zeros(mask.shape, dtype=bool)
    on_head = mask & np.isin(front_part, [_HEAD, _FACE])
    head_rows = np.nonzero(on_head.any(axis=1))[0]
    if len(head_rows) < 4:
        return np.zeros(mask.shape, dtype=bool)
    like = mask & (np.linalg.norm(rgb - hair, axis=-1) < HAIR_MATCH)
    labels, _ = label(like | on_head)
    ids = np.unique(labels[on_head])
    hairy = np.isin(labels, ids[ids > 0]) & like
    bottom = head_rows[-1]
    below = np.nonzero(hairy[bottom + 1 :].any(axis=1))[0]
    if len(below) == 0:
        return np.zeros(mask.shape, dtype=bool)
    lowest = bottom + 1 + int(below.max())
    head_cols = np.nonzero(on_head.any(axis=0))[0]
    cols = np.nonzero(hairy[head_rows[0] : lowest + 1].any(axis=0))[0]
    c0, c1 = min(cols.min(), head_cols.min()), max(cols.max(), head_cols.max())
    out = np.zeros(mask.shape, dtype=bool)
    out[head_rows[0] : lowest + 1, c0 : c1 + 1] = True
    return out & mask


def back_colours(rgb: np.ndarray, mask: np.ndarray, front_part: np.ndarray, back_parts: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Colours for the unseen side on a grid, one (S, S, 3) map per part map of ``back_parts`` (the back
    layer, the far layer): garments, not parts. What depends on the photo alone is computed once.

    Per part and image row band, the *outer garment colour* is the median over the part's sides
    (:func:`_side_colours`, :func:`_row_band_colours`). Pixels whose colour belongs to that garment
    (:func:`_garment_match`) continue round the back as the photo blurred (a pattern continues), mixed
    with the garment colour by :data:`BACK_PART_MIX`; pixels that do not (a shirt in a jacket's
    opening, a print on the front only) get the garment colour. Where the front and back part labels
    differ (an arm in front of the torso) the back part's garment colour is used alone. The back of the
    head, and the back below it that long hair covers (:func:`long_hair`), take the hair colour
    (:func:`hair_colour`), never the face's skin.
    """
    blurred = blur_masked(rgb.astype(np.float64), mask, BACK_BLUR_PX)
    garment = _garment_match(rgb, mask, front_part)
    medians, sels = _side_colours(rgb, mask, front_part, garment)
    fallback = np.median(rgb[mask], axis=0) if mask.any() else np.full(3, 0.5)
    hair = hair_colour(rgb, mask, front_part, skin_colour(rgb, mask, front_part), fallback)
    med = _row_band_colours(rgb, medians, sels, back_parts, fallback)
    neck, shoulders = _neck_rows(mask & (front_part == _TORSO))
    if neck.any():  # the back of the neck: the shoulders' garment, not the collar or tie seen in front
        med[_TORSO, neck] = np.median(med[_TORSO, shoulders], axis=0)
    rows = np.broadcast_to(np.arange(mask.shape[0])[:, None], mask.shape)
    blurred_w = blur_masked(garment, mask, BACK_BLUR_PX)  # soft transitions between garments
    hair_behind = long_hair(rgb, mask, front_part, hair, medians.get(_TORSO))
    outs = []
    for back_part in back_parts:
        # where something else is in front (an arm over the torso), the photo says nothing about the back
        front_only = (front_part != back_part) | (neck[:, None] & (back_part == _TORSO))
        keep = np.where(front_only, 0.0, (1.0 - BACK_PART_MIX) * blurred_w)[..., None]
        out = keep * blurred + (1 - keep) * med[back_part, rows]
        is_head = (front_part == _HEAD) | (front_part == _FACE) | (back_part == _HEAD) | (back_part == _FACE)
        out[is_head | hair_behind] = hair
        outs.append(np.clip(out, 0.0, 1.0))
    return outs
