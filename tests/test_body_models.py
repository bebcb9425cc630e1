"""Body models: the anny backend against anny itself, frames, landmarks, parts, priors; smplx errors."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from humansplat.errors import WeightsUnavailableError
from humansplat.prior.body_models import (
    HINGE_GROUPS,
    LANDMARK_NAMES,
    POSE_GROUPS,
    BodyParams,
    axis_angle_to_matrix,
    default_pose_limits,
    get_body_model,
    matrix_to_axis_angle,
)
from humansplat.parts import PART_NAMES


@pytest.fixture(scope="module")
def anny():
    return get_body_model("anny")


def _random_params(model, seed: int, scale: float = 0.4) -> BodyParams:
    g = torch.Generator().manual_seed(seed)
    p = model.neutral_params()
    p.body_pose = torch.randn(len(POSE_GROUPS), 3, generator=g) * scale
    p.shape = torch.rand(len(model.shape_names), generator=g) * 0.5 + 0.25
    p.global_orient = torch.randn(3, generator=g) * 0.5
    p.translation = torch.tensor([0.1, -0.2, 3.0])
    return p


def test_rotations_round_trip():
    g = torch.Generator().manual_seed(0)
    r = torch.randn(64, 3, generator=g)
    r = r / r.norm(dim=-1, keepdim=True) * torch.rand(64, 1, generator=g) * 3.0  # angles up to 3 rad
    R = axis_angle_to_matrix(r)
    eye = torch.eye(3).expand_as(R)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(64), atol=1e-5)
    assert torch.allclose(matrix_to_axis_angle(R), r, atol=2e-4)
    # 90 deg about z maps x to y; the zero vector is the identity with a finite gradient.
    Rz = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    assert torch.allclose(Rz @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    z = torch.zeros(3, requires_grad=True)
    axis_angle_to_matrix(z).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_pose_limits_mirror_left_right():
    lo, hi = default_pose_limits()
    assert (lo <= hi).all()
    for group in POSE_GROUPS:
        if group.endswith(".L"):
            left, right = POSE_GROUPS.index(group), POSE_GROUPS.index(group[:-2] + ".R")
            if group in HINGE_GROUPS:
                assert torch.equal(lo[left], lo[right]) and torch.equal(hi[left], hi[right])
            else:
                assert torch.allclose(lo[right, 1:], -hi[left, 1:]) and torch.allclose(lo[right, 0], lo[left, 0])


def test_get_body_model_is_cached_and_thread_safe(anny):
    got = []
    threads = [threading.Thread(target=lambda: got.append(get_body_model("anny"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m is anny for m in got)
    with pytest.raises(ValueError, match="anny, smplx"):
        get_body_model("smpl-xyz")


def test_anny_static_data(anny):
    V = anny.num_vertices
    assert V == 13718
    assert anny.faces.dtype == torch.int64 and anny.faces.shape[1] == 3
    assert int(anny.faces.min()) == 0 and int(anny.faces.max()) == V - 1
    assert anny.parts.shape == (V,) and anny.parts.dtype == torch.int64
    counts = torch.bincount(anny.parts, minlength=len(PART_NAMES))
    assert len(counts) == len(PART_NAMES) and (counts > 200).all(), dict(zip(PART_NAMES, counts.tolist()))
    assert anny.hinge_axes.shape == (len(HINGE_GROUPS), 3)
    assert torch.allclose(anny.hinge_axes.norm(dim=-1), torch.ones(len(HINGE_GROUPS)))


def test_anny_forward_matches_anny_itself(anny):
    """Our sparse skinning + frame conversion reproduce anny's own forward exactly."""
    from humansplat.prior.body_models.anny_model import ANNY_TO_MODEL

    p = _random_params(anny, 1)
    ours = anny(p)
    delta = torch.eye(4).repeat(1, len(anny.joint_names), 1, 1)
    rot = torch.einsum("np,pc->nc", anny._group_share, p.body_pose) @ ANNY_TO_MODEL
    delta[0, anny._posed_bones, :3, :3] = axis_angle_to_matrix(rot)
    ref = anny._anny(delta, phenotype_kwargs=p.shape[None])
    root = ref["bone_poses"][0, 0, :3, 3]
    expected = (ref["vertices"][0] - root) @ ANNY_TO_MODEL.T @ axis_angle_to_matrix(p.global_orient).T + p.translation
    assert torch.allclose(ours.vertices, expected.float(), atol=1e-4)
    # Landmarks: the COCO points anny regresses from its full mesh.
    import anny as anny_pkg

    coco = anny_pkg.KeypointsRegressor.coco(anny._anny)
    kp = (coco({"vertices": ref["vertices"]})[0] - root) @ ANNY_TO_MODEL.T @ axis_angle_to_matrix(p.global_orient).T + p.translation
    for ours_name, coco_name in (("nose", "nose"), ("left_shoulder", "left_shoulder"), ("right_knee", "right_knee"), ("left_heel", "left_heel")):
        assert torch.allclose(ours.landmarks[LANDMARK_NAMES.index(ours_name)], kp[coco.labels.index(coco_name)].float(), atol=1e-4)


