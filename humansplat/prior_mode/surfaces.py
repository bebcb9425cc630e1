"""Front, back and far surfaces of the person on the geometry grid (step 1 of :mod:`.build`).

The fitted body is rasterised into the crop camera (:func:`body_depths`). Inside the person mask its
mid-surface ``(front + back) / 2`` is extended harmonically over pixels the body does not cover
(clothes, hair, fit errors); its half thickness ``(back - front) / 2`` is extended with 0 at the
silhouette and at least :data:`INFLATION` x the distance to it (a rounded cross-section), then lightly
smoothed. Clothes and hair add depth beyond the naked body (:func:`clothing_depth`), garments that join
the legs get an elliptic cross-section (:func:`skirt_profile`), mask pixels that show the background
are dropped (:func:`~.holes.background_holes`) and fitted hands the photo does not show are not trusted
(:func:`~.skin.misplaced_hands`). A close-up gets a round head (:mod:`.head`), and hands near the head
get their own thin surfaces (:mod:`.hands`); neither the hands nor the fitted arms and shoulders
count as the head's hair. A photo cut off at the bottom gives a body that ends in a level, closed cap
just below where the photo ends (:mod:`.bust`).

Shapes: S geometry-grid side (pixels); maps are (S, S); depths are camera z in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..cameras import Cameras
from ..imaging import blur_masked, boundary_pixels, harmonic_fill, nearest_fill
from ..orbit import body_up_axis
from ..parts import PART_NAMES
from ..prior.body_fit import BodyFit
from ..prior.photo_framing import is_close_up
from ..render.mesh import MeshRaster, rasterize_mesh
from .bust import level_cut, photo_bottom_row
from .grids import resize_image
from .hands import hand_surfaces, hands_near_head
from .head import head_shell, round_head
from .holes import background_holes
from .options import PriorOptions
from .skin import misplaced_hands

__all__ = [
    "CLOTHING_DEPTH",
    "CLOTHING_MAX_M",
    "CLOTHING_SMOOTH_PX",
    "INFLATION",
    "SKIRT_ROUNDNESS",
    "THICKNESS_SMOOTH_PX",
    "PriorSurfaces",
    "body_depths",
    "clothing_depth",
    "prior_surfaces",
    "skirt_profile",
]

INFLATION = 0.7
"""Half thickness (metres) at least this times the distance to the silhouette (metres at the body's depth)
where the body does not reach: a rounded cross-section, not a flat cut-out."""
THICKNESS_SMOOTH_PX = 1.5
"""Gaussian smoothing (geometry-grid pixels) of the filled half thickness; the body's own surfaces stay exact."""
CLOTHING_DEPTH = 1.0
"""Clothes and hair add this times their width past the body at the silhouette to the depth in front and
behind (a coat about as much deeper as it is wider than the body)."""
CLOTHING_MAX_M = 0.10
"""Cap of the depth (metres) that clothes and hair add: a wide skirt or an outstretched sleeve is not that deep."""
CLOTHING_SMOOTH_PX = 4.0
"""Smoothing (geometry-grid pixels) of the added depth over the mask, so it does not step from row to row."""
SKIRT_ROUNDNESS = 0.7
"""Garments that join the legs (skirts, dresses, long coats) are this many times their half-width deep in
each row: about as deep as they are wide."""

_TORSO = PART_NAMES.index("torso")
_HANDS = PART_NAMES.index("hands")
_BELOW_HEAD = (PART_NAMES.index("arms"), PART_NAMES.index("torso"), _HANDS)
_HEAD_PARTS = (PART_NAMES.index("head"), PART_NAMES.index("face"))


@dataclass
class PriorSurfaces:
    """Front and back surfaces of the person on the geometry grid (camera ``camera``, S x S).

    Attributes:
        camera: the geometry grid's camera (the crop camera resized).
        mask: (S, S) bool person mask.
        body: (S, S) bool pixels where the fitted body is seen inside the mask and its depth is used
            (not where its hands lie over clothes: :func:`~.skin.misplaced_hands`).
        front_depth: (S, S) float32 camera depth (metres) of the visible surface (filled outside the mask).
        back_depth: (S, S) float32 camera depth where the ray leaves the first body part it entered
            (the back of that part), >= front_depth.
        front_part: (S, S) int64 part label (:data:`PART_NAMES`) of the visible surface.
        back_part: (S, S) int64 part label of the back surface.
        far_depth: (S, S) float32 depth where the ray leaves the body for the last time (> back_depth
            where parts overlap along the ray, e.g. the torso's back behind an arm), >= back_depth.
        far_part: (S, S) int64 part label of the far surface.
    """

    camera: Cameras
    mask: np.ndarray
    body: np.ndarray
    front_depth: np.ndarray
    back_depth: np.ndarray
    front_part: np.ndarray
    back_part: np.ndarray
    far_depth: np.ndarray
    far_part: np.ndarray


def body_depths(body_fit: BodyFit, camera: Cameras) -> tuple[MeshRaster, MeshRaster, MeshRaster]:
    """Where each pixel's ray of ``camera`` enters the fitted body, leaves the first part it
    entered, and leaves the body for the last time.

    All three come from :func:`humansplat.render.mesh.rasterize_mesh`. The first exit is the nearest
    *back-facing* triangle (a ray leaves a closed surface through back faces). For the farthest
    hit the body is inverted along the rays (a point at depth z moves to depth K / z on its own
    ray), which turns the farthest surface into the nearest; its depth is mapped back with
    z = K / z'. The inversion bends triangles slightly; for the body's small triangles the error
    is well below a millimetre.

    Returns:
        (front, first_exit, far): :class:`humansplat.render.mesh.MeshRaster` each, depths in
        camera metres (``first_exit.depth`` and ``far.depth`` are -inf where empty).
    """
    verts = body_fit.vertices.detach().float().cpu()
    faces = body_fit.faces.detach().cpu().long()
    z = camera.world_to_camera(verts)[0, :, 2]
    front = rasterize_mesh(verts, faces, camera)
    centre = camera.centers[0]
    # back-facing triangles (outward normals from the winding; flipped if the mesh is inside out)
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    normals = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    outward = 1.0 if float((v0 * torch.linalg.cross(v1, v2, dim=-1)).sum()) >= 0 else -1.0
    facing_away = outward * (normals * ((v0 + v1 + v2) / 3 - centre)).sum(-1) > 0
    first = rasterize_mesh(verts, faces[facing_away], camera)
    first.depth = torch.where(first.coverage, first.depth, -torch.inf)
    if bool(facing_away.any()):  # back to indices into all faces
        away = torch.nonzero(facing_away).squeeze(-1)
        first.face_id = torch.where(first.coverage, away[first.face_id.clamp_min(0)], -1)
    k = float(z[z > 0].median()) ** 2 if bool((z > 0).any()) else 1.0
    # the inverted body in the world frame: same rays (through the camera centre), depth K / z
    inv = centre + (verts - centre) * (k / z.clamp_min(1e-6) ** 2)[:, None]
    inv = torch.where((z > 0)[:, None], inv, verts)  # points behind the camera stay there (dropped)
    far = rasterize_mesh(inv, faces, camera)
    far.depth = torch.where(far.coverage, k / far.depth.clamp_min(1e-12), -torch.inf)
    return front, first, far


def clothing_depth(mask: np.ndarray, body: np.ndarray, metres_per_px: float) -> np.ndarray:
    """(S, S) metres that clothes and hair add to the body's depth, front and back.

    At each silhouette pixel the person extends ``d`` pixels past the fitted ``body`` (distance to the
    nearest body pixel: a coat's or a skirt's width beyond the legs, hair beyond the head); every
    mask pixel takes the value of its nearest silhouette pixel, smoothed (:data:`CLOTHING_SMOOTH_PX`),
    times :data:`CLOTHING_DEPTH` x ``metres_per_px`` and capped at :data:`CLOTHING_MAX_M`. 0 where the
    body reaches the silhouette, and everywhere when no body shows.
    """
    from scipy.ndimage import distance_transform_edt

    if not body.any():
        return np.zeros(mask.shape)
    edge = boundary_pixels(mask)
    excess = np.where(edge, distance_transform_edt(~body), 0.0)
    spread = blur_masked(nearest_fill(excess, edge), mask, CLOTHING_SMOOTH_PX)
    return np.minimum(CLOTHING_DEPTH * spread * metres_per_px, CLOTHING_MAX_M)


def skirt_profile(mask: np.ndarray, body: np.ndarray, front_part: np.ndarray, roundness: float) -> np.ndarray:
    """(S, S) half thickness in pixels of garments that join the legs (a skirt, a dress, a long coat):
    in each image row below the torso where one run of the mask holds leg pixels and at least a
    quarter of it is not the body (cloth between and beside the legs), the run is an elliptic cross-
    section ``roundness`` x its half-width deep (a skirt seen from the side is about as deep as it is
    wide; the legs under it are not). 0 elsewhere (trousers: the legs are their own runs)."""
    out = np.zeros(mask.shape)
    if roundness <= 0:
        return out
    legs = body & (front_part == PART_NAMES.index("legs"))
    torso = body & (front_part == _TORSO)
    for y in np.nonzero(legs.any(axis=1) & ~torso.any(axis=1))[0]:
        row = mask[y]
        edges = np.diff(np.r_[0, row.astype(np.int8), 0])
        for x0, x1 in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):  # runs [x0, x1)
            run_body = body[y, x0:x1]
            if not legs[y, x0:x1].any() or (~run_body).mean() < 0.25:
                continue
            a = 0.5 * (x1 - x0)
            x = np.arange(x0, x1) + 0.5 - (x0 + a)
            out[y, x0:x1] = roundness * a * np.sqrt(np.clip(1.0 - (x / a) ** 2, 0.0, None))
    return out


