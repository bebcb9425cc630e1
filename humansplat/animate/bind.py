"""Binding Gaussians (or any points) to the fitted body's skeleton, and re-posing them.

Skinning weights of a point
---------------------------
0. **Its body region** (:mod:`.regions`): the torso, the head, an arm, a leg, or cloth joining the
   legs (a skirt), told apart in the photo's own view by the depth order of the fitted body's parts
   (a hand on the head is the arm in front of the head). Steps 1 and 3 use the skin and the
   neighbours of the point's own region only, so parts that touch in the photo separate when the
   body moves instead of stretching a membrane between them; the surfaces prior mode fills between
   two regions are cut where the nearest region changes. The body model's own weights still blend
   across the joints (a shoulder's skin follows the spine and the upper arm).
1. **Nearest skin.** The bone weights of the body model's skin vertices (the fitted body, in the
   world frame) are averaged over the ``neighbours`` nearest skin vertices with a Gaussian kernel
   whose width grows with the distance to the skin (``sigma = max(sigma_min, d_nearest)``): a point
   on the skin follows its own vertex, a point a few centimetres out (a jacket, hair) blends the
   bones of a wider patch.
2. **Cloth between the legs.** A skirt, dress or coat hangs between and around the legs; taking
   the nearest leg splits it down the middle when the legs move apart (a tear). Below the crotch,
   every point of the ``cloth`` region (what the silhouette shows as a garment joining the legs;
   trousers and bare legs are not) blends the two legs' weights (those of the nearest
   skin vertex of each leg) by its distances ``d_L``, ``d_R`` to them:
   ``w = (d_R^p w_L + d_L^p w_R) / (d_L^p + d_R^p)`` with ``p = leg_power`` (2): cloth halfway
   between the legs moves with their average, points on one leg's skin follow that leg
   (``d_L -> 0`` gives ``w_L``, so tight trousers are unchanged), and the weights change smoothly
   in between. The blend fades in over ``crotch_fade_m`` below the crotch so nothing jumps at the
   hips. On a dress photo's walk, the blend cut the pairs of neighbouring Gaussians below the crotch
   torn apart by more than 3 cm from 1.3 % (nearest skin) to 0.3 %; gating the blend by the
   distance to the skin (only loose cloth) made it worse (2.4 %), because the gate itself is a sharp
   change of weights. Tearing per motion and photo: :mod:`.tears`, ``docs/benchmarks.md``.
3. **Smoothing** over the points themselves (``smooth_iters`` passes of averaging over the
   ``smooth_neighbours`` nearest points of the same region) removes seams where neighbouring points
   chose differently.
4. The ``influences`` (default 4, as glTF's JOINTS_0/WEIGHTS_0) largest weights are kept and
   renormalised to sum to 1.

Re-posing (:func:`repose`)
--------------------------
Linear blend skinning: a Gaussian's mean moves by ``sum_k w_k T_k`` (T_k = the bone's bind-to-pose
transform). Its rotation is turned by the weighted, normalised average of the bones' rotation
quaternions (each bone's sign on its parent's hemisphere): the rotation part of the blended
transform, without an SVD per Gaussian; scales, opacities and colours are kept (higher SH bands are not rotated).

Shapes: N Gaussians or points, J bones, K influences, V body vertices, T frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..gaussians import Gaussians
from ..geometry import axis_angle_to_matrix, rotmat_to_quat
from ..prior.body_models import get_body_model
from .regions import CLOTH, REGION_NAMES, RegionOptions, assign_regions, bone_regions
from .rig import Pose, Rig, rig_from_fit

if TYPE_CHECKING:  # pragma: no cover
    from ..prior.body_fit import BodyFit

__all__ = ["BindOptions", "BoundAvatar", "SkinBinding", "bind", "point_skin_weights", "repose", "skin_binding", "skin_gaussians"]


@dataclass(frozen=True)
class BindOptions:
    """How points get their skinning weights (module docstring, steps 1-4).

    Attributes:
        neighbours: skin vertices averaged per point.
        sigma_min: smallest kernel width (metres).
        crotch_fade_m: the cloth blend grows from 0 at the crotch to full this far below it (metres).
        leg_power: p of the leg blend ``d_R^p w_L + d_L^p w_R`` (normalised); larger keeps points
            near one leg's skin on that leg.
        cloth_blend: False gives plain nearest-skin weights (step 2 off, no ``cloth`` region), for comparison.
        regions: each point takes its weights from its own body region only (step 0); False binds
            every point to the nearest skin of the whole body, for comparison.
        region_options: how regions are assigned (:class:`~humansplat.animate.regions.RegionOptions`).
        smooth_iters: smoothing passes over the points' own neighbours (0 disables).
        smooth_neighbours: neighbours per smoothing pass.
        influences: bones kept per point (glTF viewers read 4).
    """

    neighbours: int = 8
    sigma_min: float = 0.015
    crotch_fade_m: float = 0.06
    leg_power: float = 2.0
    cloth_blend: bool = True
    regions: bool = True
    region_options: RegionOptions = field(default_factory=RegionOptions)
    smooth_iters: int = 4
    smooth_neighbours: int = 8
    influences: int = 4

    def __post_init__(self) -> None:
        if self.neighbours < 1 or self.smooth_neighbours < 1 or self.influences < 1:
            raise ValueError(f"neighbour and influence counts must be >= 1, got {self}")
        if self.sigma_min <= 0 or self.crotch_fade_m <= 0 or self.leg_power <= 0:
            raise ValueError(f"distances must be positive, got {self}")


@dataclass
class BoundAvatar:
    """Gaussians bound to a skeleton (world = input camera frame; bind pose = the fitted pose).

    Attributes:
        gaussians: N Gaussians in the bind pose (re-posing to ``rig.fitted_pose()`` returns them).
        weights: (N, K) float32 skinning weights, rows sum to 1.
        bones: (N, K) int64 bone indices into ``rig.joint_names``.
        rig: the skeleton and the fitted body it came from.
        regions: (N,) int64 body region of each Gaussian (:data:`~humansplat.animate.regions.REGION_NAMES`),
            or None (bound without regions, or read from a sidecar without them).
        notes: messages for the user from the binding (where the photo could not say).
    """

    gaussians: Gaussians
    weights: torch.Tensor
    bones: torch.Tensor
    rig: Rig
    regions: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.gaussians)
        if self.weights.shape != self.bones.shape or self.weights.shape[0] != n:
            raise ValueError(f"weights {tuple(self.weights.shape)} and bones {tuple(self.bones.shape)} must be (N={n}, K)")
        if self.regions is not None and tuple(self.regions.shape) != (n,):
            raise ValueError(f"regions {tuple(self.regions.shape)} must be (N={n},)")


def _dense_vertex_weights(body, num_bones: int) -> np.ndarray:
    """(V, J) float32 dense skinning weights of the body model's vertices."""
    w, b = body.skin_weights()
    dense = np.zeros((w.shape[0], num_bones), dtype=np.float32)
    np.add.at(dense, (np.arange(w.shape[0])[:, None], b.numpy()), w.numpy())
    return dense


