"""Hands beside the face stay hands: thin, at their own depth, with the head round and closed behind.

The subject is our own: the anny body posed with both hands raised beside the face (palms towards
the camera, at the ears), skin, hair and a shirt by part, photographed at the evaluation's portrait
framing (:func:`humansplat.eval.harness.make_input_view`, 128 px). With the true body as the fit, the
hands get the true depth, and nothing of the hands reaches more than their thickness behind them
(hand pixels inside the head's outline that took the head's back would make a slab of the hand's
colour reaching 12.8 cm behind the hand's front on this subject).
The MediaPipe test runs the photo through detection and the body fit; the unit tests check the
depth rules of :mod:`humansplat.prior_mode.hands` on maps made by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.eval.harness import InputView, align_depth, make_input_view
from humansplat.eval.subjects import EvalSubject
from humansplat.gaussians import Gaussians
from humansplat.geometry import opencv_to_gltf
from humansplat.parts import PART_NAMES
from humansplat.prior.body_fit import BodyFit
from humansplat.prior.body_models import HINGE_GROUPS, POSE_GROUPS, BodyParams, get_body_model
from humansplat.prior.landmarks import Landmarks
from humansplat.prior.person import PersonCrop
from humansplat.prior_mode.build import PriorOptions, gaussians_from_prior
from humansplat.prior_mode.hands import (
    GAP_M,
    THICKNESS_M,
    hand_surfaces,
    hands_near_head,
    landmark_hand,
)
from humansplat.render import render
from humansplat.render.mesh import TexturedMesh, rasterize_mesh

_SIZE = 128
_OPTIONS = PriorOptions(resolution=_SIZE, geometry_resolution=128, back_resolution=128, colour_iterations=0)
_P = {name: i for i, name in enumerate(PART_NAMES)}


def _hands_by_face() -> EvalSubject:
    """The anny body with both hands raised beside the face, in the scan frame (+Y up, facing +Z)."""
    model = get_body_model("anny")
    pose = model.neutral_pose().clone().float()
    for group, degrees in {"shoulder.L": (-90.0, -25.0, -80.0), "shoulder.R": (-90.0, 25.0, 80.0)}.items():
        pose[POSE_GROUPS.index(group)] += torch.tensor([math.radians(a) for a in degrees])
    for group in ("elbow.L", "elbow.R"):
        pose[POSE_GROUPS.index(group)] = math.radians(100.0) * model.hinge_axes[HINGE_GROUPS.index(group)]
    with torch.no_grad():
        out = model(BodyParams(torch.zeros(3), torch.zeros(3), pose, model.default_shape().clone().float()))
    v = torch.as_tensor(opencv_to_gltf(out.vertices.double().numpy())).float()
    lo, hi = v.min(0).values, v.max(0).values
    v = v - torch.stack([0.5 * (lo[0] + hi[0]), lo[1], 0.5 * (lo[2] + hi[2])])
    skin, shirt = [0.86, 0.66, 0.52], [0.20, 0.35, 0.60]
    colours = torch.tensor([[0.15, 0.10, 0.06], skin, skin, shirt, shirt, [0.2, 0.2, 0.25], [0.1, 0.1, 0.1]])
    parts = model.parts.long()
    mesh = TexturedMesh(vertices=v, faces=model.faces.long(), vertex_colors=colours[parts], parts=parts, name="hands")
    return EvalSubject("hands_by_face", mesh)


@pytest.fixture(scope="module")
def view() -> InputView:
    return make_input_view(_hands_by_face(), 0.0, _SIZE, render_scale=1, framing="portrait")


def _true_fit(view: InputView) -> BodyFit:
    """The subject's own body as the fit, with a crop of its photo (no hand landmarks: the fitted
    hands are the hands)."""
    no_points = Landmarks(np.zeros((33, 2), np.float32), np.zeros(33, np.float32))
    crop = PersonCrop(
        rgb=view.photo, mask=view.alpha.astype(np.float32), camera=view.camera, landmarks=no_points,
        cut_off=("bottom",), framing="head and shoulders",
    )
    mesh = view.mesh
    return BodyFit(
        backend="anny", pose=torch.zeros(len(POSE_GROUPS), 3), shape={}, vertices=mesh.vertices, faces=mesh.faces,
        parts=mesh.parts, joints=torch.zeros(1, 3), camera=view.camera, crop=crop,
    )


def _true_hands(view: InputView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hand pixels, hand pixels with no other body part along the ray, true depth) (S, S) of the photo."""
    mesh = view.mesh
    ras = rasterize_mesh(mesh.vertices, mesh.faces, view.camera)
    label = torch.where(ras.face_id >= 0, mesh.parts[mesh.faces[ras.face_id.clamp_min(0), 0]], -1).numpy()
    hand = (label == _P["hands"]) & (view.alpha > 0.5)
    others = mesh.parts[mesh.faces[:, 0]] != _P["hands"]
    alone = hand & ~rasterize_mesh(mesh.vertices, mesh.faces[others], view.camera).coverage.numpy()
    return hand, alone, ras.depth.numpy()


