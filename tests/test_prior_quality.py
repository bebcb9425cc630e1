"""Prior mode from every side (issue 12): novel-view quality on the built-in textured people.

Photos of the evaluation set (:mod:`humansplat.eval`: a dark jacket open over a light shirt, a
checked dress, long hair, hands at the thighs) go through the whole prior-mode pipeline (person
detection, body fit, :func:`~humansplat.prior_mode.build.gaussians_from_prior`) at 128 px
and are scored against the truth from 8 orbit views. The baseline numbers are what the code before
issue 12 measured with exactly this configuration (commit b015571, same machine, same subjects,
``_evaluate`` below); the new code must beat them by the stated margins and keep the input view.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humansplat.eval import builtin_subjects, evaluate
from humansplat.prior_mode.build import gaussians_from_prior

SIZE = 128
SUBJECTS = ("jacket", "dress", "long_hair", "arms_touching")
JACKET = np.array([0.13, 0.14, 0.18])  # the jacket's albedo (humansplat.eval.subjects._jacket)

# Measured with the code before issue 12 (commit b015571, with the evaluation harness's height
# alignment and rendering of this commit: 0.1/99.9 % quantiles, (2k)^2 truth samples) by ``_evaluate()`` / ``_jacket_back_error`` /
# ``_white_pixels`` below (raw scores, mean over the subjects above, one photo each at azimuth 0,
# 128 px; 2-core CPU). The code of issue 12 measured: side 20.45 dB, back 21.43 dB, side IoU 0.762,
# input 31.93 dB / IoU 0.944, jacket back error 0.166, 1 white pixel (session 2); with the left/right
# labels, the grown mask, both-sides garments and round skirts (session 3): side 20.12 dB, back 21.23 dB,
# side IoU 0.767, input 31.93 dB / IoU 0.946, jacket back error 0.115 (at 128 px the grown mask costs the sides
# 0.4 dB; at 256 px over 3 input azimuths the sides gain, see docs/benchmarks.md); with the upright and
# arms-in-the-frontal-plane priors of the body fit (session 4): side 20.31 dB, back 21.59 dB, side IoU 0.785,
# input 31.91 dB / IoU 0.946, jacket back error 0.103. The margins below are about half of those gains, so that small numeric differences between machines do not fail the test.
BASELINE = {
    "side_psnr": 18.74,
    "back_psnr": 19.92,
    "side_iou": 0.691,
    "input_psnr": 31.33,
    "input_iou": 0.908,
    "jacket_back_error": 0.399,
    "white_pixels": 179,  # of 371 background pixels inside the mask
}
MARGIN = {"side_psnr": 0.8, "back_psnr": 0.8, "side_iou": 0.05}


def _evaluate():
    # the subjects as they were when the baseline was measured: their faces blank skin
    return evaluate(builtin_subjects(SUBJECTS, painted_faces=False), mode="prior", input_azimuths=(0.0,), size=SIZE,
                    use_lpips=False, keep_images=True)


def _group(report, name: str, key: str) -> float:
    row = next(r for r in report.table() if r.group == name)
    return row.raw[key]


def _jacket_back_error(report) -> float:
    """Distance (RGB, 0-1) between the jacket's colour and the predicted back view's mean colour
    over the pixels where the truth's back view shows the jacket."""
    run = next(r for r in report.runs if r.subject == "jacket")
    k = run.images.index("180")
    truth, pred = run.images.truth_rgb[k], run.images.pred_rgb[k]
    jacket = (np.linalg.norm(truth - JACKET, axis=-1) < 0.08) & (run.images.truth_alpha[k] > 0.99)
    assert jacket.sum() > 200, "the jacket should fill much of the back view"
    return float(np.linalg.norm(pred[jacket].mean(0) - JACKET))


@pytest.fixture(scope="module")
def report():
    rep = _evaluate()
    assert not rep.failures, [r.error for r in rep.failures]
    return rep


