"""Body regions of the binding: parts that touch in the photo separate, skirts keep their blend.

Built-in people with contacts (:mod:`humansplat.animate.people`, 128 px, prior-mode Gaussians):
the right hand on the head, loose trousers whose legs touch, a skirt, a hand in front of the belly,
hands in the pockets, crossed arms. Each binds in a few seconds; the first use of the body model
compiles its kernels.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from humansplat.animate import (
    REGION_NAMES,
    BindOptions,
    bind,
    get_motion,
    load_bound_avatar,
    save_bound_avatar,
    tear_stats,
)
from humansplat.animate.bind import _dense_vertex_weights
from humansplat.animate.people import make_contact_person
from humansplat.animate.regions import bone_regions
from humansplat.prior.body_models import get_body_model
from humansplat.parts import PART_NAMES

SIZE = 128
MAX_STRETCH = 2.0
"""Largest stretch factor allowed between parts that touch in the photo: the fitted body's own skin
stretches up to 1.8 (loose trousers) and 2.0 (hand on head) under the walk (linear blend skinning at
the hips and shoulders, its edges measured with the same 5 mm floor); a splat stretched more has
neighbours pulled apart further than any skin is."""
FLOAT_M = 0.03
"""A Gaussian floats when its distance to the posed body's skin grows by more than this (metres):
the body model's own blended skin moves up to 2 cm from its forward pass (test_animate.py), a
membrane Gaussian half-way between a hand and a head 30 cm apart floats 10 cm or more."""


@functools.lru_cache(maxsize=8)
def _person(name: str):
    from humansplat.prior_mode.build import gaussians_from_prior

    fit = make_contact_person(name, SIZE)
    return fit, gaussians_from_prior(fit)


@functools.lru_cache(maxsize=8)
def _avatar(name: str, regions: bool = True):
    fit, g = _person(name)
    return bind(g, fit, BindOptions(regions=regions))


def _vertex_regions(avatar) -> np.ndarray:
    body = get_body_model(avatar.rig.backend)
    return bone_regions(avatar.rig)[_dense_vertex_weights(body, avatar.rig.num_bones).argmax(1)]


def _region(name: str) -> int:
    return REGION_NAMES.index(name)


def _between(fit, avatar, a: str, b: str, within: float = 0.04, points: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the avatar's Gaussians (or ``points`` (N, 3)) within ``within`` metres of the skin
    of both ``a`` and ``b`` (a region name, or "hand.R": the right arm's hand)."""
    vreg = _vertex_regions(avatar)
    parts = fit.parts.numpy()
    verts = fit.vertices.numpy()
    points = avatar.gaussians.means.numpy() if points is None else points

    def skin(name: str) -> np.ndarray:
        if name.startswith("hand."):
            return (vreg == _region("arm." + name[-1])) & (parts == PART_NAMES.index("hands"))
        return vreg == _region(name)

    return np.logical_and.reduce([cKDTree(verts[skin(n)]).query(points)[0] < within for n in (a, b)])


def _float_growth(avatar, fit, motion: str, select: np.ndarray, frames: int = 8) -> float:
    """Largest growth (metres) over ``frames`` of ``motion`` of the distance from the selected
    Gaussians to the nearest skin of the body posed the same way (the body's own skinning)."""
    body = get_body_model(avatar.rig.backend)
    w, idx = body.skin_weights()
    verts = fit.vertices.float()
    X = torch.cat([verts, torch.ones(len(verts), 1)], 1)
    rest = avatar.gaussians.means[torch.from_numpy(select)]
    d0 = cKDTree(verts.numpy()).query(rest.numpy())[0]
    _, poses = get_motion(motion).sample(frames, avatar.rig.backend)
    from humansplat.animate import repose

    worst = 0.0
    for pose, T, g in zip(poses, avatar.rig.skin_transforms(poses), repose(avatar, poses)):
        skin = torch.einsum("vk,vkij,vj->vi", w, T[idx], X)[:, :3]
        d = cKDTree(skin.numpy()).query(g.means[torch.from_numpy(select)].numpy())[0]
        worst = max(worst, float((d - d0).max()))
    return worst