def test_subset_batch_and_rest_state_agree(anny):
    p = _random_params(anny, 2)
    full = anny(p)
    idx = torch.tensor([0, 17, 5000, 13717])
    sub = anny(p, idx)
    assert torch.allclose(sub.vertices, full.vertices[idx], atol=1e-5)
    assert torch.allclose(sub.landmarks, full.landmarks, atol=1e-5)
    # Batched parameters keep their leading dimension.
    pb = BodyParams(*(torch.stack([getattr(p, f), getattr(p, f)]) for f in ("global_orient", "translation", "body_pose", "shape")))
    assert anny(pb, idx).vertices.shape == (2, 4, 3)
    # The shape linearisation is exact at its expansion point and within ~1 mm nearby.
    rest = anny.rest_state(p.shape, idx)
    assert torch.allclose(anny(p, idx, rest).landmarks, full.landmarks, atol=1e-5)
    near = p.replace(shape=p.shape + 0.02)
    assert (anny(near, idx, rest).landmarks - anny(near, idx).landmarks).norm(dim=-1).max() < 2e-3
    with pytest.raises(ValueError, match="another vertex_index"):
        anny(p, idx[:2], rest)


def test_anny_frame_and_size(anny):
    """Model frame: y down, facing -z, subject's left at +x, root at the translation; adult height."""
    p = anny.neutral_params()
    out = anny(p)
    L = {n: out.landmarks[i] for i, n in enumerate(LANDMARK_NAMES)}
    assert torch.allclose(out.joints[0], p.translation, atol=1e-5)
    assert L["nose"][1] < L["left_shoulder"][1] < L["left_hip"][1] < L["left_knee"][1] < L["left_ankle"][1]
    assert L["nose"][2] < L["left_ear"][2]  # the face is towards the camera (-z)
    assert L["left_shoulder"][0] > 0 > L["right_shoulder"][0]
    assert L["left_foot_index"][2] < L["left_heel"][2]  # toes point forward
    height = float(out.vertices[:, 1].max() - out.vertices[:, 1].min())
    assert 1.6 < height < 1.8


def test_parts_are_where_they_belong(anny):
    out = anny(anny.neutral_params())
    v, L = out.vertices, {n: out.landmarks[i] for i, n in enumerate(LANDMARK_NAMES)}

    def part(name: str) -> torch.Tensor:
        return v[anny.parts == PART_NAMES.index(name)]

    wrists = torch.stack([L["left_wrist"], L["right_wrist"]])
    hands = part("hands")
    elbows = torch.stack([L["left_elbow"], L["right_elbow"]])
    to_wrist = torch.cdist(hands, wrists).min(dim=1).values
    assert to_wrist.max() < 0.25  # every hand vertex within 25 cm of a wrist (fingers included)
    assert (to_wrist < torch.cdist(hands, elbows).min(dim=1).values).all()  # ... and nearer a wrist than an elbow
    ankles = torch.stack([L["left_ankle"], L["right_ankle"]])
    assert torch.cdist(part("feet"), ankles).min(dim=1).values.max() < 0.25
    assert (part("face") - L["nose"]).norm(dim=-1).max() < 0.16
    assert part("face")[:, 2].mean() < part("head")[:, 2].mean()  # the face is the head's front
    assert part("head")[:, 1].max() < L["left_shoulder"][1]  # head above the shoulders
    assert part("legs")[:, 1].min() > L["left_shoulder"][1]
    assert part("torso")[:, 1].mean() < part("legs")[:, 1].mean()


def test_hinges_bend_the_natural_way(anny):
    p = anny.neutral_params()
    base = anny(p).landmarks
    k = HINGE_GROUPS.index("knee.L")
    p.body_pose[POSE_GROUPS.index("knee.L")] = math.radians(60) * anny.hinge_axes[k]
    e = HINGE_GROUPS.index("elbow.R")
    p.body_pose[POSE_GROUPS.index("elbow.R")] = math.radians(60) * anny.hinge_axes[e]
    bent = anny(p).landmarks
    ankle, knee = LANDMARK_NAMES.index("left_ankle"), LANDMARK_NAMES.index("left_knee")
    assert bent[ankle, 2] - base[ankle, 2] > 0.15  # shin swings backward (+z)
    assert (bent[knee] - base[knee]).norm() < 0.03  # the knee itself stays (surface point: moves a little)
    wrist, shoulder = LANDMARK_NAMES.index("right_wrist"), LANDMARK_NAMES.index("right_shoulder")
    assert bent[wrist, 2] < base[wrist, 2]  # forearm comes forward
    assert (bent[wrist] - bent[shoulder]).norm() < (base[wrist] - base[shoulder]).norm() - 0.05


def test_forward_is_differentiable(anny):
    p = _random_params(anny, 3)
    for name in ("global_orient", "translation", "body_pose", "shape"):
        getattr(p, name).requires_grad_(True)
    out = anny(p, torch.arange(0, anny.num_vertices, 50))
    (out.vertices.square().sum() + out.landmarks.square().sum()).backward()
    for name in ("global_orient", "translation", "body_pose", "shape"):
        grad = getattr(p, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_smplx_without_files_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("HUMANSPLAT_SMPLX_DIR", raising=False)
    with pytest.raises(WeightsUnavailableError, match="HUMANSPLAT_SMPLX_DIR"):
        get_body_model("smplx")
    monkeypatch.setenv("HUMANSPLAT_SMPLX_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match=str(tmp_path).replace("\\", "\\\\")):
        get_body_model("smplx")
    # A failed load is not cached: anny is unaffected.
    assert get_body_model("anny").name == "anny"
    assert np.all(np.isfinite(get_body_model("anny").hinge_axes.numpy()))