def test_side_and_back_beat_the_starting_point(report):
    side, back = _group(report, "side", "psnr"), _group(report, "back", "psnr")
    side_iou = _group(report, "side", "iou")
    assert side >= BASELINE["side_psnr"] + MARGIN["side_psnr"], side
    assert back >= BASELINE["back_psnr"] + MARGIN["back_psnr"], back
    assert side_iou >= BASELINE["side_iou"] + MARGIN["side_iou"], side_iou


def test_input_view_fidelity_is_kept(report):
    # at 128 px the detector's mask limits the input view's IoU (0.909 before, 0.945 now)
    assert _group(report, "input", "psnr") >= max(30.0, BASELINE["input_psnr"])
    assert _group(report, "input", "iou") >= BASELINE["input_iou"] + 0.02


@pytest.mark.parametrize("subject", ["jacket", "long_hair"])
def test_input_view_meets_the_issue_floor_at_256_px(subject):
    """The issue's floor for the photo's own view (>= 30 dB, IoU >= 0.97), at the benchmark's 256 px
    (measured: jacket 33.3 dB / 0.982, long_hair 36.9 dB / 0.977 with the photo at 0 degrees)."""
    rep = evaluate(builtin_subjects((subject,)), mode="prior", input_azimuths=(0.0,), size=256, use_lpips=False)
    assert not rep.failures, [r.error for r in rep.failures]
    assert _group(rep, "input", "psnr") >= 30.0
    assert _group(rep, "input", "iou") >= 0.97


def test_jacket_back_is_the_jacket_colour(report):
    err = _jacket_back_error(report)
    assert err < 0.2, f"back view mean colour is {err:.3f} away from the jacket's"
    assert err < BASELINE["jacket_back_error"] - 0.15


# ------------------------------------------------------------------------------------ holes
def _holey_fit():
    """The synthetic person whose mask also covers the background between its arms and body (as a
    segmentation that swallowed the gaps would give); the photo shows white there."""
    from dataclasses import replace

    from scipy.ndimage import binary_closing

    from humansplat.prior.synthetic import make_synthetic_person

    fit = make_synthetic_person(seed=0, size=192).as_body_fit()
    mask = fit.crop.mask > 0.5
    closed = binary_closing(mask, structure=np.ones((15, 15), dtype=bool), border_value=0)
    added = closed & ~mask
    return replace(fit, crop=replace(fit.crop, mask=closed.astype(np.float32))), added


@pytest.fixture(scope="module")
def holey_fit():
    return _holey_fit()


def _white_pixels(gaussians, fit) -> int:
    """Pixels of 4 orbit views (on black) covered by the avatar and near-white (background colour)."""
    from humansplat.cameras import Cameras
    from humansplat.avatar_views import orbit_framing
    from humansplat.render import render

    centre, radius, fov = orbit_framing(gaussians, fit)
    cams = Cameras.orbit(centre, radius, [0.0, 60.0, 120.0, 180.0, 240.0, 300.0], 0.0, fov, 128, 128)
    with torch.no_grad():
        out = render(gaussians, cams, background=0.0)
    white = (out.rgb > 0.9).all(-1) & (out.alpha[..., 0] > 0.5)
    return int(white.sum())


def test_background_inside_the_mask_does_not_become_the_person(holey_fit):
    fit, added = holey_fit
    assert added.sum() > 100, "the test needs background pixels inside the mask"
    assert (fit.crop.rgb[added] > 250).all(-1).mean() > 0.8  # the photo shows the (white) background there
    g = gaussians_from_prior(fit)
    assert _white_pixels(g, fit) <= 10  # before: 179


def test_small_white_gaps_are_holes_but_a_large_white_garment_is_not():
    from humansplat.prior_mode.holes import background_holes

    S = 64
    mask = np.zeros((S, S), bool)
    mask[4:60, 10:54] = True
    body = np.zeros((S, S), bool)
    body[4:60, 20:44] = True  # the body covers the middle; the rest of the mask is clothes or gaps
    rgb = np.full((S, S, 3), 90 / 255)
    rgb[20:26, 12:18] = 1.0  # a small white gap beside the body
    rgb[40:60, 44:54] = 1.0  # a large white garment area (8 % of the mask)
    holes = background_holes(rgb, mask, body)
    assert holes[20:26, 12:18].all()
    assert not holes[40:60, 44:54].any()
    assert holes.sum() == 36


