"""The synthetic person and the body fit (no MediaPipe: landmarks come from the known body).

Tolerances (synthetic person, exact landmarks and mask):
* landmark error <= 2 % of the person's height, silhouette IoU >= 0.9;
* mean vertex error <= 3 % of body height after removing the single-image depth/scale ambiguity
  (optimal uniform scale about the centroid; a taller body farther away projects identically), and
  <= 5 % with the fitted root position only; root depth within 8 %.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from humansplat.errors import InputError
from humansplat.prior.body_models import LANDMARK_NAMES, POSE_GROUPS, get_body_model
from humansplat.prior.fit import FitOptions, fit_body, landmark_weights, valid_region
from humansplat.prior.synthetic import make_synthetic_person

LM = {n: i for i, n in enumerate(LANDMARK_NAMES)}
LEGS = [LM[n] for n in LANDMARK_NAMES if any(k in n for k in ("knee", "ankle", "heel", "foot"))]


def _errors(fit, person) -> tuple[float, float, float]:
    """(scale-aligned, root-aligned) mean vertex error in % of height, relative root depth error."""
    H = person.height_m
    a = fit.vertices - fit.vertices.mean(0)
    b = person.vertices - person.vertices.mean(0)
    scale = (a * b).sum() / (a * a).sum()
    scaled = float((a * scale - b).norm(dim=-1).mean()) / H * 100
    rooted = float(((fit.vertices - fit.params.translation) - (person.vertices - person.params.translation)).norm(dim=-1).mean()) / H * 100
    depth = float(fit.params.translation[2] / person.params.translation[2] - 1.0)
    return scaled, rooted, depth


@pytest.fixture(scope="module")
def full_person():
    return make_synthetic_person(seed=0, size=384, world_landmarks=False)  # yaw from 2D only


@pytest.fixture(scope="module")
def full_fit(full_person):
    return fit_body(full_person.crop)


# ---------------------------------------------------------------------------------------------- synthetic
def test_synthetic_person_is_consistent_and_deterministic(full_person):
    p = full_person
    crop = p.crop
    assert crop.rgb.shape == (384, 384, 3) and crop.rgb.dtype == np.uint8
    assert crop.mask.shape == (384, 384) and crop.mask.dtype == np.float32
    # Mask and picture agree: the body is not white, the background is.
    assert (crop.rgb[crop.mask < 0.01] == 255).all()
    assert crop.rgb[crop.mask > 0.99].mean() < 200
    # Whole body in frame, landmarks are the projections of the known 3D points.
    assert crop.cut_off == () and (crop.landmarks.body_confidence == 1).all()
    uv = crop.camera.project(p.landmarks3d)[0][0].numpy()
    assert np.allclose(uv, crop.landmarks.body, atol=1e-3)
    assert 1.5 < p.height_m < 2.0
    again = make_synthetic_person(seed=0, size=384, world_landmarks=False)
    assert np.array_equal(again.crop.rgb, crop.rgb) and torch.equal(again.vertices, p.vertices)
    again.crop.rgb[:] = 0  # copies: the cache is not affected
    assert make_synthetic_person(seed=0, size=384, world_landmarks=False).crop.rgb.max() == 255
    other = make_synthetic_person(seed=1, size=384)
    assert not torch.allclose(other.params.body_pose, p.params.body_pose)
    gt = p.as_body_fit()
    assert gt.vertices.shape == (get_body_model().num_vertices, 3) and gt.errors["silhouette_iou"] == 1.0


def test_half_body_synthetic_is_cut_at_the_bottom():
    p = make_synthetic_person(seed=2, size=256, framing="half")
    conf = p.crop.landmarks.body_confidence
    assert p.crop.cut_off == ("bottom",)
    assert (conf[[LM["left_ankle"], LM["right_ankle"]]] == 0).all()
    assert (conf[[LM["nose"], LM["left_shoulder"], LM["right_hip"]]] == 1).all()
    with pytest.raises(ValueError, match="framing"):
        make_synthetic_person(seed=2, size=64, framing="legs")


# ---------------------------------------------------------------------------------------------- fit
def test_fit_recovers_the_synthetic_body(full_person, full_fit):
    fit = full_fit
    assert fit.backend == "anny"
    assert fit.vertices.shape == full_person.vertices.shape and fit.faces.shape[1] == 3
    assert fit.pose.shape == (len(POSE_GROUPS), 3) and set(fit.shape) == set(get_body_model().shape_names)
    assert fit.errors["landmark_error_pct"] <= 2.0, fit.errors
    assert fit.errors["silhouette_iou"] >= 0.9, fit.errors
    scaled, rooted, depth = _errors(fit, full_person)
    assert scaled <= 3.0, (scaled, rooted, depth)
    assert rooted <= 5.0, (scaled, rooted, depth)
    assert abs(depth) <= 0.08, depth
    # The 3D landmarks of the fit project onto the targets.
    uv = fit.camera.project(fit.landmarks3d)[0][0].numpy()
    assert np.median(np.linalg.norm(uv - full_person.crop.landmarks.body, axis=1)) < 0.02 * 384


def test_unseen_landmarks_do_not_drag_the_body(full_person):
    """Landmarks with confidence 0 take no part: the same fit whether they sit where they belong or far
    outside the image (same optimisation, same result)."""
    unseen = [LM["left_wrist"], LM["right_knee"], LM["left_ankle"]]
    lm = full_person.crop.landmarks
    conf = lm.body_confidence.copy()
    conf[unseen] = 0.0
    in_place = dataclasses.replace(full_person.crop, landmarks=dataclasses.replace(lm, body_confidence=conf))
    wild = lm.body.copy()
    wild[unseen] = (-500.0, 900.0)
    far_away = dataclasses.replace(in_place, landmarks=dataclasses.replace(in_place.landmarks, body=wild))
    a, b = fit_body(in_place), fit_body(far_away)
    torch.testing.assert_close(b.vertices, a.vertices, rtol=0.0, atol=1e-6)
    assert b.errors == a.errors
    scaled, _, _ = _errors(b, full_person)
    assert scaled <= 3.5 and b.errors["silhouette_iou"] >= 0.88


def test_half_body_gets_plausible_standing_legs():
    person = make_synthetic_person(seed=2, size=256, framing="half")
    fit = fit_body(person.crop)
    lm = fit.landmarks3d
    R = torch.linalg.inv(torch.as_tensor(_rot(fit.params.global_orient)))
    up = (lm - fit.params.translation) @ R.T  # model frame: y down
    for side in ("left", "right"):
        hip, knee, ankle = (up[LM[f"{side}_{j}"]] for j in ("hip", "knee", "ankle"))
        assert hip[1] + 0.25 < knee[1] < ankle[1] - 0.25, (side, hip, knee, ankle)  # below, not folded
        thigh, shin = knee - hip, ankle - knee
        bend = math.degrees(math.acos(float((thigh @ shin) / (thigh.norm() * shin.norm()))))
        assert bend < 30, (side, bend)  # nearly straight
    # The visible part fits.
    assert fit.errors["landmark_error_pct"] <= 2.5, fit.errors
    assert fit.errors["silhouette_iou"] >= 0.85, fit.errors
    # Unseen legs stay close to the neutral pose.
    for g in ("knee.L", "knee.R", "ankle.L", "ankle.R"):
        assert float(fit.pose[POSE_GROUPS.index(g)].norm()) < math.radians(20), g


def _rot(rotvec: torch.Tensor) -> torch.Tensor:
    from humansplat.geometry import axis_angle_to_matrix

    return axis_angle_to_matrix(rotvec)


def test_fit_rejects_crops_without_landmarks(full_person):
    crop = dataclasses.replace(full_person.crop)
    crop.landmarks = dataclasses.replace(crop.landmarks, body_confidence=np.zeros(33, np.float32))
    with pytest.raises(InputError, match="landmarks"):
        fit_body(crop)
    with pytest.raises(TypeError, match="unknown fit option"):
        fit_body(full_person.crop, iterations=3)


def test_landmark_weights_and_valid_region(full_person):
    conf = np.ones(33, np.float32)
    conf[5] = 0.1
    w = landmark_weights(conf)
    assert w[5] == 0 and w[LM["left_hip"]] == 1 and 0 < w[LM["nose"]] < 1 and 0 < w[LM["left_pinky"]] < 1
    # A crop without its photo's box, cut off at the bottom: below the person nothing is known.
    cut = dataclasses.replace(full_person.crop, photo_size=(0, 0), box=(0, 0, 0), cut_off=("bottom",))
    rows = np.nonzero((cut.mask > 0.5).any(axis=1))[0]
    valid = valid_region(cut)
    assert rows.max() < cut.size - 10 and valid[: rows.max() + 1].all() and not valid[rows.max() + 1 :].any()
    assert valid_region(dataclasses.replace(cut, cut_off=())).all()
    crop = dataclasses.replace(full_person.crop)
    # A crop whose square reaches beyond the photo: those pixels are not valid.
    crop.photo_size, crop.box = (300, 400), (-50, 0, 400)
    valid = valid_region(crop)
    S = crop.size
    assert not valid[:, : int(50 * S / 400) - 1].any() and not valid[:, int(360 * S / 400) :].any()
    assert valid[:, int(60 * S / 400) : int(340 * S / 400)].all()


def test_stance_prior_prefers_upright_bodies_with_arms_in_the_frontal_plane():
    """``_lean_prior``: 0 for an upright body with its arms out to the sides at any yaw; a body
    leaning in depth, or an upper arm pointing forward or backward (the two foreshortened readings
    of a sideways arm), costs ``w_lean`` / ``w_arm_plane`` x the squared share of that line."""
    from humansplat.prior.fit import _lean_prior

    def body(yaw_deg: float, lean_deg: float = 0.0, arm_fwd_deg: float = 0.0) -> torch.Tensor:
        """(1, 33, 3) camera-frame landmarks (x right, y down, z away) of a simple stick figure."""
        lm = torch.zeros(33, 3, dtype=torch.float64)
        lean = math.radians(lean_deg)
        up = torch.tensor([0.0, -math.cos(lean), math.sin(lean)], dtype=torch.float64)  # leans away from the camera
        lm[27], lm[28] = torch.tensor([0.1, 0.0, 0.0]), torch.tensor([-0.1, 0.0, 0.0])  # ankles
        for i, side in ((11, 1.0), (23, 1.0), (12, -1.0), (24, -1.0)):  # shoulders, hips
            lm[i] = up * (1.4 if i in (11, 12) else 0.9) + torch.tensor([0.18 * side, 0.0, 0.0], dtype=torch.float64)
        a = math.radians(arm_fwd_deg)
        for sh, el, side in ((11, 13, 1.0), (12, 14, -1.0)):  # upper arms out sideways, turned forward by a
            lm[el] = lm[sh] + 0.3 * torch.tensor([side * math.cos(a), 0.0, -math.sin(a)], dtype=torch.float64)
        y = math.radians(yaw_deg)  # turn the whole figure about the vertical axis through the ankles
        rot = torch.tensor([[math.cos(y), 0.0, math.sin(y)], [0.0, 1.0, 0.0], [-math.sin(y), 0.0, math.cos(y)]], dtype=torch.float64)
        return (lm @ rot.T)[None]

    opts = FitOptions(w_lean=1.0, w_arm_plane=1.0)
    for yaw in (0.0, 30.0, -60.0):
        assert float(_lean_prior(body(yaw), opts)) == pytest.approx(0.0, abs=1e-12)
        # both upper arms 30 degrees forward: 2 x sin^2(30) = 0.5, whatever the yaw; backward the same
        assert float(_lean_prior(body(yaw, arm_fwd_deg=30.0), opts)) == pytest.approx(0.5, rel=1e-6)
        assert float(_lean_prior(body(yaw, arm_fwd_deg=-30.0), opts)) == pytest.approx(0.5, rel=1e-6)
    # leaning 20 degrees in depth: sin^2(20) of the ankles -> shoulders line (the arms stay in the torso's plane)
    assert float(_lean_prior(body(0.0, lean_deg=20.0), opts)) == pytest.approx(math.sin(math.radians(20.0)) ** 2, rel=0.02)
    assert float(_lean_prior(body(0.0, arm_fwd_deg=30.0), FitOptions(w_lean=1.0, w_arm_plane=0.0))) == pytest.approx(0.0, abs=1e-12)


def test_flat_adam_matches_torch_adam_with_a_cosine_schedule():
    """The fit's Adam (one flat moment vector, per-variable multipliers, every variable annealed to
    the same floor) takes the steps of torch.optim.Adam with CosineAnnealingLR over param groups."""
    from humansplat.prior.fit import _Adam, _Init, _Variables

    model = get_body_model("anny")
    init = _Init(orient=torch.eye(3)[None].repeat(2, 1, 1), translation=torch.tensor([0.1, -0.2, 3.0]))
    ours, ref = _Variables(model, init), _Variables(model, init)
    lr0, lr1, iters = 0.08, 0.02, 12
    torch_opt = torch.optim.Adam(
        [
            {"params": [ref.d_orient, ref.ball, ref.hinge], "lr": lr0},
            {"params": [ref.t_xy], "lr": lr0 * 0.1},
            {"params": [ref.t_logz], "lr": lr0 * 0.5},
            {"params": [ref.shape_u], "lr": lr0},
        ]
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, iters, eta_min=lr1)
    opt = _Adam(ours)
    target = torch.linspace(-1.0, 1.0, 16)

    def loss(v: _Variables) -> torch.Tensor:  # touches every variable, non-quadratic
        flat = torch.cat([p.reshape(-1) for p in (v.d_orient, v.ball, v.hinge, v.t_xy, v.t_logz, v.shape_u)])
        return ((flat[:16] - target) ** 4).sum() + (flat[16:] ** 2).sum()

    for it in range(iters):
        cosine = 0.5 * (1.0 + math.cos(math.pi * it / iters))
        opt.zero_grad()
        loss(ours).backward()
        opt.step(lr0 * cosine, lr1 * (1.0 - cosine))
        torch_opt.zero_grad()
        loss(ref).backward()
        torch_opt.step()
        sched.step()
    for name in ("d_orient", "ball", "hinge", "t_xy", "t_logz", "shape_u"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert torch.allclose(a, b, atol=1e-6), name
    assert not torch.allclose(ours.t_xy, _Variables(model, init).t_xy)  # the variables did move


def test_coverage_term_equals_the_nearest_point_chamfer():
    """The coverage term (nearest body point per mask target, found without autograd) has the value
    and the gradient of the plain all-pairs minimum."""
    from humansplat.prior.fit import _robust, _Silhouette

    person = make_synthetic_person(0, 256)
    sil = _Silhouette(person.crop, valid_region(person.crop), 64, 200.0)
    g = torch.Generator().manual_seed(0)
    uv = (torch.rand(2, 300, 2, generator=g) * 256).requires_grad_()
    _, coverage = sil.terms(uv)
    (grad,) = torch.autograd.grad(coverage.sum(), uv)
    uv_ref = uv.detach().clone().requires_grad_()
    sq = torch.cdist(sil.targets[None].expand(2, -1, -1), uv_ref).pow(2).min(-1).values / 200.0**2
    expected = _robust(sq, 0.05).mean(-1)
    expected.sum().backward()
    assert sil.targets.shape[0] > 50
    assert torch.allclose(coverage, expected, rtol=1e-5)
    assert torch.allclose(grad, uv_ref.grad, atol=1e-9, rtol=1e-4)
    assert grad.abs().sum() > 0


def test_model_frame_is_the_forward_at_the_origin():
    """``model_frame`` (what the fit poses) equals ``forward`` with no global rotation or translation,
    exactly and through a rest state."""
    model = get_body_model("anny")
    g = torch.Generator().manual_seed(1)
    pose = torch.randn(2, len(POSE_GROUPS), 3, generator=g) * 0.3
    shape = torch.rand(2, len(model.shape_names), generator=g) * 0.4 + 0.3
    idx = torch.tensor([3, 400, 9000])
    params = model.neutral_params((2,))
    params = params.replace(global_orient=torch.zeros(2, 3), translation=torch.zeros(2, 3), body_pose=pose, shape=shape)
    full = model(params, idx)
    ours = model.model_frame(pose, shape, idx)
    for name in ("vertices", "joints", "landmarks"):
        assert torch.allclose(getattr(ours, name), getattr(full, name), atol=1e-5), name
    rest = model.rest_state(shape[0], idx)
    near = model.model_frame(pose[:1], shape[:1], idx, rest)
    assert torch.allclose(near.landmarks, full.landmarks[:1], atol=1e-4)
    assert torch.allclose(near.vertices, full.vertices[:1], atol=1e-4)