def _leg_vertices(rig: Rig, dense: np.ndarray, side: str) -> np.ndarray:
    """Indices of the vertices dominated by a leg's bones (thigh downwards)."""
    names = rig.joint_names
    root = "upperleg01." + side if "upperleg01." + side in names else ("left_hip" if side == "L" else "right_hip")
    leg = np.zeros(len(names), dtype=bool)
    leg[rig.descendants(root)] = True
    return np.nonzero(leg[dense.argmax(1)])[0]


@dataclass
class SkinBinding:
    """Skinning of N points (what :func:`skin_binding` returns).

    Attributes:
        weights: (N, K) float32, rows sum to 1.
        bones: (N, K) int64 bone indices.
        regions: (N,) int64 labels into :data:`~humansplat.animate.regions.REGION_NAMES`, or None
            (``BindOptions.regions`` off).
        notes: messages for the user (where the photo could not say and the binding chose the
            conservative region).
    """

    weights: torch.Tensor
    bones: torch.Tensor
    regions: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)


def _kernel_weights(pts: np.ndarray, verts: np.ndarray, candidates: np.ndarray, dense: np.ndarray, opt: BindOptions) -> np.ndarray:
    """(N, J) step 1: bone weights of the ``neighbours`` nearest skin vertices among ``candidates``
    (indices into ``verts``), Gaussian kernel widening with the distance to the skin."""
    from scipy.spatial import cKDTree

    k = min(opt.neighbours, len(candidates))
    d, nn = cKDTree(verts[candidates]).query(pts, k=k)
    d, nn = d.reshape(len(pts), k), candidates[nn.reshape(len(pts), k)]
    sigma = np.maximum(opt.sigma_min, d[:, :1])
    kern = np.exp(-0.5 * (d**2 - d[:, :1] ** 2) / sigma**2)
    kern /= kern.sum(1, keepdims=True)
    return np.einsum("nk,nkj->nj", kern, dense[nn]).astype(np.float32)


