"""A closed, round head for close-ups (portraits, selfies): the fitted skull with the photo's hair over it.

In a close-up the head is most of the photo, and the generic fill of :mod:`.surfaces` (a mid-surface
and a rounded cross-section over the mask) turns the hair around the face into a card and leaves the
back of the head a wedge. Here the head is an ellipsoid: centred on the fitted body's head (parts
head and face, its bounding box in the camera frame), its semi-axes those of the fitted head grown
by the hair the photo shows around it (the mask's half width over the head's rows beyond the
skull's, the mask's top above the skull's top; each capped at :data:`MAX_HAIR_M`), the sideways
growth added behind too (hair is about as thick behind as beside the head), or more where that
leaves the head shorter than :data:`MIN_LENGTH_RATIO` x its width. Each pixel's ray through it
gives a front and a back depth: the back of the head follows the ellipsoid (round from the side,
its hair over the skull), hair pixels beside and above the face lie on its front, and the face
takes the relief of Face Mesh's points (:mod:`.face_relief`: nose, lips, eye sockets), blended into
the fitted body's head (chin, ears) at its edge; without them it keeps the fitted body's relief.

Shapes: S geometry-grid side (pixels); maps are (S, S); depths are camera z in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..cameras import Cameras
from ..parts import PART_NAMES
from ..prior.body_fit import BodyFit
from .face_relief import apply_relief, face_relief

__all__ = ["MAX_HAIR_M", "MIN_HEAD_VERTICES", "MIN_LENGTH_RATIO", "HeadShell", "head_shell", "round_head"]

MAX_HAIR_M = 0.08
"""Cap (metres) of the hair volume added to each semi-axis of the fitted skull: big hair, not a hood."""
MIN_LENGTH_RATIO = 1.15
"""The head with its hair at least this many times as long (the nose to the back of the hair) as it is
wide: seen from above a head is an egg, not a ball. An adult's skull is about 19.5 x 15.5 cm, the nose
adds 2 cm in front; with h cm of hair over it (ears under it) (21.5 + h) / (15.5 + 2 h) is 1.2 for
2 cm of hair and 1.1 for 4 cm."""
MIN_HEAD_VERTICES = 50
"""A body with fewer head vertices than this in front of the camera gets no head shell."""

_HEAD_PARTS = (PART_NAMES.index("head"), PART_NAMES.index("face"))


@dataclass
class HeadShell:
    """The head's ellipsoid seen on a grid.

    Attributes:
        hit: (S, S) bool pixels whose ray crosses the ellipsoid.
        front: (S, S) float64 camera depth where the ray enters it (0 where not ``hit``).
        back: (S, S) float64 camera depth where the ray leaves it (0 where not ``hit``).
        bottom_row: the grid row of the fitted head's lowest point (the chin): the shell stops there.
        face: (468, 3) float64 Face Mesh's points (u, v, z) in grid pixels, or None (no face found, or
            points without their depth).
        camera: the grid's camera, or None.
    """

    hit: np.ndarray
    front: np.ndarray
    back: np.ndarray
    bottom_row: int
    face: np.ndarray | None = None
    camera: Cameras | None = None


def _hair_growth(mask: np.ndarray, rows: slice, half_width_px: float, top_px: float, skull_top: float) -> tuple[float, float]:
    """(sideways, upwards) pixels of hair beyond the skull: the mask's widest half width over ``rows``
    beyond ``half_width_px``, and how far the mask's top is above ``skull_top`` (row)."""
    band = mask[rows]
    widths = band.sum(axis=1)
    side = max(0.0, 0.5 * float(widths.max()) - half_width_px) if len(widths) else 0.0
    filled = np.nonzero(mask.any(axis=1))[0]
    up = max(0.0, skull_top - float(filled.min())) if len(filled) else 0.0
    return side, min(up, top_px)