# ----------------------------------------------------------------------------- region assignment
@pytest.mark.parametrize("name, arms", [("hand_before_belly", ("arm.R",)), ("arms_crossed", ("arm.L", "arm.R"))])
def test_regions_of_overlapping_parts(name, arms):
    """Where the answer is known: each Gaussian lies on one skin surface (a body without clothes,
    prior mode's layers sit on the body's front, first exit and last exit); the region of that skin is
    the truth wherever no other region's skin is within 3 cm. The arms' Gaussians and those
    of the torso behind them must get it right."""
    fit, g = _person(name)
    avatar = _avatar(name)
    verts = fit.vertices.numpy()
    vreg = _vertex_regions(avatar)
    pts = g.means.numpy()
    d, nn = cKDTree(verts).query(pts)
    truth = vreg[nn]
    other = np.full(len(pts), np.inf)
    for r in np.unique(vreg):
        far_from = truth != r
        if far_from.any():
            other[far_from] = np.minimum(other[far_from], cKDTree(verts[vreg == r]).query(pts[far_from])[0])
    known = (d < 0.015) & (other > 0.03)
    # the arms, and the torso's Gaussians that project within the arms' pixels (behind them)
    arm_ids = [_region(a) for a in arms]
    uv = fit.camera.project(g.means)[0][0].numpy().astype(int)
    arm_px = np.zeros((SIZE, SIZE), dtype=bool)
    on_arm = np.isin(truth, arm_ids) & known
    arm_px[np.clip(uv[on_arm, 1], 0, SIZE - 1), np.clip(uv[on_arm, 0], 0, SIZE - 1)] = True
    behind = arm_px[np.clip(uv[:, 1], 0, SIZE - 1), np.clip(uv[:, 0], 0, SIZE - 1)] & (truth == _region("torso")) & known
    got = avatar.regions.numpy()
    assert on_arm.sum() > 100 and behind.sum() > 20  # the case has overlaps to tell apart
    for sel in (on_arm, behind):
        assert (got[sel] == truth[sel]).mean() > 0.95, (name, np.bincount(got[sel], minlength=len(REGION_NAMES)))
    # and every Gaussian whose answer is known
    assert (got[known] == truth[known]).mean() > 0.95


# ----------------------------------------------------------------------------- contacts separate
@pytest.mark.parametrize(
    "name, a, b, motions",
    [("hand_on_head", "hand.R", "head", ("wave", "walk")), ("trousers", "leg.L", "leg.R", ("walk", "wave"))],
)
def test_contacts_separate_without_a_membrane(name, a, b, motions):
    """Gaussians within 4 cm of the skin of both touching parts (the right hand and the head, the two
    legs in loose trousers) stretch by at most MAX_STRETCH (:func:`tear_stats`) and stay within
    FLOAT_M of their own distance to the posed body's skin: none is left as a membrane between the
    parts as they move apart. The binding without regions stretches them beyond MAX_STRETCH (31 between
    hand and head, 2.3 between the legs), so the case is real."""
    fit, _ = _person(name)
    new, old = _avatar(name), _avatar(name, regions=False)
    between = _between(fit, new, a, b)
    assert between.sum() >= 20
    for motion in motions:
        stats = tear_stats(new, motion, frames=8)
        assert stats.stretch[between].max() < MAX_STRETCH, motion
        assert _float_growth(new, fit, motion, between) < FLOAT_M, motion
    assert tear_stats(old, motions[0], frames=8, regions=new.regions).stretch[between].max() > MAX_STRETCH


def test_trousers_split_between_the_legs():
    """Legs together in trousers: no cloth region; each Gaussian below the crotch follows one leg."""
    avatar = _avatar("trousers")
    regions = avatar.regions.numpy()
    assert not (regions == _region("cloth")).any()
    legs = {s: set(avatar.rig.descendants(f"upperleg01.{s}")) for s in "LR"}
    share = {s: (avatar.weights * torch.isin(avatar.bones, torch.tensor(sorted(v)))).sum(1).numpy() for s, v in legs.items()}
    for s in "LR":
        on = regions == _region(f"leg.{s}")
        assert on.sum() > 500 and np.median(share[s][on]) > 0.99


def test_skirt_keeps_its_blend():
    """A skirt over both legs is cloth and blends both legs; its tear share over the walk is at the
    level of the binding without regions (which blends everything below the crotch) or better."""
    new, old = _avatar("skirt"), _avatar("skirt", regions=False)
    regions = new.regions.numpy()
    cloth = regions == _region("cloth")
    assert cloth.sum() > 0.1 * len(regions)
    legs = [torch.tensor(sorted(new.rig.descendants(f"upperleg01.{s}"))) for s in "LR"]
    shares = [(new.weights * torch.isin(new.bones, leg)).sum(1).numpy()[cloth] for leg in legs]
    assert (np.minimum(*shares) > 0.3).mean() > 0.1  # cloth between the legs moves with both
    before, after = (tear_stats(av, "walk", frames=8, regions=new.regions) for av in (old, new))
    assert after.region_tear_share <= before.region_tear_share + 0.002
    assert after.max_stretch <= before.max_stretch * 1.1