def _smooth(W: np.ndarray, pts: np.ndarray, groups: np.ndarray, opt: BindOptions) -> np.ndarray:
    """Step 3: ``smooth_iters`` passes of averaging over each point's ``smooth_neighbours`` nearest
    points of the same group (all points when ``groups`` is one value)."""
    from scipy.spatial import cKDTree

    if opt.smooth_iters <= 0:
        return W
    for g in np.unique(groups):
        idx = np.nonzero(groups == g)[0]
        if len(idx) < 2:
            continue
        ks = min(opt.smooth_neighbours, len(idx))
        _, pn = cKDTree(pts[idx]).query(pts[idx], k=ks)
        pn = pn.reshape(len(idx), ks)
        Wg = W[idx]
        for _ in range(opt.smooth_iters):
            Wg = 0.5 * Wg + 0.5 * Wg[pn].mean(1)
        W[idx] = Wg
    return W


def skin_binding(
    points: torch.Tensor,
    body_fit: BodyFit,
    rig: Rig | None = None,
    options: BindOptions | None = None,
    colours: np.ndarray | None = None,
) -> SkinBinding:
    """Skinning weights and body regions of world points around a fitted body (module docstring).

    Args:
        points: (N, 3) metres, world frame (around ``body_fit.vertices``).
        body_fit: the :class:`~humansplat.prior.body_fit.BodyFit` the points were made from.
        rig: its rig (default :func:`rig_from_fit`).
        colours: (N, 3) RGB in [0, 1] of the points, for hands the photo does not show as skin
            (:func:`~humansplat.animate.regions.assign_regions`); None skips that test.
    """
    from scipy.spatial import cKDTree

    opt = options or BindOptions()
    rig = rig or rig_from_fit(body_fit)
    body = get_body_model(body_fit.backend)
    pts = points.detach().float().cpu().numpy().astype(np.float64)
    N, J = len(pts), rig.num_bones
    if N == 0:
        z = torch.zeros(0, opt.influences)
        return SkinBinding(z, z.long(), torch.zeros(0, dtype=torch.int64) if opt.regions else None)
    verts = body_fit.vertices.detach().float().cpu().numpy().astype(np.float64)
    dense = _dense_vertex_weights(body, J)
    skin = np.nonzero(np.asarray(body.surface))[0]
    down = _model_axis(rig)[1]
    hip_l, hip_r = (rig.joint_names.index(n) for n in _hip_names(rig))
    crotch = 0.5 * (rig.bind_poses[hip_l, :3, 3] + rig.bind_poses[hip_r, :3, 3]).numpy() + 0.08 * down
    below = (pts - crotch) @ down  # metres below the crotch

    if opt.regions:
        # 1. nearest skin of the point's own region (regions.py); cloth: the torso's and the legs' skin
        vreg = bone_regions(rig)[dense.argmax(1)]
        assignment = assign_regions(points, body_fit, vreg, replace(opt.region_options, cloth=opt.cloth_blend), colours)
        labels, notes = assignment.labels, assignment.notes
        W = np.zeros((N, J), dtype=np.float32)
        for r in np.unique(labels):
            own = [r] if r != CLOTH else [REGION_NAMES.index(n) for n in ("torso", "leg.L", "leg.R")]
            candidates = skin[np.isin(vreg[skin], own)]
            sel = labels == r
            W[sel] = _kernel_weights(pts[sel], verts, candidates if len(candidates) else skin, dense, opt)
        blend = np.where(labels == CLOTH, _smoothstep(below / opt.crotch_fade_m), 0.0)
    else:
        labels, notes = None, []
        W = _kernel_weights(pts, verts, skin, dense, opt)
        arms = np.zeros(J, dtype=bool)
        for side in ("L", "R"):
            arms[rig.descendants(_arm_root(rig, side))] = True
        blend = _smoothstep(below / opt.crotch_fade_m) * (1.0 - W[:, arms].sum(1))

    # 2. Cloth below the crotch blends both legs (without regions: not near the arms, hands hang there too).
    todo = np.nonzero(blend > 1e-4)[0] if opt.cloth_blend else np.zeros(0, dtype=np.int64)
    if len(todo):
        legs = [_leg_vertices(rig, dense, s) for s in ("L", "R")]
        (dl, il), (dr, ir) = (cKDTree(verts[leg]).query(pts[todo], k=1) for leg in legs)
        dl, dr = np.maximum(dl, 1e-6) ** opt.leg_power, np.maximum(dr, 1e-6) ** opt.leg_power
        cloth = (dr[:, None] * dense[legs[0][il]] + dl[:, None] * dense[legs[1][ir]]) / (dl + dr)[:, None]
        b = blend[todo, None]
        W[todo] = (1.0 - b) * W[todo] + b * cloth

    # 3. Smooth over the points' own neighbours (of the same region).
    W = _smooth(W, pts, labels if labels is not None else np.zeros(N, dtype=np.int64), opt)

    # 4. Keep the largest influences.
    K = min(opt.influences, J)
    top = np.argpartition(-W, K - 1, axis=1)[:, :K]
    tw = np.take_along_axis(W, top, 1)
    order = np.argsort(-tw, axis=1)
    top, tw = np.take_along_axis(top, order, 1), np.take_along_axis(tw, order, 1)
    tw = tw / np.maximum(tw.sum(1, keepdims=True), 1e-12)
    return SkinBinding(
        torch.from_numpy(tw.astype(np.float32)), torch.from_numpy(top.astype(np.int64)),
        None if labels is None else torch.from_numpy(labels),
        notes,
    )


