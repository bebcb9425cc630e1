"""The person mask against the photo's own background: what the segmentation missed near its edge.

MediaPipe's selfie segmentation runs at 256 x 256 on the whole photo, so its mask is soft and loses
thin or dark extremities (shoes on a light floor, hair wisps, fingers). Where the person stands
before a plain backdrop (a wall, a studio backdrop, a render on white), the photo itself says which
pixels near the mask's edge are the person: :func:`refine_mask` takes the backdrop's colour (the
median of a ring of background pixels around the person) and, in a band around the mask's edge,
raises the mask where a pixel's colour differs from it. The mask only grows, and only by pixels
connected to the person (a white shirt on a white wall keeps the segmentation's mask; an object on
the floor apart from the person stays out). Before a busy background (the ring's colours spread
more than ``max_background_spread``) the segmentation's mask is kept as it is.

:func:`local_background` estimates the photo's background behind the person from around them, so
that later stages (prior mode's holes) can tell a gap between an arm and the body from the person.

Images: (S, S, 3) float in [0, 1] or uint8; masks (S, S) float in [0, 1].
"""

from __future__ import annotations

import numpy as np

from ..imaging import blur_masked, nearest_fill

__all__ = ["local_background", "refine_mask"]


def _float_image(rgb: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 (0-255) or float (0-1) -> float64 in [0, 1]."""
    img = np.asarray(rgb)
    return img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)


def refine_mask(
    rgb: np.ndarray,
    mask: np.ndarray,
    band: float = 0.03,
    colour_lo: float = 0.08,
    colour_hi: float = 0.2,
    max_background_spread: float = 0.12,
    shadow_min: float = 0.35,
    passes: int = 2,
) -> np.ndarray:
    """``mask`` corrected by the colours of the photo ``rgb`` near its edge (module docstring).

    Args:
        rgb: (S, S, 3) the photo's pixels (not composited).
        mask: (S, S) the segmentation's soft mask.
        band: half-width of the band around the mask's edge that may change, as a share of S.
        colour_lo: RGB distance (0-1 scale) to the backdrop's colour below which a pixel is backdrop;
            above it, the pixel's share of the person is that distance over the distance between
            the backdrop and the nearest surely-person pixel's colour (at least ``colour_hi``).
        colour_hi: the least contrast assumed between person and backdrop.
        max_background_spread: the backdrop is plain when, in the ring of background pixels around
            the person (``band`` to 4 ``band`` from the mask), the 10-90 % percentile range of every
            colour channel is within this; otherwise the segmentation is kept as it is.
        shadow_min: a pixel whose colour is the backdrop's scaled by a factor in (``shadow_min``, 1)
            (within 0.75 ``colour_hi``) is a shadow on the backdrop, not the person.
        passes: the band moves with the grown mask this many times (each pass reaches ``band`` further).

    Returns:
        (S, S) float32 mask in [0, 1], >= ``mask``; only pixels connected to the person are raised.
    """
    img = _float_image(rgb)
    m = np.clip(np.asarray(mask, dtype=np.float64), 0.0, 1.0)
    for _ in range(max(1, int(passes))):
        m = _grow_once(img, m, band, colour_lo, colour_hi, max_background_spread, shadow_min)
    return m.astype(np.float32)


def _grow_once(
    img: np.ndarray, m: np.ndarray, band: float, colour_lo: float, colour_hi: float,
    max_background_spread: float, shadow_min: float,
) -> np.ndarray:
    """One pass of :func:`refine_mask` on float64 ``img`` (S, S, 3) and ``m`` (S, S)."""
    from scipy import ndimage

    S = m.shape[0]
    person = m > 0.5
    if not person.any() or person.all():
        return m
    reach = max(1.0, band * S)
    outside = ndimage.distance_transform_edt(~person)
    inside = ndimage.distance_transform_edt(person)
    in_band = (outside <= reach) & (inside <= reach)
    ring = (m < 0.05) & (outside > reach) & (outside <= 4 * reach)  # the backdrop around the person
    if ring.sum() < 0.01 * S * S:
        return m
    colours = img[ring]
    lo, hi = np.percentile(colours, [10, 90], axis=0)
    if float((hi - lo).max()) > max_background_spread:  # a busy background: keep the segmentation
        return m
    bg = np.median(colours, axis=0)
    distance = np.sqrt(((img - bg) ** 2).sum(-1))
    # a shadow on the backdrop is the backdrop's colour, darker: not the person (black shoes on white,
    # darker than any shadow, are)
    k = (img @ bg) / max(float(bg @ bg), 1e-6)
    residual = np.sqrt(((img - k[..., None] * bg) ** 2).sum(-1))
    shadow = (residual < 0.75 * colour_hi) & (k > shadow_min) & (k < 1.0)
    # a pixel's share of the person: its distance from the backdrop over that of the nearest surely
    # person pixel's colour (a rim pixel half covered by a dark sleeve is half as far from the wall)
    inner = nearest_fill(img, m > 0.9) if (m > 0.9).any() else img
    contrast = np.maximum(np.sqrt(((inner - bg) ** 2).sum(-1)), colour_hi)
    colour = np.where(shadow | (distance < colour_lo), 0.0, np.clip(distance / contrast, 0.0, 1.0))
    out = np.where(in_band, np.maximum(m, colour), m)  # it only grows: a white shirt on a white wall stays
    # only what touches the person: a shadow or an object on the floor apart from them stays out
    labels, _ = ndimage.label(out > 0.5, structure=np.ones((3, 3), bool))
    main = np.unique(labels[person & (out > 0.5)])
    main = main[main > 0]
    keep = ndimage.binary_dilation(np.isin(labels, main), iterations=2)  # with its soft rim
    return np.where(keep, out, m)


def local_background(rgb: np.ndarray, mask: np.ndarray, sigma: float = 0.04, max_std: float = 0.06) -> np.ndarray:
    """(S, S, 3) float32 in [0, 1]: the photo's background behind and around the person, from the
    pixels ``mask`` (S, S) calls background (< 0.05), spread by a normalised convolution of Gaussian
    ``sigma`` x S: the wall or the stairs continue behind the person. NaN where no background pixel
    lies within reach (deep inside a large person) and where the background there is not smooth (its
    local colour standard deviation above ``max_std``: a busy scene, or part of the person the
    segmentation missed, whose colour must not pass for the background's). Lets later stages tell a
    gap between an arm and the body (the background's colour) from the person."""
    from scipy.ndimage import gaussian_filter

    img = _float_image(rgb)
    m = np.asarray(mask, dtype=np.float64)
    S = m.shape[0]
    f = max(1, S // 256)  # a smooth estimate: 256 px are enough
    f = f if S % f == 0 else 1
    if f > 1:  # box-average f x f blocks
        img = img.reshape(S // f, f, S // f, f, 3).mean((1, 3))
        m = m.reshape(S // f, f, S // f, f).max((1, 3))
    bg = m < 0.05
    s = sigma * bg.shape[0]
    out = blur_masked(img, bg, s)
    std = np.sqrt(np.clip(blur_masked(img**2, bg, s) - out**2, 0.0, None).mean(-1))
    known = (gaussian_filter(bg.astype(np.float64), s) > 0.02) & (std <= max_std)
    out = np.where(known[..., None], out, np.nan).astype(np.float32)
    return np.repeat(np.repeat(out, f, axis=0), f, axis=1) if f > 1 else out

