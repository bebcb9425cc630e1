"""The person mask corrected against a plain backdrop (humansplat.prior.matting.refine_mask)."""

from __future__ import annotations

import numpy as np

from humansplat.prior.matting import refine_mask

S = 256


def _scene(background=(0.92, 0.92, 0.9)):
    """A dark 'person' (a column with dark 'shoes' below it) before a plain backdrop, and the
    segmentation's mask that missed the shoes (the bottom 8 rows)."""
    rgb = np.empty((S, S, 3))
    rgb[:] = background
    person = np.zeros((S, S), bool)
    person[20:100, 50:78] = True
    rgb[person] = (0.3, 0.35, 0.5)
    rgb[100:108, 48:80] = (0.05, 0.05, 0.05)  # shoes
    person[100:108, 48:80] = True
    mask = np.zeros((S, S), np.float32)
    mask[20:100, 50:78] = 1.0
    return rgb, mask, person


def test_missed_shoes_before_a_plain_backdrop_join_the_mask():
    rgb, mask, person = _scene()
    out = refine_mask((rgb * 255).astype(np.uint8), mask)
    assert out.dtype == np.float32 and out.shape == mask.shape
    assert (out[100:108, 48:80] > 0.5).mean() > 0.95  # the shoes
    assert np.all(out >= mask - 1e-6)  # it only grows
    assert ((out > 0.5) & ~person).sum() == 0  # and not into the backdrop


def test_shadows_far_objects_and_busy_backgrounds_stay_out():
    rgb, mask, person = _scene()
    rgb[108:114, 40:90] = 0.6 * rgb[108:114, 40:90]  # a shadow on the floor under the shoes
    rgb[60:70, 100:110] = (0.1, 0.1, 0.1)  # an object on the floor apart from the person
    out = refine_mask(rgb, mask)
    assert (out[100:108, 48:80] > 0.5).mean() > 0.95
    assert (out[108:114, 40:90] > 0.5).sum() == 0
    assert (out[60:70, 100:110] > 0.5).sum() == 0
    busy = np.random.default_rng(0).uniform(0.0, 1.0, (S, S, 3))
    busy[person] = rgb[person]
    np.testing.assert_array_equal(refine_mask(busy, mask), mask)  # no plain backdrop: unchanged


def test_a_rim_pixel_gets_its_share_of_the_person():
    """A pixel half covered by the person (half the wall's colour, half the person's) just outside
    the segmentation's mask gets about half opacity, not full: small photos' rims stay thin."""
    rgb, mask, _ = _scene()
    person = np.array([0.8, 0.1, 0.1])  # a red sleeve (a grey one's blend with the wall reads as a shadow: kept out)
    rgb[20:100, 50:78] = person
    rgb[60, 78] = 0.5 * person + 0.5 * rgb[60, 90]  # the column right of the person's edge
    rgb[60, 79] = 0.15 * person + 0.85 * rgb[60, 90]
    out = refine_mask(rgb, mask)
    assert abs(out[60, 78] - 0.5) < 0.1  # half covered: half opacity (not 1, as a plain colour test gives)
    assert out[60, 79] <= 0.25  # faintly covered: faint (here read as a shadow of the wall: 0)
    assert out[60, 80] == 0.0  # the wall itself