def _pixels_of(gaussians: Gaussians, camera: Cameras) -> tuple[np.ndarray, np.ndarray]:
    """(pixel (N, 2) row/col clipped to the image, camera depth (N,)) of each Gaussian's mean."""
    uv, z = camera.project(gaussians.means.detach())
    ij = uv[0].floor().long().numpy()[:, ::-1].clip(0, camera.height - 1)
    return ij, z[0].numpy()


def _behind_view(view: InputView, gaussians: Gaussians) -> tuple[np.ndarray, np.ndarray]:
    """(rendered alpha, the true head's silhouette) (S, S) from behind the head (its centre, 0.7 m)."""
    head_parts = torch.tensor([_P["head"], _P["face"]])
    verts = view.mesh.vertices
    centre = verts[torch.isin(view.mesh.parts, head_parts)].mean(0)
    cam = Cameras.orbit(centre, 0.7, [180.0], 0.0, 45.0, _SIZE, _SIZE, up=torch.tensor([0.0, -1.0, 0.0]))
    alpha = render(gaussians, cam, background=torch.ones(3)).alpha[0, ..., 0].numpy()
    faces = view.mesh.faces[torch.isin(view.mesh.parts[view.mesh.faces[:, 0]], head_parts)]
    return alpha, rasterize_mesh(verts, faces, cam).coverage.numpy()


@pytest.fixture(scope="module")
def from_true_fit(view):
    gaussians, layers = gaussians_from_prior(_true_fit(view), _OPTIONS, return_layers=True)
    return gaussians, layers


def test_hands_keep_their_true_depth(view, from_true_fit):
    gaussians, layers = from_true_fit
    hand, _, depth = _true_hands(view)
    assert hand.sum() > 300  # both hands show
    ij, z = _pixels_of(gaussians, view.camera)
    visible = np.zeros(len(z), dtype=bool)
    visible[layers["visible"]] = True
    sel = visible & hand[ij[:, 0], ij[:, 1]]
    err = np.abs(z[sel] - depth[ij[sel, 0], ij[sel, 1]])
    assert np.quantile(err, 0.9) < 0.01, f"hand depth off by {np.quantile(err, 0.9):.3f} m (90 %)"


def test_hands_are_thin_no_slab_behind(view, from_true_fit):
    """Where only the hand lies along the ray, no Gaussian is more than the hand's thickness behind
    its front (the head's back there would be a slab reaching 12.8 cm behind the hand)."""
    gaussians, _ = from_true_fit
    _, alone, depth = _true_hands(view)
    assert alone.sum() > 300
    ij, z = _pixels_of(gaussians, view.camera)
    sel = alone[ij[:, 0], ij[:, 1]]
    behind = z[sel] - depth[ij[sel, 0], ij[sel, 1]]
    assert behind.max() < THICKNESS_M + 0.01, f"something {behind.max():.3f} m behind the hand's front"


def test_head_behind_the_hands_is_closed_from_the_back(view, from_true_fit):
    from scipy.ndimage import binary_erosion

    gaussians, _ = from_true_fit
    alpha, head = _behind_view(view, gaussians)
    inside = binary_erosion(head, iterations=2)
    assert inside.sum() > 200
    assert np.quantile(alpha[inside], 0.01) > 0.9, f"holes in the back of the head (alpha 1 % {np.quantile(alpha[inside], 0.01):.2f})"


def test_detected_hands_beside_the_face_lie_near_their_true_depth(view):
    """The photo through MediaPipe (Pose, Face Mesh, Hands) and the body fit: both hands are found,
    and after the harness's depth alignment the hands' visible Gaussians lie within a few cm of the
    true hands, the head closed behind them."""
    pytest.importorskip("mediapipe")
    from humansplat.io.images import load_photo
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person

    crop = detect_person(load_photo(view.photo))
    assert crop.landmarks.left_hand is not None and crop.landmarks.right_hand is not None
    gaussians, layers = gaussians_from_prior(fit_body(crop), _OPTIONS, return_layers=True)
    gaussians, _ = align_depth(gaussians, view.depth, view.camera)
    hand, _, depth = _true_hands(view)
    ij, z = _pixels_of(gaussians, view.camera)
    visible = np.zeros(len(z), dtype=bool)
    visible[layers["visible"]] = True
    sel = visible & hand[ij[:, 0], ij[:, 1]]
    err = np.abs(z[sel] - depth[ij[sel, 0], ij[sel, 1]])
    assert np.median(err) < 0.03, f"hands {np.median(err):.3f} m from their true depth (median)"
    alpha, head = _behind_view(view, gaussians)
    assert np.quantile(alpha[head], 0.05) > 0.9


# ------------------------------------------------------------------------------------------------ unit
def _open_hand(wrist: tuple[float, float], size: float) -> np.ndarray:
    """(21, 2) MediaPipe Hands landmarks (u, v) of an open hand, fingers spread upwards."""
    pts = [np.array(wrist, dtype=float)]
    for k, angle in enumerate((-60.0, -25.0, -5.0, 15.0, 35.0)):  # thumb, index, middle, ring, pinky
        d = np.array([math.sin(math.radians(angle)), -math.cos(math.radians(angle))])
        base = pts[0] + (0.5 if k == 0 else 1.0) * size * d
        pts += [base + j * 0.35 * size * d for j in range(4)]
    return np.asarray(pts)