def test_a_gap_the_colour_of_the_person_around_it_is_not_a_hole():
    """Beside the fitted body, a dark coat in front of a dark background (the background's estimate there
    has the coat's colour): the photo cannot tell them apart, so it stays the person; a grey wall seen
    between the coat and the body, unlike the coat around it, is a hole."""
    from humansplat.prior_mode.holes import background_holes

    S = 64
    coat, wall = np.array([0.10, 0.10, 0.10]), np.array([0.55, 0.55, 0.55])
    mask = np.zeros((S, S), bool)
    mask[4:60, 10:54] = True
    body = mask.copy()  # the fitted body covers all but two pockets of the mask
    body[40:50, 10:16] = body[20:26, 46:52] = False
    rgb = np.broadcast_to(coat, (S, S, 3)).copy()
    background = np.broadcast_to(wall, (S, S, 3)).copy()
    background[38:52, 0:16] = coat  # something dark beside the coat, low on the left
    rgb[20:26, 46:52] = wall  # the wall seen through a gap on the right
    holes = background_holes(rgb, mask, body, background)
    assert not holes[40:50, 10:16].any()
    assert holes[20:26, 46:52].all()


def test_a_skirt_is_as_deep_as_it_is_wide_and_trousers_are_not():
    """``skirt_profile``: rows below the torso where one mask run holds the legs and cloth between them
    get an elliptic cross-section; legs in trousers (their own runs, all body) get none."""
    from humansplat.parts import PART_NAMES
    from humansplat.prior_mode.surfaces import skirt_profile

    S = 64
    mask = np.zeros((S, S), bool)
    body = np.zeros((S, S), bool)
    part = np.full((S, S), PART_NAMES.index("legs"))
    body[10:60, 24:29] = body[10:60, 35:40] = True  # two legs
    part[:10] = PART_NAMES.index("torso")
    body[:10, 24:40] = mask[:10, 24:40] = True  # the torso above
    mask |= body
    mask[10:30, 16:48] = True  # a skirt over the upper legs, wider than them
    out = skirt_profile(mask, body, part, roundness=0.7)
    assert np.all(out[:10] == 0)  # the torso rows are the body's own
    assert np.all(out[30:] == 0)  # below the hem: two legs, each its own run
    np.testing.assert_allclose(out[20, 31:33], 0.7 * 16, rtol=0.01)  # the middle: 0.7 x the half-width
    assert out[20, 16] < 0.3 * out[20, 32] and out[20, 16] > 0  # rounding off to the sides
    assert np.all(skirt_profile(mask, body, part, roundness=0.0) == 0)