# ----------------------------------------------------------------------------- the measure, files
def test_tear_stats_counts_what_moves_apart():
    """A rigid avatar (every Gaussian on the root bone) neither tears nor stretches; splitting it in
    two halves on the two legs tears exactly along the cut (other-region neighbours only)."""
    _, g = _person("trousers")
    avatar = _avatar("trousers")
    n = len(g)
    root = torch.zeros(n, 4, dtype=torch.int64)
    one = torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(n, 1)
    rigid = type(avatar)(avatar.gaussians, one, root, avatar.rig, regions=avatar.regions)
    s = tear_stats(rigid, "walk", frames=6)
    assert s.tear_share == 0.0 and s.max_stretch == pytest.approx(1.0, abs=1e-3)
    x = g.means[:, 0]
    left = x > x.median()
    bones = torch.where(left[:, None], avatar.rig.joint_names.index("lowerleg01.L"), avatar.rig.joint_names.index("lowerleg01.R"))
    split = type(avatar)(avatar.gaussians, one, bones.expand(n, 4).clone(), avatar.rig, regions=left.long())
    s = tear_stats(split, "walk", frames=6)
    assert s.cut_share > 0.0 and s.region_tear_share == 0.0 and s.tear_share == s.cut_share


def test_regions_travel_with_the_bound_ply(tmp_path):
    avatar = _avatar("hand_on_head")
    ply, _ = save_bound_avatar(avatar, tmp_path / "a.ply")
    back = load_bound_avatar(ply)
    assert torch.equal(back.regions, avatar.regions)


def test_rigged_mesh_is_cut_between_touching_parts():
    """The .glb's mesh separates between the hand and the head as the Gaussians do: re-posed to the
    wave with its own weights, no edge between them (both ends within 4 cm of the hand's and the
    head's skin) grows by more than FLOAT_M (the mesh bound without regions stretches faces from the
    hand to the head), and the cuts (hand and head, hands and hips, the legs) cost under 10 % of the
    faces of this coarse 48-voxel mesh."""
    from humansplat.animate.export import rigged_mesh

    fit, _ = _person("hand_on_head")
    T = _avatar("hand_on_head").rig.skin_transforms([get_motion("wave").pose_at(1.0)])[0].double().numpy()

    def longest_growth(regions: bool) -> tuple[float, int]:
        verts, faces, _, w, b = rigged_mesh(_avatar("hand_on_head", regions), 48, body_fit=fit, options=BindOptions(regions=regions))
        posed = np.einsum("vk,vkij,vj->vi", w, T[b], np.c_[verts, np.ones(len(verts))])[:, :3]
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        near = _between(fit, _avatar("hand_on_head"), "hand.R", "head", points=verts)
        edges = edges[near[edges].all(1)]
        grow = np.linalg.norm(posed[edges[:, 0]] - posed[edges[:, 1]], axis=1) - np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
        return float(grow.max()), len(faces)

    (new, n_new), (old, n_old) = longest_growth(True), longest_growth(False)
    assert new < FLOAT_M < old
    assert n_new > 0.9 * n_old


def test_hands_the_photo_does_not_show_stay_with_the_body():
    """Hands in the pockets: where the fitted hands lie, the photo shows trousers. Points on the
    fitted hands' skin coloured as the trousers are given to the body behind them (the conservative
    binding) and the binding says so; coloured as skin they stay with the arms."""
    from humansplat.animate.regions import assign_regions
    from humansplat.render.mesh import vertex_normals

    fit, _ = _person("hands_in_pockets")
    avatar = _avatar("hands_in_pockets")
    vreg = _vertex_regions(avatar)
    parts = fit.parts.numpy()
    towards = ((vertex_normals(fit.vertices, fit.faces) * fit.vertices).sum(1) < 0).numpy()  # facing the camera
    hand = (parts == PART_NAMES.index("hands")) & towards
    skin = np.broadcast_to(np.array([0.86, 0.66, 0.52]), (len(parts), 3))
    pockets = np.where((parts == PART_NAMES.index("hands"))[:, None], np.array([0.30, 0.30, 0.34]), skin)
    arms = [_region("arm.L"), _region("arm.R")]
    shown = assign_regions(fit.vertices, fit, vreg, colours=skin)
    hidden = assign_regions(fit.vertices, fit, vreg, colours=pockets)
    def on_arm(assignment) -> float:
        return float(np.isin(assignment.labels[hand], arms).mean())

    assert on_arm(shown) > 0.9 and not shown.notes
    assert on_arm(hidden) < 0.5
    assert any("does not show as skin" in n for n in hidden.notes)