def head_shell(body_fit: BodyFit, camera: Cameras, mask: np.ndarray) -> HeadShell | None:
    """The head's ellipsoid (module docstring) on the grid of ``camera`` with person ``mask`` (S, S)
    bool; None when the fitted head is not in front of the camera."""
    verts = camera.world_to_camera(body_fit.vertices.detach().float().cpu())[0]
    head = verts[torch.isin(body_fit.parts.cpu().long(), torch.tensor(_HEAD_PARTS))]
    head = head[head[:, 2] > 1e-3]
    if len(head) < MIN_HEAD_VERTICES:
        return None
    lo, hi = head.min(0).values.double(), head.max(0).values.double()
    centre, semi = 0.5 * (lo + hi), 0.5 * (hi - lo)
    focal = float(camera.Ks[0, 0, 0])
    per_px = float(centre[2]) / focal  # metres per pixel at the head's depth
    cy = float(camera.Ks[0, 1, 2])
    S = mask.shape[0]
    top_row = cy + focal * float(lo[1]) / float(centre[2])
    bottom_row = int(np.clip(np.ceil(cy + focal * float(hi[1]) / float(centre[2])), 0, S))
    rows = slice(int(np.clip(top_row, 0, S)), bottom_row)
    cap_px = MAX_HAIR_M / per_px
    side_px, up_px = _hair_growth(mask, rows, float(semi[0]) / per_px, cap_px, top_row)
    side_m = min(side_px, cap_px) * per_px
    up_m = up_px * per_px
    # hair behind the head: as thick as beside it, or more where the head would be too short
    width_m, length_m = 2.0 * (float(semi[0]) + side_m), float(hi[2] - lo[2])
    behind_m = min(max(side_m, MIN_LENGTH_RATIO * width_m - length_m), MAX_HAIR_M)
    semi = semi + torch.tensor([side_m, 0.5 * up_m, 0.5 * (side_m + behind_m)], dtype=torch.float64)
    centre = centre + torch.tensor([0.0, -0.5 * up_m, 0.5 * (behind_m - side_m)], dtype=torch.float64)
    # ray (through the camera centre, the camera frame's origin) x ellipsoid: |(t d - c) / semi| = 1
    uv = camera.pixel_grid().double()  # (S, S, 2) pixel centres
    d = torch.cat([(uv - camera.Ks[0, :2, 2].double()) / camera.Ks[0, [0, 1], [0, 1]].double(), torch.ones(S, S, 1, dtype=torch.float64)], -1)
    a = ((d / semi) ** 2).sum(-1)
    b = -2.0 * ((d * centre) / semi**2).sum(-1)
    c = ((centre / semi) ** 2).sum() - 1.0
    disc = b * b - 4 * a * c
    hit = disc > 0
    root = torch.sqrt(disc.clamp_min(0.0))
    front = torch.where(hit, (-b - root) / (2 * a), torch.zeros_like(a))
    back = torch.where(hit, (-b + root) / (2 * a), torch.zeros_like(a))
    face = None
    if body_fit.crop is not None and body_fit.crop.landmarks.face is not None:
        points = np.asarray(body_fit.crop.landmarks.face, dtype=np.float64)
        if points.shape[-1] == 3:
            face = points * (S / float(body_fit.crop.size))  # crop pixels -> grid pixels (u, v and z)
    return HeadShell(
        hit=hit.numpy() & mask, front=front.numpy(), back=back.numpy(), bottom_row=bottom_row, face=face, camera=camera
    )


def round_head(
    shell: HeadShell,
    mask: np.ndarray,
    on_body: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    person: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(front, back) (S, S) with the head of ``shell`` over the rows above the chin: the back of the
    head at least as deep as the shell's back; ``mask`` pixels (the head's own) the fitted body does
    not cover there (``on_body`` False: hair beside and above the face) on the shell's front. The face
    takes the relief of Face Mesh's points when the shell has them (:mod:`.face_relief`), placed and
    applied over ``person`` (the whole person mask; default ``mask``: the face's rim and chin belong
    to it even where the fitted neck or shoulders cover them), else it keeps its depth."""
    person = mask if person is None else person
    zone = shell.hit & mask
    zone[shell.bottom_row :] = False
    front = np.where(zone & ~on_body, np.minimum(np.maximum(front, shell.front), shell.back), front)
    back = np.where(zone, np.maximum(back, shell.back), back)
    if shell.face is not None and shell.camera is not None:
        relief = face_relief(shell.face, shell.camera, front, person)
        if relief is not None:
            front = np.where(person, apply_relief(relief, front), front)
    return front, np.maximum(back, front)