def test_a_gap_showing_a_coloured_wall_does_not_become_the_person(holey_fit):
    """The same gaps before a wall that is not white (the photo's own background, estimated behind
    the person from around them: ``PersonCrop.background``): no wall-coloured Gaussians in other views."""
    from dataclasses import replace

    from humansplat.prior.matting import local_background

    fit, added = holey_fit
    wall = np.array([0.55, 0.70, 0.85])  # a light blue wall
    S = fit.crop.size
    shade = np.linspace(0.95, 1.05, S)[None, :, None]  # a gentle gradient across it
    original = fit.crop.mask.astype(bool) & ~added
    rgb = fit.crop.rgb.astype(np.float64) / 255.0
    wall_img = np.clip(wall[None, None] * shade, 0, 1) * np.ones((S, 1, 1))
    photo = np.where(original[..., None], rgb, wall_img)
    background = local_background((photo * 255).astype(np.uint8), fit.crop.mask * original)
    assert np.nanmax(np.abs(background[added] - wall_img[added])) < 0.05  # the wall, continued behind
    crop = replace(fit.crop, rgb=(photo * 255 + 0.5).astype(np.uint8), background=background)
    coloured = replace(fit, crop=crop)

    def wall_pixels(gaussians) -> int:
        from humansplat.avatar_views import orbit_framing
        from humansplat.cameras import Cameras
        from humansplat.render import render

        centre, radius, fov = orbit_framing(gaussians, coloured)
        cams = Cameras.orbit(centre, radius, [60.0, 120.0, 180.0, 240.0, 300.0], 0.0, fov, 128, 128)
        with torch.no_grad():
            out = render(gaussians, cams, background=0.0)
        near = np.linalg.norm(out.rgb.numpy() - wall, axis=-1) < 0.08
        return int((near & (out.alpha[..., 0].numpy() > 0.5)).sum())

    without = wall_pixels(gaussians_from_prior(replace(coloured, crop=replace(crop, background=None))))
    with_background = wall_pixels(gaussians_from_prior(coloured))
    assert without > 50, "the test needs wall-coloured Gaussians when the background is not known"
    assert with_background <= 0.1 * without, (without, with_background)  # measured: 78 -> 5


def test_long_hair_falls_down_the_back_as_far_as_it_shows_below_the_chin():
    from humansplat.parts import PART_NAMES
    from humansplat.prior_mode.garments import long_hair

    S = 64
    hair, shirt = np.array([0.45, 0.30, 0.15]), np.array([0.2, 0.3, 0.8])
    part = np.full((S, S), PART_NAMES.index("torso"))
    part[4:20, 24:40] = PART_NAMES.index("head")
    mask = np.zeros((S, S), bool)
    mask[4:20, 24:40] = mask[20:60, 16:48] = True
    rgb = np.zeros((S, S, 3))
    rgb[:] = shirt
    rgb[4:20, 24:40] = (0.9, 0.7, 0.6)  # the face
    rgb[4:8, 24:40] = hair  # hair on top
    short = long_hair(rgb, mask, part, hair)
    assert not short.any()  # nothing of the hair's colour below the chin: short hair
    rgb[4:36, 22:25] = rgb[4:36, 39:42] = hair  # strands beside the face down over the chest
    mask[4:20, 22:42] = True
    long = long_hair(rgb, mask, part, hair)
    rows = np.nonzero(long.any(axis=1))[0]
    assert rows.min() == 4 and rows.max() == 35  # from the top of the head down to the strands' end
    assert not long[:, :22].any() and not long[:, 42:].any()  # across the hair's width only
    assert long_hair(rgb, mask, part, hair, clothes=shirt).any()
    # clothes of the hair's colour (a dark coat under black hair): its creases are not strands
    assert not long_hair(rgb, mask, part, hair, clothes=hair + 0.05).any()


