"""Body regions of an avatar's Gaussians: which part of the body each one moves with.

A body **region** is a group of bones that moves as one limb: the torso (pelvis, spine, clavicles),
the head (neck up), each arm (upper arm down), each leg (thigh down), plus ``cloth``: a garment that
joins the legs (a skirt, a dress, a long coat), which moves with both. Skin vertices belong to the
region of their heaviest bone.

A Gaussian's region comes from the photo's own view, where parts that touch are told apart by depth
(:func:`assign_regions`):

1. The fitted body is rasterised into the input camera (:func:`humansplat.prior_mode.surfaces.body_depths`):
   per pixel, where the ray enters the body (front), leaves the first part it entered (back) and
   leaves the body for the last time (far), each with the region of the triangle hit. Pixels the
   body does not cover (clothes, hair, filled gaps) take the layers of the nearest covered pixel, so
   a surface filled between two regions is cut half-way, where the nearest region changes.
2. Each Gaussian is projected to its pixel and takes the region of the layer nearest its depth, among
   the pixels within ``window`` of its own (one pixel further costs ``pixel_cost_m`` of depth): a hand
   on the head is the arm in front and the head behind it; the back of the torso behind a crossed
   arm is the torso; a finger's Gaussian a pixel off the finger's raster still finds it.
3. **Cloth between the legs.** The person's silhouette (the Gaussians' own projection) is read row
   by row as prior mode shapes skirts (:func:`humansplat.prior_mode.surfaces.skirt_profile`): a row
   below the torso where one run of the silhouette holds both legs and at least a quarter of it is
   not the body is cloth joining the legs (a skirt); rows where each leg is its own run, or the
   legs fill their run (trousers, bare legs), are not. Loose trousers whose legs touch join the
   legs too; they differ from a skirt by the hem: the width of the legs' silhouette falls by a fifth
   or more within 3 rows (``hem_drop``) where a skirt, a dress or a coat ends over the narrower legs,
   while trousers narrow gradually into two legs. Gaussians of the torso or a leg in joined rows
   above a hem are ``cloth``; without a hem (trousers) and below it the legs stay apart. Misses:
   legs that stand together down to the feet can narrow there like a hem (jeans read as cloth), and
   a dress that ends above the knees lies over the fitted pelvis, whose rows are not skirt rows
   (it splits between the legs like shorts).
4. **Where the photo cannot say**, the conservative binding: keep the surface the photo shows in
   one piece rather than tear a piece of it away with a limb the photo does not show. A region that
   the photo hardly shows in front (less than ``hidden_share`` of its pixels: an arm behind the
   back, a leg hidden behind the other) takes no Gaussians from the layers behind another region:
   they stay with the region in front. A hand whose Gaussians are not skin-coloured (prior mode's
   :func:`~humansplat.prior_mode.skin.misplaced_hands`: a hand in a pocket, a glove, a fitted hand
   that missed the photo's) takes none either: they move with the region behind it (the hip, the
   thigh). Each such choice is reported in :attr:`RegionAssignment.notes`.

Shapes: N points, V body vertices, J bones, R regions, S grid side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..parts import PART_NAMES
from .rig import Rig

if TYPE_CHECKING:  # pragma: no cover
    from ..prior.body_fit import BodyFit

__all__ = ["REGION_NAMES", "RegionAssignment", "RegionOptions", "assign_regions", "bone_regions"]

REGION_NAMES: tuple[str, ...] = ("torso", "head", "arm.L", "arm.R", "leg.L", "leg.R", "cloth")
"""Index i is region label i in every ``regions`` array."""

CLOTH = REGION_NAMES.index("cloth")


@dataclass(frozen=True)
class RegionOptions:
    """How Gaussians are given regions (module docstring).

    Attributes:
        resolution: side of the grid the body is rasterised on (pixels).
        window: a point looks for the layer nearest its depth within this many pixels of its own.
        pixel_cost_m: depth difference (metres) that one pixel of distance in the window costs.
        hidden_share: a region with less than this share of its pixels in front is hidden (step 4).
        hem_drop: a garment joining the legs has a hem where the width of the legs' silhouette falls
            to this share within 3 rows (a skirt); without one it is trousers (step 3).
        cloth: False never makes ``cloth`` (every Gaussian follows one region), for comparison.
    """

    resolution: int = 256
    window: int = 2
    pixel_cost_m: float = 0.01
    hidden_share: float = 0.2
    hem_drop: float = 0.8
    cloth: bool = True

    def __post_init__(self) -> None:
        if self.resolution < 16 or not 0.0 <= self.hidden_share <= 1.0:
            raise ValueError(f"RegionOptions needs resolution >= 16 and hidden_share in [0, 1], got {self}")


def _root(rig: Rig, anny: str, smplx: str) -> str:
    return anny if anny in rig.joint_names else smplx


def bone_regions(rig: Rig) -> np.ndarray:
    """(J,) int64 region of each bone (never ``cloth``)."""
    out = np.full(rig.num_bones, REGION_NAMES.index("torso"), dtype=np.int64)
    roots = {
        "head": _root(rig, "neck01", "neck"),
        "arm.L": _root(rig, "upperarm01.L", "left_shoulder"),
        "arm.R": _root(rig, "upperarm01.R", "right_shoulder"),
        "leg.L": _root(rig, "upperleg01.L", "left_hip"),
        "leg.R": _root(rig, "upperleg01.R", "right_hip"),
    }
    for name, root in roots.items():
        out[rig.descendants(root)] = REGION_NAMES.index(name)
    return out


def _joining_both_legs(mask: np.ndarray, cloth: np.ndarray, front_region: np.ndarray) -> np.ndarray:
    """(S, S) bool: the runs of ``mask`` in ``cloth`` rows (prior mode's skirt rows: a run that holds
    leg pixels and is a quarter not the body, which each loose trouser leg is too) that hold both
    legs' pixels (``front_region`` (S, S): region of the body seen in front; 0 where none)."""
    out = np.zeros_like(cloth)
    left, right = REGION_NAMES.index("leg.L"), REGION_NAMES.index("leg.R")
    for y in np.nonzero(cloth.any(axis=1))[0]:
        edges = np.diff(np.r_[0, mask[y].astype(np.int8), 0])
        for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):
            run = front_region[y, a:b]
            if cloth[y, a:b].any() and (run == left).any() and (run == right).any():
                out[y, a:b] = True
    return out