def test_landmark_hand_covers_palm_and_fingers_not_the_gaps():
    mask = np.ones((64, 64), dtype=bool)
    pts = _open_hand((32.0, 56.0), 14.0)
    hand = landmark_hand(pts, mask)
    for u, v in pts:
        assert hand[int(v), int(u)], f"landmark ({u:.1f}, {v:.1f}) not on the hand"
    tip_i, tip_p = pts[8], pts[20]  # index and pinky finger tips: the face shows between them
    between = 0.5 * (tip_i + tip_p)
    assert not hand[int(between[1]), int(between[0])]
    mask[:, :32] = False
    assert not (landmark_hand(pts, mask) & ~mask).any()


def _head_maps(S: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(head (S, S) bool, front depth (S, S)): a round head of radius 12 px at 1 m, 10 cm deep."""
    vv, uu = np.mgrid[0:S, 0:S] + 0.5
    r2 = ((uu - 32) ** 2 + (vv - 24) ** 2) / 12.0**2
    head = r2 < 1.0
    front = np.where(head, 1.0 - 0.1 * np.sqrt(np.clip(1.0 - r2, 0.0, None)), 0.0)
    return head, front


def test_hand_over_the_face_lies_in_front_of_it():
    head, front = _head_maps()
    hand = np.zeros_like(head)
    hand[20:28, 28:36] = True  # on the face
    face = np.where(head, front, np.nan)
    surf = hand_surfaces([hand], head & ~hand, front, front, np.zeros_like(head), face, 0.005)
    expected = np.median(front[hand]) - GAP_M - THICKNESS_M
    assert np.allclose(surf.front[hand], expected)
    assert np.allclose(surf.back[hand] - surf.front[hand], THICKNESS_M)
    assert not surf.pixels[~hand].any()


def test_hand_beside_the_head_lies_at_the_heads_side_and_a_fitted_hand_keeps_its_own_depth():
    head, front = _head_maps()
    beside = np.zeros_like(head)
    beside[18:30, 45:52] = True  # just right of the head's outline
    face = np.where(head, front, np.nan)
    surf = hand_surfaces([beside], head, front, front, np.zeros_like(head), face, 0.005)
    side = surf.front[beside] + 0.5 * THICKNESS_M
    assert np.allclose(side, side[0]) and 0.96 < side[0] <= 1.0  # the head's side, not its face (0.9 m)
    body_front = np.full(head.shape, 0.8)
    fitted = beside.copy()
    fitted[18:22] = False
    surf = hand_surfaces([beside], head, front, body_front, fitted, face, 0.005)
    assert np.allclose(surf.front[beside], 0.8)


def test_only_hands_near_the_head_count():
    head, _ = _head_maps()
    near, far = _open_hand((50.0, 40.0), 8.0), _open_hand((10.0, 62.0), 6.0)
    landmarks = Landmarks(np.zeros((33, 2), np.float32), np.zeros(33, np.float32), left_hand=near, right_hand=far)
    mask = np.ones_like(head)
    found = hands_near_head(landmarks, 64, mask, np.zeros_like(head), head, 0.005)
    assert len(found) == 1 and found[0][int(near[9, 1]), int(near[9, 0])]


# ------------------------------------------------------------------------------------------------ photo
def test_p05_v_sign_hand_stays_a_hand(shared_photos):
    """A real selfie with a V sign: the hand Hands finds stays a hand-sized object in front of the
    head's back, not a slab (its Gaussians span less than 15 cm in depth)."""
    pytest.importorskip("mediapipe")
    from humansplat.io.images import load_photo
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person

    photo = shared_photos / "portrait" / "P05_selfie_vsign.jpg"
    if not photo.exists():
        pytest.skip(f"{photo} is absent")
    crop = detect_person(load_photo(photo), size=256)
    hands = [h for h in (crop.landmarks.left_hand, crop.landmarks.right_hand) if h is not None]
    assert hands, "MediaPipe Hands found no hand"
    fit = fit_body(crop)
    gaussians = gaussians_from_prior(fit, PriorOptions(resolution=128, colour_iterations=0))
    ij, z = _pixels_of(gaussians, fit.camera)
    region = landmark_hand(hands[0], np.asarray(crop.mask) > 0.5)
    on = region[ij[:, 0], ij[:, 1]]
    lo, hi = np.quantile(z[on], [0.02, 0.98])
    head = torch.isin(fit.parts, torch.tensor([_P["head"], _P["face"]]))
    head_back = float(fit.camera.world_to_camera(fit.vertices[head].detach())[0, :, 2].max())
    assert hi - lo < 0.15, f"the hand spans {hi - lo:.3f} m in depth"
    assert np.median(z[on]) < head_back