def test_pixels_where_the_fit_put_a_hand_but_the_photo_shows_no_skin_are_not_the_hand(monkeypatch):
    """``misplaced_hands``: the fitted hand's pixels whose colour is not the face's skin (the fit's hand
    missed the photo's, which then pushes a hand-shaped piece of the trousers out of the body) are no
    longer body pixels; skin-coloured hand pixels stay, also in the shade; nothing without a face to
    take the skin colour from. Compared with the fitted hands trusted (``misplaced_hands`` finding none)."""
    from dataclasses import replace

    from humansplat.parts import PART_NAMES
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.prior_mode import surfaces
    from humansplat.prior_mode.grids import resize_image
    from humansplat.prior_mode.skin import misplaced_hands
    from humansplat.prior_mode.surfaces import prior_surfaces

    def trusting_the_fitted_hands(fit):
        with monkeypatch.context() as trusted:
            trusted.setattr(surfaces, "misplaced_hands", lambda rgb, mask, *_: np.zeros(mask.shape, dtype=bool))
            return prior_surfaces(fit)

    face, hands, legs = (PART_NAMES.index(n) for n in ("face", "hands", "legs"))
    rgb = np.full((40, 40, 3), 0.5)
    part = np.full((40, 40), legs)
    part[:10], rgb[:10] = face, (0.80, 0.60, 0.50)  # the face: skin
    part[20:30, :10] = hands
    rgb[20:30, :5] = (0.40, 0.30, 0.25)  # the hand on the photo's hand: skin, in the shade (half as bright)
    rgb[20:30, 5:10] = (0.15, 0.17, 0.30)  # the fitted hand over the trousers
    mask = body = np.ones((40, 40), dtype=bool)
    out = misplaced_hands(rgb, mask, body, part)
    assert out[20:30, 5:10].all() and out.sum() == 50
    no_face = np.where(part == face, legs, part)
    assert not misplaced_hands(rgb, mask, body, no_face).any()

    # the synthetic person with its hands painted over in its shirt's colour, as if the fit had put
    # them where the photo shows the shirt: those pixels leave the body and lie no nearer than before
    fit = make_synthetic_person(seed=0, size=192).as_body_fit()
    before = trusting_the_fitted_hands(fit)
    S, C = before.mask.shape[0], fit.crop.rgb.shape[0]
    on_hand = before.body & (before.front_part == hands)
    assert on_hand.sum() > 100, "the test needs the fitted hands in view"
    own = prior_surfaces(fit)  # its own skin-coloured hands keep their depth (rim pixels may leave the
    assert own.body[on_hand].mean() > 0.85  # body, blended with the background, and take the hand's depth)
    assert np.abs(own.front_depth[on_hand] - before.front_depth[on_hand]).max() < 0.01
    rgb = resize_image(fit.crop.rgb.astype(np.float32) / 255.0, S)
    shirt = np.median(rgb[before.body & (before.front_part == PART_NAMES.index("torso"))], axis=0)
    idx = np.minimum(((np.arange(C) + 0.5) * S / C).astype(np.int64), S - 1)
    painted = fit.crop.rgb.copy()
    painted[on_hand[idx][:, idx]] = np.round(shirt * 255).astype(np.uint8)
    fit = replace(fit, crop=replace(fit.crop, rgb=painted))
    kept = trusting_the_fitted_hands(fit)
    after = prior_surfaces(fit)
    assert kept.body[on_hand].all()
    assert (after.body & on_hand).sum() < 0.3 * on_hand.sum()
    moved = on_hand & ~after.body
    assert after.front_depth[moved].mean() >= kept.front_depth[moved].mean() - 1e-4


def test_the_back_of_the_neck_is_the_shoulders_garment_not_the_collar():
    """A white collar fills the torso's narrow top rows (the neck) in front of a dark jacket's shoulders:
    behind, the neck takes the jacket's colour, while a row of the jacket keeps its own."""
    from humansplat.parts import PART_NAMES
    from humansplat.prior_mode.garments import back_colours

    S = 64
    jacket, collar = np.array([0.13, 0.14, 0.18]), np.array([0.93, 0.93, 0.90])
    torso = PART_NAMES.index("torso")
    part = np.full((S, S), PART_NAMES.index("head"))
    mask = np.zeros((S, S), bool)
    mask[4:16, 26:38] = True  # the head
    mask[16:24, 27:37] = True  # the neck: 10 px of a torso 44 px wide
    mask[24:60, 10:54] = True
    part[16:] = torso
    rgb = np.zeros((S, S, 3))
    rgb[:] = jacket
    rgb[4:16] = (0.85, 0.65, 0.52)  # the face
    rgb[16:24] = collar  # the collar all round the neck, as seen in front
    rgb[24:60, 24:40] = collar  # the shirt in the jacket's opening
    back = back_colours(rgb, mask, part, [part])[0]
    assert np.linalg.norm(back[16:24, 27:37] - jacket, axis=-1).max() < 0.1
    assert np.linalg.norm(np.median(back[40, 10:54], axis=0) - jacket) < 0.05
