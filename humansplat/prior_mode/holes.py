"""Mask pixels that show the background through the person (a gap between an arm and the body)."""

from __future__ import annotations

import numpy as np

from .grids import resize_image

__all__ = ["HOLE_BODY_INSET_PX", "HOLE_COLOUR_DISTANCE", "HOLE_MAX_SHARE", "HOLE_RING_PX", "background_holes"]

HOLE_COLOUR_DISTANCE = 0.06
"""RGB distance (0-1 scale) from white or from the estimated background within which a mask pixel may be
background: anti-aliased person pixels next to white are farther."""
HOLE_BODY_INSET_PX = 3.0
"""Pixels deeper than this (grid pixels) inside the fitted body are never holes: a white shirt there."""
HOLE_RING_PX = 3
"""Width (grid pixels) of the ring of person pixels around a hole whose colour it must differ from."""
HOLE_MAX_SHARE = 0.05
"""A connected background-coloured region larger than this share of the mask is a white garment (a dress
beyond the legs), not a hole."""


def background_holes(rgb: np.ndarray, mask: np.ndarray, body: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """(S, S) bool: pixels of ``mask`` that show the background (a hole between an arm and the body,
    sky between hair wisps) and must not become part of the person. ``rgb`` (S, S, 3): the photo's
    colours in [0, 1] on the grid of ``mask``; ``body`` (S, S) bool: where the fitted body shows.

    A hole is background-coloured (within :data:`HOLE_COLOUR_DISTANCE` of the crop's white, or of the
    photo's own ``background`` (S0, S0, 3) estimated behind the person (``PersonCrop.background``;
    NaN where unknown): the wall seen between an arm and the body), not deep inside the fitted body
    (a white shirt is; :data:`HOLE_BODY_INSET_PX`), and at least 3 x 3 pixels (an opening removes
    the one-pixel rim of anti-aliased silhouette pixels), each connected hole covers at most
    :data:`HOLE_MAX_SHARE` of the mask, and differs in colour from the person around it.
    """
    from scipy.ndimage import binary_opening, distance_transform_edt, label

    light = np.linalg.norm(1.0 - rgb, axis=-1) < HOLE_COLOUR_DISTANCE
    if background is not None:
        behind = resize_image(np.asarray(background, dtype=np.float32), mask.shape[0])
        with np.errstate(invalid="ignore"):
            light |= np.linalg.norm(behind - rgb, axis=-1) < HOLE_COLOUR_DISTANCE
    deep = distance_transform_edt(body) > HOLE_BODY_INSET_PX
    holes = binary_opening(mask & light & ~deep, structure=np.ones((3, 3), dtype=bool))
    # a large white region is a garment (a white dress beyond the legs), not a gap: keep it
    labels, n = label(holes)
    if n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        holes &= sizes[labels] <= HOLE_MAX_SHARE * mask.sum()
        holes &= ~_like_the_person_around(rgb, mask, labels, n)[labels]
    return holes


def _like_the_person_around(rgb: np.ndarray, mask: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """(n + 1,) bool per hole label: the hole's median colour is within :data:`HOLE_COLOUR_DISTANCE` of the
    median colour of the person's pixels in a ring :data:`HOLE_RING_PX` wide around it: the photo cannot
    tell the two apart there (a dark coat beside a dark background), so it is the person, not a gap."""
    from scipy.ndimage import binary_dilation, find_objects

    out = np.zeros(n + 1, dtype=bool)
    for k, box in enumerate(find_objects(labels, max_label=n), start=1):
        if box is None:
            continue
        # the hole's bounding box grown by the ring's width holds the whole ring
        near = tuple(slice(max(0, b.start - HOLE_RING_PX), b.stop + HOLE_RING_PX) for b in box)
        lab = labels[near]
        hole = lab == k
        ring = binary_dilation(hole, iterations=HOLE_RING_PX) & mask[near] & (lab == 0)
        if ring.sum() >= 4:
            colours = rgb[near]
            out[k] = np.linalg.norm(np.median(colours[hole], axis=0) - np.median(colours[ring], axis=0)) < HOLE_COLOUR_DISTANCE
    return out
