"""How much a motion tears or stretches a bound avatar (a measure for benchmarks and tests).

For each Gaussian, its ``neighbours`` (8) nearest Gaussians in the bind pose are its rest-pose
neighbours. Over the frames of a motion:

* **tear share**: the share of Gaussians whose distance to any rest-pose neighbour grows by more
  than ``tear_m`` (3 cm) in some frame;
* split by the avatar's body regions (:mod:`.regions`): the **region tear share** counts only
  neighbours of the same region (a surface torn or stretched where it should hold together: a skirt
  split between the legs, a membrane of Gaussians dragged along by a limb) and the **cut share** only
  neighbours of another region (parts that touched in the photo separating: a hand leaving the head);
* **stretch factor** of a splat: the largest ratio of a distance to a same-region rest-pose
  neighbour, posed over rest, in any frame (rest distances below ``min_rest_m``, 5 mm, count as
  5 mm: a gap smaller than a splat does not show). Splats keep their size when re-posed (:func:`repose`),
  so a factor of 3 means the surface around that splat opened to three times its spacing.

Shapes: N Gaussians, T frames, k neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .bind import BoundAvatar, repose
from .motions import get_motion

__all__ = ["TearStats", "tear_stats"]


@dataclass
class TearStats:
    """Tearing of one avatar over one motion (module docstring).

    Attributes:
        motion: the motion's name; frames: how many frames were posed (one cycle).
        tear_share: share of Gaussians with a rest-pose neighbour > ``tear_m`` further away in some frame.
        region_tear_share: the same, same-region neighbours only.
        cut_share: the same, neighbours of another region only.
        max_stretch: largest stretch factor of any splat; p99_stretch: its 99th percentile.
        torn: (N,) bool, the Gaussians counted in ``region_tear_share``.
        stretch: (N,) float32, each splat's stretch factor.
    """

    motion: str
    frames: int
    tear_share: float
    region_tear_share: float
    cut_share: float
    max_stretch: float
    p99_stretch: float
    torn: np.ndarray
    stretch: np.ndarray

    def summary(self) -> dict[str, float]:
        """The numbers, rounded, for tables and JSON."""
        return {
            "tear_share": round(self.tear_share, 4),
            "region_tear_share": round(self.region_tear_share, 4),
            "cut_share": round(self.cut_share, 4),
            "max_stretch": round(self.max_stretch, 2),
            "p99_stretch": round(self.p99_stretch, 2),
        }


def tear_stats(
    avatar: BoundAvatar,
    motion: str,
    frames: int = 12,
    neighbours: int = 8,
    tear_m: float = 0.03,
    min_rest_m: float = 0.005,
    regions: torch.Tensor | np.ndarray | None = None,
) -> TearStats:
    """:class:`TearStats` of ``avatar`` over ``frames`` frames of ``motion`` (module docstring).

    Args:
        regions: (N,) region labels that split neighbours into same-region and other-region
            (default ``avatar.regions``; None = one region, so ``cut_share`` is 0). Pass the same
            labels to compare two bindings of one avatar.
    """
    from scipy.spatial import cKDTree

    rest = avatar.gaussians.means.detach().float().cpu().numpy()
    N = len(rest)
    labels = avatar.regions if regions is None else regions
    labels = np.zeros(N, dtype=np.int64) if labels is None else np.asarray(labels).reshape(N)
    k = min(neighbours, N - 1)
    _, nn = cKDTree(rest).query(rest, k=k + 1)
    nn = nn[:, 1:].reshape(N, k)  # (N, k) without the point itself
    d0 = np.linalg.norm(rest[nn] - rest[:, None], axis=-1)
    same = labels[nn] == labels[:, None]
    grow = np.zeros((N, k), dtype=np.float32)
    ratio = np.ones((N, k), dtype=np.float32)
    _, poses = get_motion(motion).sample(frames, avatar.rig.backend)
    for g in repose(avatar, poses):
        m = g.means.detach().float().cpu().numpy()
        d = np.linalg.norm(m[nn] - m[:, None], axis=-1)
        grow = np.maximum(grow, d - d0)
        ratio = np.maximum(ratio, d / np.maximum(d0, min_rest_m))
    over = grow > tear_m
    stretch = np.where(same, ratio, 1.0).max(1)
    return TearStats(
        motion=motion,
        frames=int(frames),
        tear_share=float(over.any(1).mean()),
        region_tear_share=float((over & same).any(1).mean()),
        cut_share=float((over & ~same).any(1).mean()),
        max_stretch=float(stretch.max()),
        p99_stretch=float(np.quantile(stretch, 0.99)),
        torn=(over & same).any(1),
        stretch=stretch.astype(np.float32),
    )
