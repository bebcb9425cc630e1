"""Training losses: L_rec, part masks of a synthetic person, the hierarchical part loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.parts import PART_NAMES, PART_WEIGHTS
from humansplat.objectives import (
    face_parts,
    hierarchical_loss,
    make_lpips,
    part_boxes,
    part_masks,
    reconstruction_loss,
    training_loss,
)

HEAD, FACE, TORSO, FEET = (PART_NAMES.index(n) for n in ("head", "face", "torso", "feet"))


def _images(c=2, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(c, h, w, 3, generator=g), torch.rand(c, h, w, 1, generator=g)


class FakePerceptual:
    """Mean absolute difference per image pair; checks the [-1, 1] input contract."""

    def __init__(self):
        self.shapes = []

    def __call__(self, x, y):
        assert x.shape == y.shape and x.shape[1] == 3 and x.ndim == 4
        assert float(x.min()) >= -1.0 - 1e-6 and float(x.max()) <= 1.0 + 1e-6
        self.shapes.append(tuple(x.shape))
        return (x - y).abs().mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)


# ---------------------------------------------------------------------------------------------- L_rec
def test_reconstruction_loss_zero_for_identical_positive_otherwise():
    rgb, alpha = _images()
    same = reconstruction_loss(rgb, alpha, rgb.clone(), alpha[..., 0].clone())
    assert float(same.total) == 0.0 and same.perceptual is None and same.skipped == ("perceptual",)
    worse = reconstruction_loss((rgb + 0.1).clamp(0, 1), alpha, rgb, alpha)
    assert float(worse.rgb) > 0 and float(worse.mask) == 0.0 and float(worse.total) == pytest.approx(float(worse.rgb))
    lpips = FakePerceptual()
    both = reconstruction_loss(rgb * 0.5, alpha * 0.5, rgb, alpha, lpips_fn=lpips, weights=(1.0, 2.0, 3.0))
    expected_rgb = float((rgb * 0.5 - rgb).square().mean())
    expected_mask = float((alpha * 0.5 - alpha).square().mean())
    expected_perc = float((rgb * 0.5 - rgb).abs().mean() * 2)  # inputs are mapped to [-1, 1]
    assert float(both.rgb) == pytest.approx(expected_rgb)
    assert float(both.mask) == pytest.approx(expected_mask)
    assert float(both.perceptual) == pytest.approx(expected_perc, rel=1e-5)
    assert float(both.total) == pytest.approx(expected_rgb + 2 * expected_mask + 3 * expected_perc, rel=1e-5)
    assert lpips.shapes == [(2, 3, 8, 8)] and both.skipped == ()


def test_reconstruction_loss_is_differentiable_and_checks_shapes():
    rgb, alpha = _images()
    pred = torch.full_like(rgb, 0.5, requires_grad=True)
    reconstruction_loss(pred, alpha, rgb, alpha).total.backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match=r"share \(C, H, W\)"):
        reconstruction_loss(rgb, alpha, rgb[:, :4], alpha)
    with pytest.raises(ValueError, match="channel-last"):
        reconstruction_loss(rgb.permute(0, 3, 1, 2), alpha, rgb, alpha)
    with pytest.raises(ValueError, match="non-negative"):
        reconstruction_loss(rgb, alpha, rgb, alpha, weights=(1.0, -1.0, 1.0))


# ---------------------------------------------------------------------------------------------- part masks
@pytest.fixture(scope="module")
def person():
    from humansplat.prior.synthetic import make_synthetic_person

    return make_synthetic_person(seed=3, size=64)


@pytest.fixture(scope="module")
def views(person):
    """The input camera and orbit views at azimuth 90 and 180 around the body."""
    from humansplat.network.pipeline_humansplat import body_orbit_cameras

    return Cameras.cat([person.crop.camera, body_orbit_cameras(person.as_body_fit(), [90.0, 180.0], 0.0, 64, 64)])


@pytest.fixture(scope="module")
def masks(person, views):
    return part_masks(person, views)


def test_face_parts_majority_vote():
    parts = torch.tensor([0, 1, 1, 2, 3])
    faces = torch.tensor([[0, 1, 2], [1, 2, 0], [0, 3, 4], [3, 3, 1], [0, 1, 1]])
    assert face_parts(faces, parts).tolist() == [1, 1, 0, 2, 1]


def test_part_masks_partition_the_silhouette(person, views, masks):
    from humansplat.render.mesh import rasterize_mesh

    assert masks.shape == (3, len(PART_NAMES), 64, 64) and masks.dtype == torch.float32
    total = masks.sum(1)
    assert set(torch.unique(masks).tolist()) <= {0.0, 1.0}
    assert float(total.max()) == 1.0  # no pixel belongs to two parts
    for c in range(len(views)):
        coverage = rasterize_mesh(person.vertices, person.faces, views[c]).coverage.float()
        assert torch.equal(total[c], coverage)
        assert int(coverage.sum()) > 200
    # antialiased masks still partition the coverage, and match the synthetic renderer's own mask
    soft = part_masks(person.vertices, views[:1], person.faces, person.parts, supersample=2)
    assert float(soft.sum(1).max()) <= 1.0 + 1e-6
    np.testing.assert_allclose(soft[0].sum(0).numpy(), person.crop.mask, atol=1e-6)


def test_head_mask_lands_on_the_head_and_occlusion_hides_the_face(person, views, masks):
    cam = views[0]
    uv = cam.project(person.vertices)[0][0]
    head_uv = uv[person.parts == HEAD].mean(0)
    ys, xs = torch.nonzero(masks[0, HEAD] > 0, as_tuple=True)
    centroid = torch.stack([xs.float().mean() + 0.5, ys.float().mean() + 0.5])
    assert float((centroid - head_uv).norm()) < 4.0  # pixels, in a 64 px view of a ~52 px tall person

    def row(c, p):  # mean image row of a part's pixels
        return float(torch.nonzero(masks[c, p] > 0)[:, 0].float().mean())

    for c in range(3):  # upright in every view: head above torso above feet
        assert row(c, HEAD) < row(c, TORSO) < row(c, FEET)
    # the face is seen from the front; from behind the back of the head hides it (z-buffer)
    front, back = float(masks[0, FACE].sum()), float(masks[2, FACE].sum())
    assert front >= 10 and back <= 0.1 * front
    assert float(masks[2, HEAD].sum()) > float(masks[0, HEAD].sum())


def test_part_masks_errors(person, views):
    with pytest.raises(ValueError, match="faces and parts are needed"):
        part_masks(person.vertices, views)
    with pytest.raises(ValueError, match=r"part labels must lie in \[0, 7\)"):
        part_masks(person.vertices, views[:1], person.faces, person.parts + 5)


def test_part_boxes():
    m = torch.zeros(1, 2, 10, 12)
    m[0, 0, 2:4, 5:9] = 1.0
    m[0, 1, 0, 0] = 1.0  # one pixel: below min_pixels
    boxes, seen = part_boxes(m, margin=1, min_pixels=2)
    assert seen.tolist() == [[True, False]]
    assert boxes[0, 0].tolist() == [4, 1, 10, 5] and boxes[0, 1].tolist() == [0, 0, 0, 0]


# ---------------------------------------------------------------------------------------------- L_hier
def _head_error_case(masks, d: float):
    """Ground truth in [0.2, 0.8], a prediction off by ``d`` on every head pixel only."""
    C, _, H, W = masks.shape
    g = torch.Generator().manual_seed(1)
    gt = 0.2 + 0.6 * torch.rand(C, H, W, 3, generator=g)
    mask = masks.sum(1)
    head = masks[:, HEAD, :, :, None]
    return gt + d * head, mask, gt, mask


def test_hierarchical_loss_zero_for_identical(masks):
    pred, alpha, gt, mask = _head_error_case(masks, 0.0)
    terms = hierarchical_loss(pred, alpha, gt, mask, masks)
    assert float(terms.total) == 0.0
    assert set(terms.parts) == {n for n in PART_NAMES if terms.views[n] > 0}
    assert terms.views["face"] == 2  # not in the back view
    assert terms.normalizer == pytest.approx(sum(PART_WEIGHTS[n] for n in terms.parts))


def test_hierarchical_weights_applied_as_documented(masks):
    pred, alpha, gt, mask = _head_error_case(masks, 0.1)
    terms = hierarchical_loss(pred, alpha, gt, mask, masks, region="mask")
    head = terms.parts["head"]
    assert float(head.rgb) == pytest.approx(0.01, rel=1e-4) and float(head.mask) == 0.0  # d^2 on head pixels
    assert all(float(t.total) == 0.0 for n, t in terms.parts.items() if n != "head")  # the parts partition pixels
    all_seen = sum(PART_WEIGHTS.values())
    assert terms.normalizer == pytest.approx(all_seen)  # every part is seen in some view
    assert float(terms.total) == pytest.approx(PART_WEIGHTS["head"] * 0.01 / all_seen, rel=1e-4)  # 2 L_head / 11

    doubled = hierarchical_loss(*_head_error_case(masks, 0.2), masks, region="mask")
    assert float(doubled.total) == pytest.approx(4 * float(terms.total), rel=1e-4)
    halved = hierarchical_loss(pred, alpha, gt, mask, masks, region="mask", part_weights={**PART_WEIGHTS, "head": 1.0})
    # λ_head 2 -> 1 changes the numerator and the normaliser: 1 * L_head / 10
    assert halved.normalizer == pytest.approx(all_seen - 1)
    assert float(halved.total) == pytest.approx(0.01 / (all_seen - 1), rel=1e-4)


def test_hierarchical_box_region_and_perceptual_crops(masks):
    pred, alpha, gt, mask = _head_error_case(masks, 0.1)
    lpips = FakePerceptual()
    terms = hierarchical_loss(pred, alpha, gt, mask, masks, lpips_fn=lpips, crop_size=16)
    seen = sum(terms.views.values())
    assert lpips.shapes == [(seen, 3, 16, 16)]  # one batched call over every seen (view, part) crop
    assert float(terms.parts["face"].rgb) > 0  # the head's error shows in the face's box
    assert float(terms.parts["feet"].total) == 0.0 and float(terms.parts["head"].perceptual) > 0
    manual = sum(PART_WEIGHTS[n] * float(t.total) for n, t in terms.parts.items()) / terms.normalizer
    assert float(terms.total) == pytest.approx(manual, rel=1e-5)


def test_training_loss_adds_weighted_hierarchical_term(masks):
    pred, alpha, gt, mask = _head_error_case(masks, 0.1)
    pred = pred.requires_grad_(True)
    t = training_loss(pred, alpha, gt, mask, masks, hierarchical_weight=0.5)
    assert float(t.total.detach()) == pytest.approx(
        t.as_floats()["rec/total"] + 0.5 * t.as_floats()["hier/total"], rel=1e-6
    )
    t.total.backward()
    assert float(pred.grad[masks[:, HEAD] > 0].abs().sum()) > 0
    off = training_loss(pred, alpha, gt, mask, masks, hierarchical_weight=0.0)
    assert off.hierarchical is None and "hier/total" not in off.as_floats()
    with pytest.raises(ValueError, match="masks must be"):
        hierarchical_loss(pred, alpha, gt, mask, masks[:, :, :8])


def test_make_lpips_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lpips", None)  # not installed (as here: it needs torchvision + a download)
    with pytest.raises(ImportError, match="pip install lpips"):
        make_lpips("vgg")