def _hem(mask: np.ndarray, joined: np.ndarray, legs: np.ndarray, drop: float, rows: int = 3) -> int | None:
    """The image row of the hem of a garment that joins the legs, or None (trousers).

    ``joined`` (S, S) bool: the runs that join both legs (:func:`_joining_both_legs`); ``legs`` (S, S)
    bool: the fitted legs seen in front. Per row, the width of the silhouette's runs that hold leg
    pixels; the hem is the lowest row where that width falls to ``drop`` of itself or less within
    ``rows`` rows, between the top of the joined rows and ``rows`` below their bottom: the legs under
    a skirt, a dress or a coat are much narrower than the garment (the lowest: hands at the sides of
    a long skirt end above its hem). Loose trousers that join the legs narrow gradually into two legs."""
    band = np.nonzero(joined.any(axis=1))[0]
    width = np.zeros(mask.shape[0])
    for y in range(band.min(), min(band.max() + 2 * rows + 1, mask.shape[0])):
        edges = np.diff(np.r_[0, mask[y].astype(np.int8), 0])
        width[y] = sum(b - a for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]) if legs[y, a:b].any())
    for y in range(min(band.max() + rows, mask.shape[0] - rows - 1), band.min() - 1, -1):  # the lowest hem
        if width[y] > 0 and width[y + rows] <= drop * width[y]:
            return int(y)
    return None


@dataclass
class RegionAssignment:
    """What :func:`assign_regions` returns.

    Attributes:
        labels: (N,) int64 region of each point (indices into :data:`REGION_NAMES`).
        notes: messages for the user where the photo could not say and the binding chose the
            conservative region (step 4).
    """

    labels: np.ndarray
    notes: list[str]


