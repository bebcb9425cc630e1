"""One facing for every left/right label (humansplat.prior.sides) and what it does to the body fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from humansplat.eval.facing import LANDMARK_NOISE, facing_trials, labels_agree, perturbed
from humansplat.prior.landmarks import Landmarks
from humansplat.prior.sides import ARM_CHAIN, FACE_PAIRS, LEG_CHAIN, consistent_sides, side_votes


def _front_person() -> Landmarks:
    """An upright person facing the camera (the person's left on the image's right), (u, v) pixels."""
    p = np.zeros((33, 2), np.float32)
    p[0] = (100, 60)
    for i, (u, v) in zip(range(1, 11), [(104, 55), (107, 55), (110, 55), (96, 55), (93, 55), (90, 55),
                                         (115, 58), (85, 58), (104, 70), (96, 70)]):
        p[i] = (u, v)
    for (left, right), y, dx in zip(ARM_CHAIN, (100, 140, 180, 190, 190, 188), (20, 40, 50, 54, 52, 48)):
        p[left], p[right] = (100 + dx, y), (100 - dx, y)
    for (left, right), y, dx in zip(LEG_CHAIN, (200, 260, 320, 322, 332), (12, 12, 12, 12, 15)):
        p[left], p[right] = (100 + dx, y), (100 - dx, y)
    world = np.zeros((33, 3), np.float32)
    world[:, :2] = (p - np.array([100, 200])) / 200.0
    world[[13, 15], 2] = -0.1  # the left arm a little towards the camera
    return Landmarks(body=p, body_confidence=np.ones(33, np.float32), body_world=world)


def _swapped(lm: Landmarks, pairs) -> Landmarks:
    body, world = lm.body.copy(), lm.body_world.copy()
    for left, right in pairs:
        body[[left, right]] = body[[right, left]]
        world[[left, right]] = world[[right, left]]
        world[[left, right], 2] *= -1.0
    return Landmarks(body=body, body_confidence=lm.body_confidence, body_world=world)


def test_labels_that_agree_are_kept():
    lm = _front_person()
    votes = side_votes(lm)
    assert votes.facing == 1 and min(votes.shoulders, votes.hips, votes.face, votes.feet) > 0.5
    out, swapped = consistent_sides(lm)
    assert swapped == [] and np.array_equal(out.body, lm.body)


def test_an_arm_chain_labelled_the_wrong_way_round_is_exchanged_and_mirrored_in_depth():
    lm = _front_person()
    bad = _swapped(lm, ARM_CHAIN)  # what MediaPipe did to a person with arms held out sideways
    assert side_votes(bad).shoulders < 0
    out, swapped = consistent_sides(bad)
    assert swapped == ["arms"]
    np.testing.assert_allclose(out.body, lm.body)
    np.testing.assert_allclose(out.body_world, lm.body_world)  # labels and depths both restored


def test_a_person_turned_away_keeps_consistent_labels_and_an_upside_down_one_is_not_a_back_view():
    lm = _front_person()
    mirrored = lm.body.copy()
    mirrored[:, 0] = 200.0 - mirrored[:, 0]  # every pair the other way round: seen from behind...
    mirrored[[31, 32], 1] = 312.0  # ...the toes further away than the heels show higher
    back = Landmarks(body=mirrored, body_confidence=lm.body_confidence)
    assert side_votes(back).facing == -1
    assert consistent_sides(back)[1] == []
    flipped = lm.body.copy()
    flipped[:, 0] = 200.0 - flipped[:, 0]
    flipped[:, 1] = 400.0 - flipped[:, 1]  # turned by 180 degrees in the image (a handstand)
    assert side_votes(Landmarks(body=flipped, body_confidence=lm.body_confidence)).facing == 1


def test_face_mesh_outvotes_labels_and_unseen_pairs_do_not_vote():
    lm = _front_person()
    face = np.zeros((468, 2), np.float32)
    face[263], face[33] = (110, 55), (90, 55)  # Face Mesh's left eye on the image's right: a front face
    bad = _swapped(lm, ARM_CHAIN + LEG_CHAIN)
    bad.body[[31, 32], 1] = 322.0  # feet say nothing
    with_face = Landmarks(body=bad.body, body_confidence=lm.body_confidence, face=face)
    assert side_votes(with_face).facing == 1
    assert sorted(consistent_sides(with_face)[1]) == ["arms", "legs"]
    conf = lm.body_confidence.copy()
    conf[[11, 12, 23, 24]] = 0.0
    votes = side_votes(Landmarks(body=lm.body, body_confidence=conf))
    assert votes.shoulders == 0.0 and votes.hips == 0.0


def test_hips_mislabelled_alone_are_exchanged_alone_so_the_legs_do_not_cross():
    """Seen on the arms_sideways subject turned -40..-30 degrees: the hips come back the wrong way
    round while the knees, ankles and feet are right. Exchanging the whole leg chain would cross the
    legs; only the hips are exchanged. A whole chain the wrong way round is still exchanged whole."""
    lm = _front_person()
    out, swapped = consistent_sides(_swapped(lm, LEG_CHAIN[:1]))
    assert swapped == ["hips"]
    np.testing.assert_allclose(out.body, lm.body)
    out, swapped = consistent_sides(_swapped(lm, LEG_CHAIN))
    assert swapped == ["legs"]
    np.testing.assert_allclose(out.body, lm.body)


def test_feet_decide_against_labels_that_are_all_mirrored():
    """The failure that differs between processors: MediaPipe returns the whole body mirrored (arms,
    legs and face labelled as if seen from behind) for a person facing the camera; the heels and toes
    (swapped together with their leg) still say "facing the camera"."""
    lm = _front_person()
    mirrored = _swapped(lm, ARM_CHAIN + LEG_CHAIN + FACE_PAIRS)
    votes = side_votes(mirrored)
    assert min(-votes.shoulders, -votes.hips, -votes.face) > 0.5  # every labelled cue says "turned away"
    assert votes.facing == 1 and votes.sure and votes.basis == "feet" and votes.margin > 0.5
    out, swapped = consistent_sides(mirrored, votes)
    assert sorted(swapped) == ["arms", "face", "legs"]
    np.testing.assert_allclose(out.body, lm.body)


def test_without_face_mesh_or_feet_the_facing_is_uncertain():
    lm = _front_person()
    conf = lm.body_confidence.copy()
    conf[[29, 30, 31, 32]] = 0.0  # feet out of the photo, face too small for Face Mesh
    votes = side_votes(Landmarks(body=lm.body, body_confidence=conf))
    assert votes.facing == 1 and not votes.sure and votes.basis == "labels" and votes.margin == 0.0
    votes = side_votes(Landmarks(body=_swapped(lm, ARM_CHAIN + LEG_CHAIN + FACE_PAIRS).body, body_confidence=conf))
    assert votes.facing == -1 and not votes.sure  # only the labels are left, and they are followed


def test_perturbation_noise_has_the_stated_size():
    lm = _front_person()
    span = float(np.linalg.norm(0.5 * (lm.body[11] + lm.body[12]) - 0.5 * (lm.body[23] + lm.body[24])))
    moved = perturbed(lm, noise=0.02, rng=np.random.default_rng(1)).body - lm.body
    assert abs(float(moved.std()) / span - 0.02) < 0.004
    swapped = perturbed(lm, swap=("arms",))
    np.testing.assert_array_equal(swapped.body[[11, 12]], lm.body[[12, 11]])
    assert perturbed(Landmarks(body=lm.body, body_confidence=lm.body_confidence, face=np.zeros((468, 2))),
                     drop_face_mesh=True).face is None


def test_decision_survives_label_swaps_and_noise_facing_and_turned_away():
    """Seeded: every combination of swapped chains, with and without the face mesh, five noise draws of
    LANDMARK_NOISE (four times what +-1 grey level of photo noise does to MediaPipe's landmarks)."""
    lm = _front_person()
    face = np.zeros((468, 2), np.float32)
    face[263], face[33] = (110, 55), (90, 55)
    with_face = Landmarks(body=lm.body, body_confidence=lm.body_confidence, face=face, body_world=lm.body_world)
    trials = facing_trials(with_face, truth=1, noise=LANDMARK_NOISE, repeats=5)
    assert len(trials) == 8 * 2 * 5 and all(t.right for t in trials)
    assert min(t.margin for t in trials) > 0.5
    back = lm.body.copy()
    back[:, 0] = 200.0 - back[:, 0]  # seen from behind: every pair the other way round...
    back[[31, 32], 1] = 312.0  # ...and the toes, further away than the heels, higher
    trials = facing_trials(Landmarks(body=back, body_confidence=lm.body_confidence), truth=-1, repeats=5)
    assert all(t.right for t in trials) and min(t.margin for t in trials) > 0.5


def _detect_builtin(name: str, azimuth: float, size: int = 256):
    from humansplat.eval import builtin_subjects
    from humansplat.eval.harness import make_input_view
    from humansplat.io.images import load_photo
    from humansplat.prior.person import detect_person

    subject = builtin_subjects([name])[0]
    return detect_person(load_photo(make_input_view(subject, azimuth, size).photo))


def test_arms_sideways_faces_the_camera_at_every_angle_whatever_the_processor():
    """The built-in subject with arms held out sideways, turned -60..60 degrees in 5 degree steps (the
    range of benchmarks/facing.py): the facing is right as detected and under every combination of
    label swaps of :func:`facing_trials`, and the returned labels agree with it (left shoulder and hip
    on the image's right). The noise on top is 1 % of the shoulder-to-hip span, above the median
    movement that +-1 grey level of photo noise causes (0.7 %): this detection itself already differs
    a little from one processor to the next (the seeded 2 % noise is tested on fixed landmarks)."""
    failures = []
    for azimuth in range(-60, 61, 5):
        crop = _detect_builtin("arms_sideways", float(azimuth))
        if crop.facing.facing != 1 or not labels_agree(crop.landmarks, 1):
            failures.append(f"{azimuth}: as detected {crop.facing.as_dict()}")
        wrong = [t for t in facing_trials(crop.landmarks, truth=1, noise=0.01) if not t.right]
        if wrong:
            failures.append(f"{azimuth}: {len(wrong)} perturbed trials wrong, e.g. {wrong[0]}")
    assert not failures, failures


@pytest.mark.parametrize("name", ["arms_sideways", "long_hair"])
def test_a_person_photographed_from_behind_is_turned_away(name):
    crop = _detect_builtin(name, 180.0)
    assert crop.facing.facing == -1 and crop.facing.sure
    assert labels_agree(crop.landmarks, -1)


@pytest.mark.parametrize("azimuth", [30.0, -30.0])
def test_arms_held_sideways_stay_sideways_when_the_person_is_turned(azimuth):
    """The built-in subject with arms out sideways, photographed turned by 30 degrees: MediaPipe
    labelled its arms (and face) as if seen from behind, and the fitted arms crossed the body
    (upper-arm direction errors of 92-149 degrees before this module; 6-12 after)."""
    import torch

    from humansplat.eval import builtin_subjects
    from humansplat.eval.harness import make_input_view
    from humansplat.io.images import load_photo
    from humansplat.prior.body_models import BodyParams, get_body_model
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person

    subject = builtin_subjects(["arms_sideways"])[0]
    view = make_input_view(subject, azimuth, 256)
    crop = detect_person(load_photo(view.photo))
    lm = crop.landmarks.body
    up = 0.5 * (lm[11] + lm[12]) - 0.5 * (lm[23] + lm[24])
    assert up[0] * (lm[11] - lm[12])[1] - up[1] * (lm[11] - lm[12])[0] > 0  # left shoulder on the image's right
    fit = fit_body(crop)
    # The truth: the subject's own pose (humansplat.eval.subjects._arms_sideways) in the camera's frame.
    model = get_body_model("anny")
    pose = model.neutral_pose().clone().float()
    from humansplat.prior.body_models import POSE_GROUPS

    pose[POSE_GROUPS.index("shoulder.L")] += torch.tensor([0.0, 0.0, math.radians(-75)])
    pose[POSE_GROUPS.index("shoulder.R")] += torch.tensor([0.0, 0.0, math.radians(75)])
    with torch.no_grad():
        truth = model(BodyParams(torch.zeros(3), torch.zeros(3), pose, model.default_shape().float())).landmarks.numpy()
    a = math.radians(azimuth)
    # model frame (x left, y down, z back) -> scan frame (x, -y, -z) -> camera (flip @ R_y(-a))
    scan_to_cam = np.diag([1.0, -1.0, -1.0]) @ np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    truth_cam = truth @ (scan_to_cam @ np.diag([1.0, -1.0, -1.0])).T
    fitted = fit.landmarks3d.numpy()
    for shoulder, elbow in ((11, 13), (12, 14)):
        t = truth_cam[elbow] - truth_cam[shoulder]
        f = fitted[elbow] - fitted[shoulder]
        angle = math.degrees(math.acos(np.clip(t @ f / np.linalg.norm(t) / np.linalg.norm(f), -1, 1)))
        assert angle < 30.0, f"upper arm {shoulder}->{elbow} is {angle:.0f} degrees off"