def _part_labels(face_id: np.ndarray, body_fit: BodyFit) -> np.ndarray:
    """(S, S) int64 part label of the body face each pixel hit (``face_id`` -1: none), the nearest hit
    pixel's label where it hit none; the torso everywhere when no pixel hit the body."""
    hit = face_id >= 0
    if not hit.any():
        return np.full(face_id.shape, _TORSO, dtype=np.int64)
    parts = body_fit.parts.cpu().long()
    faces = body_fit.faces.cpu().long()
    lab = np.zeros(face_id.shape, dtype=np.int64)
    lab[hit] = parts[faces[torch.as_tensor(face_id[hit]), 0]].numpy()
    return nearest_fill(lab, hit)


def _dressed_body(
    front: MeshRaster, back: MeshRaster, far: MeshRaster, extra: np.ndarray, on_head: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(front, back, far) (S, S) float64 depths of the body where it covers a pixel (0 elsewhere), with
    ``extra`` (S, S) metres of clothes and hair added in front (not on the head: the face stays where
    it is) and behind."""
    cov = front.coverage.numpy()
    front_d, back_d, far_d = front.depth.numpy(), back.depth.numpy(), far.depth.numpy()
    front_b = np.where(cov, front_d, 0.0).astype(np.float64)
    back_b = np.where(cov, np.maximum(back_d, front_d), 0.0).astype(np.float64)
    front_b = front_b - np.where(on_head, 0.0, extra)
    back_b = back_b + extra
    far_b = np.where(cov, np.maximum(far_d + extra, back_b), 0.0).astype(np.float64)
    return front_b, back_b, far_b


def _mid_and_half(
    front_b: np.ndarray, back_b: np.ndarray, body: np.ndarray, mask: np.ndarray, default_mid: float, focal: float
) -> tuple[np.ndarray, np.ndarray]:
    """(mid, half) (S, S): the body's mid-surface and half thickness (metres) where it is trusted
    (``body``), filled harmonically over the rest of ``mask`` (mid-surface ``default_mid`` where
    nothing is known; half thickness 0 at the silhouette, inflated, smoothed, at least half a pixel
    footprint at ``focal`` pixels)."""
    from scipy.ndimage import distance_transform_edt

    mid_known = 0.5 * (front_b + back_b)
    half_known = 0.5 * (back_b - front_b)
    mid = harmonic_fill(np.where(body, mid_known, 0.0), body, mask, default_mid)
    half = harmonic_fill(np.where(body, half_known, 0.0), body, mask, 0.0, zero_boundary=~mask)
    dist_px = distance_transform_edt(mask)
    inflated = INFLATION * dist_px * mid / focal
    half = np.where(body, half, np.maximum(half, inflated))
    half = np.where(body, half, blur_masked(half, mask, THICKNESS_SMOOTH_PX))
    half = np.maximum(half, 0.5 / focal * mid)  # at least a pixel footprint thick
    return mid, half


def prior_surfaces(body_fit: BodyFit, options: PriorOptions | None = None) -> PriorSurfaces:
    """Front/back depth of the person on the geometry grid (module docstring).

    Raises:
        InputError: the person mask is empty at ``options.geometry_resolution``.
    """
    opt = options or PriorOptions()
    S = int(opt.geometry_resolution)
    cam = body_fit.camera.resize(S, S)
    mask = resize_image(np.asarray(body_fit.crop.mask, dtype=np.float32), S) > 0.5
    if not mask.any():
        from ..errors import InputError

        raise InputError("the person mask is empty at the reconstruction resolution; use a photo where the person is larger")
    front_r, back_r, far_r = body_depths(body_fit, cam)
    back_r.depth = torch.where(back_r.coverage, back_r.depth, far_r.depth)  # open meshes: no back face hit
    back_r.face_id = torch.where(back_r.coverage, back_r.face_id, far_r.face_id)
    cov = front_r.coverage.numpy()
    rgb = resize_image(np.asarray(body_fit.crop.rgb, dtype=np.float32) / 255.0, S)  # the photo on this grid
    mask = mask & ~background_holes(rgb, mask, cov, body_fit.crop.background)
    fitted = cov & mask  # where the fitted body shows: its outline in the photo (clothes beyond it, skirts)
    front_part = _part_labels(front_r.face_id.numpy(), body_fit)
    body = fitted & ~misplaced_hands(rgb, mask, fitted, front_part)  # where its depth is trusted
    default_mid = float(cam.project(body_fit.vertices.detach().float())[1][0].median())
    focal = float(cam.Ks[0, 0, 0])
    # clothes and hair add depth beyond the body model: as much in front and behind as they add
    # at the sides in the photo (hair on the head only behind, so the face stays where it is)
    extra = clothing_depth(mask, fitted, default_mid / focal)
    on_head = np.isin(front_part, [PART_NAMES.index("head"), PART_NAMES.index("face")])
    front_b, back_b, far_b = _dressed_body(front_r, back_r, far_r, extra, on_head)
    mid, half = _mid_and_half(front_b, back_b, body, mask, default_mid, focal)
    # a skirt or a long coat is about as deep as it is wide: an elliptic cross-section per row
    skirt = skirt_profile(mask, fitted, front_part, SKIRT_ROUNDNESS) * mid / focal
    half = np.maximum(half, skirt)
    front_b = np.where(skirt > 0, np.minimum(front_b, mid - skirt), front_b)
    back_b = np.where(skirt > 0, np.maximum(back_b, mid + skirt), back_b)
    front = np.where(mask, np.where(body, front_b, mid - half), 0.0)
    back = np.where(mask, np.where(body, np.maximum(back_b, front_b + 2 * half), mid + half), 0.0)
    far_part = _part_labels(far_r.face_id.numpy(), body_fit)
    layers = _Layers(front, back, far_b, front_part, _part_labels(back_r.face_id.numpy(), body_fit))
    layers = _head_and_hands(body_fit, cam, mask, body, front_r, far_part, layers, default_mid / focal)
    front, back, far, front_part = layers.front, layers.back, layers.far, layers.front_part
    # a photo cut off at the bottom: the body ends in a level cap just below the photo (:mod:`.bust`)
    bottom = photo_bottom_row(body_fit.crop, S, mask)
    back, far = level_cut(cam, mask, front, back, far, bottom, body_up_axis(body_fit))
    # extend outside the mask (nearest value) so that finite differences at the silhouette are one-sided
    front = nearest_fill(front, mask)
    back = nearest_fill(back, mask)
    far = nearest_fill(np.where(mask, far, 0.0), mask)
    return PriorSurfaces(
        camera=cam,
        mask=mask,
        body=body,
        front_depth=front.astype(np.float32),
        back_depth=back.astype(np.float32),
        front_part=front_part,
        back_part=layers.back_part,
        far_depth=far.astype(np.float32),
        far_part=far_part,
    )


@dataclass
class _Layers:
    """Depths (S, S) camera metres and part labels (S, S) of the person's layers while they are built."""

    front: np.ndarray
    back: np.ndarray
    far: np.ndarray
    front_part: np.ndarray
    back_part: np.ndarray


def _head_and_hands(
    body_fit: BodyFit,
    cam: Cameras,
    mask: np.ndarray,
    trusted: np.ndarray,
    body_front: MeshRaster,
    far_part: np.ndarray,
    layers: _Layers,
    metres_per_px: float,
) -> _Layers:
    """``layers`` with a close-up's round head (:mod:`.head`), the far surface, and the hands near the
    head on their own thin surfaces (:mod:`.hands`): neither is hair, nor part of the head's shell.
    ``layers.far`` comes in as the fitted body's last exit (0 where it does not cover) and leaves as
    the far surface; ``trusted`` (S, S) bool: where the fitted body's depth is used; ``body_front``
    its front raster on the grid ``cam``; ``far_part`` the part it leaves last.

    A hand's back is its own, except where the head's shell is behind it: there the back layer is the
    head's back (labelled head), so the back of the head stays one closed surface, and the hand is
    closed towards the head by the walls at its edges. Behind a hand elsewhere the far surface is what
    the ray leaves last when that is another part (the torso's back), else the hand's back: no slab."""
    front, back, front_part = layers.front, layers.back, layers.front_part
    fitted_hand = trusted & (front_part == _HANDS)
    head = mask & np.isin(front_part, _HEAD_PARTS) & ~fitted_hand
    hands = hands_near_head(body_fit.crop.landmarks, body_fit.crop.size, mask, fitted_hand, head, metres_per_px)
    on = np.any(hands, axis=0) if hands else np.zeros(mask.shape, dtype=bool)
    # the head's own pixels: not the hands, nor the fitted arms and shoulders beside it (none is hair)
    head_mask = mask & ~on & ~(trusted & np.isin(front_part, _BELOW_HEAD))
    shell = head_shell(body_fit, cam, head_mask) if is_close_up(body_fit.crop.framing) else None
    if shell is not None:  # a portrait's head: round, its hair over the skull
        front, back = round_head(shell, head_mask, trusted, front, back, person=mask & ~on)
    far = np.where(trusted, np.maximum(layers.far, back), back)
    if not hands:
        return _Layers(front, back, far, front_part, layers.back_part)
    cov = body_front.coverage.numpy()
    raw_front = body_front.depth.numpy().astype(np.float64)
    shell_front = shell.front if shell is not None else np.zeros(front.shape)
    shell_back = shell.back if shell is not None else np.zeros(front.shape)
    face = cov & trusted & np.isin(front_part, _HEAD_PARTS)
    face_front = np.where(face, raw_front, np.where(shell_back > 0, shell_front, np.nan))
    surf = hand_surfaces(hands, head & ~on, front, raw_front, fitted_hand, face_front, metres_per_px)
    over = on & (shell_back > surf.back)  # the head's shell behind the hand
    back = np.where(over, shell_back, np.where(on, surf.back, back))
    behind = trusted & (far_part != _HANDS)  # the ray leaves another part last (the torso's back)
    far = np.where(on & ~over & behind, np.maximum(far, back), np.where(on, back, far))
    return _Layers(
        np.where(on, surf.front, front),
        back,
        far,
        np.where(on, _HANDS, front_part),
        np.where(over, _HEAD_PARTS[0], np.where(on, _HANDS, layers.back_part)),
    )