def assign_regions(
    points: torch.Tensor,
    body_fit: BodyFit,
    vertex_regions: np.ndarray,
    options: RegionOptions | None = None,
    colours: np.ndarray | None = None,
) -> RegionAssignment:
    """The region of each world point (module docstring, steps 1-4).

    Args:
        points: (N, 3) metres, world frame (the Gaussians' means, around ``body_fit.vertices``).
        body_fit: the fitted body with its camera (the crop is not needed).
        vertex_regions: (V,) int64 region of each body vertex.
        colours: (N, 3) RGB in [0, 1] of the points (the Gaussians' base colours), for the hands the
            photo does not show as skin (step 4); None skips that test.
    """
    from scipy.ndimage import binary_closing

    from ..imaging import nearest_fill
    from ..prior_mode.skin import misplaced_hands
    from ..prior_mode.surfaces import body_depths, skirt_profile

    opt = options or RegionOptions()
    pts = points.detach().float().cpu()
    N = len(pts)
    if N == 0:
        return RegionAssignment(np.zeros(0, dtype=np.int64), [])
    size = int(opt.resolution)
    cam = body_fit.camera.resize(size, size)
    front, back, far = body_depths(body_fit, cam)
    faces = body_fit.faces.detach().cpu().long()
    covered = front.coverage.numpy()
    if not covered.any():  # the body is out of view: one region for all, the torso
        return RegionAssignment(np.zeros(N, dtype=np.int64), ["the fitted body is out of the camera's view: one region"])
    back.depth = torch.where(back.coverage, back.depth, far.depth)  # open meshes: no back face hit
    back.face_id = torch.where(back.coverage, back.face_id, far.face_id)

    def layer(r) -> tuple[np.ndarray, np.ndarray]:
        fid = r.face_id.numpy()
        hit = fid >= 0
        reg = np.zeros(fid.shape, dtype=np.int64)
        corner = r.bary.numpy()[hit].argmax(-1)  # the vertex of the triangle nearest the pixel centre
        reg[hit] = vertex_regions[faces[torch.as_tensor(fid[hit])].numpy()[np.arange(len(corner)), corner]]
        depth = np.where(hit, r.depth.numpy(), np.nan)
        depth = np.where(hit | ~covered, depth, front.depth.numpy())  # a front hit without an exit: thin
        reg = np.where(hit | ~covered, reg, 0)
        return nearest_fill(np.stack([depth, reg.astype(np.float64)], -1), covered)

    layers = np.stack([layer(front), layer(back), layer(far)])  # (3, S, S, 2): depth, region
    depths, regions = layers[..., 0], layers[..., 1].astype(np.int64)

    # project the points: pixel and camera depth
    uv, z = cam.project(pts)
    uv, z = uv[0].numpy(), z[0].numpy()
    col = np.clip(np.floor(uv[:, 0]).astype(np.int64), 0, size - 1)
    row = np.clip(np.floor(uv[:, 1]).astype(np.int64), 0, size - 1)
    # the layer nearest the point's depth among the pixels within ``window`` px (a finger a pixel
    # off its raster, a wall Gaussian on the silhouette); nearer pixels win ties
    best = np.full(N, np.inf)
    which = np.zeros(N, dtype=np.int64)
    label = np.zeros(N, dtype=np.int64)
    w = opt.window
    for dr in range(-w, w + 1):
        for dc in range(-w, w + 1):
            r_, c_ = np.clip(row + dr, 0, size - 1), np.clip(col + dc, 0, size - 1)
            d = depths[:, r_, c_]  # (3, N)
            err = np.where(np.isfinite(d), np.abs(d - z[None]), np.inf) + opt.pixel_cost_m * np.hypot(dr, dc)
            k = err.argmin(0)
            e = err[k, np.arange(N)]
            better = e < best
            best[better], which[better], label[better] = e[better], k[better], regions[k, r_, c_][better]

    # the silhouette and the parts of the body seen in front, on the grid
    mask = np.zeros((size, size), dtype=bool)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < size) & (uv[:, 1] >= 0) & (uv[:, 1] < size) & (z > 0)
    mask[row[inside], col[inside]] = True
    mask = binary_closing(mask, structure=np.ones((3, 3), dtype=bool), iterations=2)
    parts = body_fit.parts.detach().cpu().long()
    fid = front.face_id.numpy()
    part = np.full((size, size), PART_NAMES.index("torso"), dtype=np.int64)
    part[covered] = parts[faces[torch.as_tensor(fid[covered]), 0]].numpy()
    notes: list[str] = []
    front_region = regions[0, row, col]

    # 4. where the photo cannot say: a region hardly shown in front keeps no Gaussians behind another
    n_regions = len(REGION_NAMES)
    shown = np.bincount(regions[0][covered], minlength=n_regions)
    anywhere = np.bincount(np.concatenate([regions[k][covered] for k in range(3)]), minlength=n_regions)
    hidden = shown < opt.hidden_share * np.maximum(anywhere, 1)
    behind = (which > 0) & hidden[label] & (front_region != label)
    for r in np.unique(label[behind]):
        notes.append(
            f"the photo hardly shows the {REGION_NAMES[r]} ({shown[r] / max(anywhere[r], 1):.0%} of it in front): "
            f"{int((behind & (label == r)).sum())} Gaussians behind other parts move with those parts, not with it"
        )
    label = np.where(behind, front_region, label)
    #    and a hand whose colours are not skin (in a pocket, gloved, or not where the fit put it)
    #    takes no Gaussians: they move with the region behind it
    if colours is not None:
        seen = (which == 0) & inside
        total = np.zeros((size, size, 3))
        count = np.zeros((size, size))
        np.add.at(total, (row[seen], col[seen]), np.asarray(colours, dtype=np.float64)[seen])
        np.add.at(count, (row[seen], col[seen]), 1.0)
        if (count > 0).any():
            rgb = nearest_fill(total / np.maximum(count, 1.0)[..., None], count > 0)
            pocket = misplaced_hands(rgb, mask, covered & mask, part)
            arms = np.isin(label, [REGION_NAMES.index(n) for n in ("arm.L", "arm.R")])
            back_region = regions[2, row, col]
            moved = pocket[row, col] & arms & (back_region != label)
            if moved.any():
                notes.append(
                    f"a hand the photo does not show as skin (in a pocket, gloved, or not where the fit put it): "
                    f"{int(moved.sum())} Gaussians there move with the body behind it, not with the hand"
                )
            label = np.where(moved, back_region, label)

    # 3. cloth joining the legs: prior mode's skirt rows on the points' own silhouette
    if opt.cloth:
        skirt = _joining_both_legs(mask, skirt_profile(mask, covered & mask, part, 1.0) > 0, regions[0] * covered)
        hem = _hem(mask, skirt, covered & (part == PART_NAMES.index("legs")), opt.hem_drop) if skirt.any() else None
        skirt[(hem if hem is not None else -1) + 1 :] = False
        leg_or_torso = np.isin(label, [REGION_NAMES.index(n) for n in ("torso", "leg.L", "leg.R")])
        label = np.where(skirt[row, col] & leg_or_torso, CLOTH, label)
    return RegionAssignment(labels=label, notes=notes)