def point_skin_weights(
    points: torch.Tensor, body_fit: BodyFit, rig: Rig | None = None, options: BindOptions | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Skinning weights of world points around a fitted body: (weights (N, K) float32, rows sum
    to 1; bones (N, K) int64), as :func:`skin_binding`."""
    b = skin_binding(points, body_fit, rig, options)
    return b.weights, b.bones


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _arm_root(rig: Rig, side: str) -> str:
    """The first bone of an arm (the shoulder joint)."""
    name = "upperarm01." + side
    return name if name in rig.joint_names else ("left_shoulder" if side == "L" else "right_shoulder")


def _hip_names(rig: Rig) -> tuple[str, str]:
    if "upperleg01.L" in rig.joint_names:
        return "upperleg01.L", "upperleg01.R"
    return "left_hip", "right_hip"


def _model_axis(rig: Rig) -> np.ndarray:
    """(3, 3) rows: the body's model-frame axes (x = subject's left, y = down, z = front to back)
    in the world frame (the fitted global orientation)."""
    return axis_angle_to_matrix(rig.params.global_orient.float().reshape(3)).T.numpy()


def bind(gaussians: Gaussians, body_fit: BodyFit, options: BindOptions | None = None) -> BoundAvatar:
    """Bind ``gaussians`` (made around ``body_fit``, same world frame) to its skeleton."""
    rig = rig_from_fit(body_fit)
    g = gaussians.detach()
    b = skin_binding(g.means, body_fit, rig, options, colours=g.rgb.float().cpu().numpy())
    return BoundAvatar(gaussians=g, weights=b.weights, bones=b.bones, rig=rig, regions=b.regions, notes=b.notes)


def _quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of (..., 4) quaternions (w, x, y, z)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def _bone_quats(rotations: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """(J, 4) unit quaternions (w, x, y, z) of (J, 3, 3) bone rotations, each sign chosen on its
    parent's hemisphere, so that blending neighbouring bones never averages q with a near -q
    (which a fixed w >= 0 convention would do for rotations near 180 deg, e.g. mid-turn)."""
    q = rotmat_to_quat(rotations).cpu().numpy().copy()
    for j, p in enumerate(parents.tolist()):  # parents come before children
        if p >= 0 and float(q[j] @ q[p]) < 0:
            q[j] = -q[j]
    return torch.from_numpy(q).to(rotations)


def skin_gaussians(avatar: BoundAvatar, transforms: torch.Tensor) -> Gaussians:
    """Linear blend skinning of the avatar by per-bone transforms (module docstring).

    Args:
        transforms: (J, 4, 4) rigid bind-to-pose transforms per bone (world frame).

    Returns:
        the posed Gaussians (same N and order; scales, opacities, colours unchanged).
    """
    g = avatar.gaussians
    T = transforms.to(g.means)
    J = avatar.rig.num_bones
    if T.shape != (J, 4, 4):
        raise ValueError(f"transforms must be (J={J}, 4, 4), got {tuple(T.shape)}")
    w = avatar.weights.to(g.means)  # (N, K)
    idx = avatar.bones.to(g.device)
    rows = T[:, :3, :].reshape(J, 12)  # row-major 3x4 per bone
    quats = _bone_quats(T[:, :3, :3], avatar.rig.parents)  # (J, 4)
    M = g.means.new_zeros(len(g), 12)
    qb = g.means.new_zeros(len(g), 4)
    for k in range(idx.shape[1]):  # K gathers of (N, 12): cheaper than one (N, K, 12) einsum
        wk = w[:, k : k + 1]
        M.addcmul_(torch.index_select(rows, 0, idx[:, k]), wk)
        qb.addcmul_(torch.index_select(quats, 0, idx[:, k]), wk)
    M = M.view(-1, 3, 4)  # blended transform per Gaussian
    x = g.means
    means = x[:, 0:1] * M[:, :, 0] + x[:, 1:2] * M[:, :, 1] + x[:, 2:3] * M[:, :, 2] + M[:, :, 3]
    return replace(g, means=means, quats=_quat_mul(torch.nn.functional.normalize(qb, dim=-1), g.quats))


def repose(avatar: BoundAvatar, pose: Pose | list[Pose]) -> Gaussians | list[Gaussians]:
    """The avatar in ``pose`` (one :class:`Pose` -> Gaussians; a list -> a list, one body-model
    call for all)."""
    poses = [pose] if isinstance(pose, Pose) else list(pose)
    transforms = avatar.rig.skin_transforms(poses)  # (T, J, 4, 4)
    out = [skin_gaussians(avatar, T) for T in transforms]
    return out[0] if isinstance(pose, Pose) else out
