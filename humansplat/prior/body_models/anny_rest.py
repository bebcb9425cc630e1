"""anny posed from a few bones, first order in the shape: the body fit's fast forward.

Only the bones of :data:`~.base.POSE_GROUPS` (``posed`` bones, about 20 of anny's 104) rotate;
every other bone keeps its rest offset from its nearest posed ancestor. With anny's ``local-ref``
parameterisation (a bone's delta rotation ``D`` in world-aligned axes about its head at the
reference pose ``q``, identity reference orientation at the root) a bone's skinning transform is
``X_a @ T0_b``: ``T0_b`` the bone's transform in the reference pose, ``X_a`` the rigid motion of its
*anchor* ``a`` (nearest posed ancestor-or-self, or the root), chained over anchors only::

    X_root = I,    X_a = X_parent(a) @ [D_a | q_a - D_a q_a].

A skinned point (vertex, landmark, bone head) is then linear in the anchors' motions,
``p = sum_a X_a @ [y_a; m_a]``, with ``y_a`` the point's reference-pose position carried by the
anchor's bones (weights included) and ``m_a`` their weight: one (N, 4A) x (4A, 3) product per step.
``y``, ``m`` and the anchors' heads ``q`` depend on the shape only; :class:`RestState` holds them
and their derivatives in the shape (central differences), so a step costs a few dozen small ops.
Model frame throughout (x left, y down, z back; root at the origin).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...geometry import axis_angle_to_matrix

__all__ = ["AnchorSkeleton", "RestState", "posed_points"]


@dataclass
class AnchorSkeleton:
    """The tree of anchors (the root, then the posed bones by depth) and each bone's anchor.

    Attributes:
        posed_order: (A - 1,) positions in the posed-bone list of the anchors 1..A-1 (depth order).
        bone_anchor: (J,) anchor of every bone (0: the root).
        levels: per depth level below the root, ((first, last) anchors, (last - first,) positions of
            their parents within the previous level).
    """

    posed_order: torch.Tensor
    bone_anchor: torch.Tensor
    levels: tuple[tuple[tuple[int, int], torch.Tensor], ...]

    @property
    def num_anchors(self) -> int:
        return int(self.posed_order.numel()) + 1

    @classmethod
    def build(cls, parents: tuple[int, ...], posed: list[int]) -> AnchorSkeleton:
        """From the J bones' parent indices (root: negative, at 0) and the posed bones' indices."""
        if parents[0] >= 0 or 0 in posed:
            raise ValueError("expected the root at bone 0, not posed")
        posed_set = set(posed)

        def anchor_bone(b: int) -> int:  # nearest posed ancestor-or-self, or the root (0)
            while b > 0 and b not in posed_set:
                b = parents[b]
            return max(b, 0)

        def depth(b: int) -> int:  # anchors above bone b, the root included
            d, a = 0, b
            while a > 0:
                a = anchor_bone(parents[a])
                d += 1
            return d

        ordered = sorted(posed, key=lambda b: (depth(b), b))
        anchor_of = {0: 0} | {b: i + 1 for i, b in enumerate(ordered)}
        depths = [0] + [depth(b) for b in ordered]
        levels = []
        for d in range(1, max(depths) + 1):
            first, last = depths.index(d), len(depths) - depths[::-1].index(d)
            prev_first = depths.index(d - 1)
            par = [anchor_of[anchor_bone(parents[b])] - prev_first for b in ordered[first - 1 : last - 1]]
            levels.append(((first, last), torch.tensor(par, dtype=torch.int64)))
        return cls(
            posed_order=torch.tensor([posed.index(b) for b in ordered], dtype=torch.int64),
            bone_anchor=torch.tensor([anchor_of[anchor_bone(b)] for b in range(len(parents))], dtype=torch.int64),
            levels=tuple(levels),
        )


@dataclass
class RestState:
    """First-order model in the shape of anny's reference-posed points (see the module docstring).

    Attributes:
        shape0: (S,) expansion point; vertex_index: (n,) the vertices it was prepared for.
        rows0, drows: (N, 4A) the points' per-anchor ``[y; m]`` (anchor-major, N = n vertices, then
            the 33 landmarks, then the J bone heads) and (S, N, 4A) their derivatives.
        heads0, dheads: (A - 1, 3) reference heads of the posed anchors and (S, A - 1, 3) derivatives.
    """

    shape0: torch.Tensor
    vertex_index: torch.Tensor
    rows0: torch.Tensor
    drows: torch.Tensor
    heads0: torch.Tensor
    dheads: torch.Tensor


def anchor_rows(
    skeleton: AnchorSkeleton,
    moments: torch.Tensor,
    mass: torch.Tensor,
    bones: torch.Tensor,
    rows: torch.Tensor,
    n_rows: int,
    T0: torch.Tensor,
) -> torch.Tensor:
    """(B, n_rows, A, 4) per-anchor ``[y; m]`` of skinned points given as Q (point, bone) entries:
    ``moments`` (B, Q, 3) the rest-pose moment (skinning weight x rest position, summed over the
    point's support), ``mass`` (Q,) the weight, ``bones`` (Q,) the bone and ``rows`` (Q,) the point;
    ``T0`` (B, J, 3, 4) the bones' reference-pose transforms (``y`` comes out in their output frame)."""
    B = moments.shape[0]
    A = skeleton.num_anchors
    T = T0[:, bones]  # (B, Q, 3, 4)
    m = mass.to(moments.dtype)[None, :, None].expand(B, -1, 1)
    moved = (T[..., :3, :3] @ moments[..., None])[..., 0] + T[..., :3, 3] * m
    slot = rows * A + skeleton.bone_anchor[bones]
    out = moments.new_zeros(B, n_rows * A, 4).index_add_(1, slot, torch.cat([moved, m], -1))
    return out.reshape(B, n_rows, A, 4)


def posed_points(skeleton: AnchorSkeleton, rest: RestState, shape: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) model-frame points of ``rest``'s rows for shapes (B, S) and posed-bone rotation
    vectors ``pose`` (B, A - 1, 3) (model-frame axes, in the order of the posed-bone list)."""
    B, S = shape.shape
    ds = shape.to(rest.rows0.dtype) - rest.shape0
    rows = rest.rows0 + (ds @ rest.drows.reshape(S, -1)).reshape((B,) + rest.rows0.shape)
    heads = rest.heads0 + (ds @ rest.dheads.reshape(S, -1)).reshape((B,) + rest.heads0.shape)
    D = axis_angle_to_matrix(pose[:, skeleton.posed_order])  # (B, A - 1, 3, 3)
    shift = heads - (D @ heads[..., None])[..., 0]
    local = torch.cat([D, shift[..., None]], -1)  # (B, A - 1, 3, 4): [D | q - D q]
    R = [torch.eye(3, dtype=D.dtype).expand(B, 1, 3, 3)]
    t = [D.new_zeros(B, 1, 3)]
    for (first, last), par in skeleton.levels:
        Rp, tp = R[-1][:, par], t[-1][:, par]
        Lc = local[:, first - 1 : last - 1]
        R.append(Rp @ Lc[..., :3])
        t.append((Rp @ Lc[..., 3:])[..., 0] + tp)
    X = torch.cat([torch.cat(R, 1), torch.cat(t, 1)[..., None]], -1)  # (B, A, 3, 4)
    return rows @ X.transpose(-1, -2).reshape(B, -1, 3)
