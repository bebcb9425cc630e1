"""Fit a parametric body to one person crop: landmarks + silhouette + priors, by gradient descent.

``fit_body(crop)`` estimates the body (anny by default) in the crop's camera, whose intrinsics are
known and fixed (full perspective). Unknowns: the global orientation and translation, the pose of
the bones that matter (:data:`~humansplat.prior.body_models.POSE_GROUPS`; elbows and knees as
hinges) and a few shape values. Objective, all terms normalised by the person's height in pixels:

* **Landmarks**: confidence-weighted robust (pseudo-Huber) 2D reprojection error of the 33 MediaPipe
  landmarks (face and hand points down-weighted; MediaPipe Hands' knuckles, when present, refine the
  hands). Confidence 0 (occluded, out of frame) means the point is ignored.
* **Silhouette**: the body's surface points (about 1,500, one per 3.5 cm) must lie inside the person
  mask (distance transform of the mask's outside, read bilinearly) and the mask's outline must lie
  near some body point (robust chamfer, so loose clothes and hair pull only gently); both only where
  the crop shows the photo (parts cut off by the photo's border are unknown, not background).
* **Priors**: soft joint-angle limits, L2 to the neutral pose (much stronger for bones whose landmarks
  are unseen, so a half-body photo gets standing legs), a Gaussian prior on the shape values, and
  for what one photo hardly sees in depth: an upright stance and upper arms near the torso's
  frontal plane (``_lean_prior``).

Schedule: (1) ``_initialise``: depth from the torso's length in pixels vs. the model's (a face alone:
from its eyes and mouth, ``_face_placement``), the image position from the hips (or shoulders, or the
nose), the roll from the torso axis and the yaw from MediaPipe's 3D
landmarks (or both signs of the shoulder-width ratio, fitted in parallel as a batch for a few steps);
(2) ``_landmark_phase``: landmarks only, skinning no vertex at all (landmarks are skinned exactly
from per-bone moments); (3) ``_silhouette_phase``: landmarks + silhouette; (4) ``_to_body_fit``.
``_FitProblem`` holds what stays fixed (targets, weights) and the terms; its ``optimise`` is the one
Adam loop, which checks the ``deadline`` at every iteration. Adam throughout, on one intra-op thread (the ops are tiny). The body
model's shape dependence is linearised and refreshed every few steps (``BodyModel.rest_state``).
Quality goes to ``BodyFit.errors``: ``landmark_error_pct`` (mean 2D error over landmarks with
confidence >= 0.5, % of the person's height in pixels: the larger of the mask's height and the
confident landmarks' extent) and ``silhouette_iou`` (the fitted mesh rasterised vs. mask > 0.5).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from ..cameras import Cameras
from ..errors import Deadline, check_deadline
from ..geometry import axis_angle_to_matrix, matrix_to_axis_angle
from .body_fit import BodyFit
from .body_models import (
    HINGE_GROUPS,
    POSE_GROUPS,
    BodyModel,
    BodyParams,
    get_body_model,
)
from .person import PersonCrop
from .photo_framing import is_close_up

__all__ = ["FitOptions", "face_places_head", "fit_body", "landmark_weights", "silhouette_iou", "surface_points", "valid_region"]

# MediaPipe Pose indices.
_NOSE, _L_SH, _R_SH, _L_HIP, _R_HIP = 0, 11, 12, 23, 24
_L_ANKLE, _R_ANKLE = 27, 28
_FACE = tuple(range(11))
_HAND = (17, 18, 19, 20, 21, 22)
# Landmarks that each pose group moves (for the "unseen bones stay neutral" prior).
_GROUP_LANDMARKS: dict[str, tuple[int, ...]] = {
    "neck": _FACE, "head": _FACE,
    "shoulder.L": (13, 15), "shoulder.R": (14, 16), "elbow.L": (15, 17, 19, 21), "elbow.R": (16, 18, 20, 22),
    "wrist.L": (17, 19, 21), "wrist.R": (18, 20, 22),
    "hip.L": (25, 27), "hip.R": (26, 28), "knee.L": (27, 29, 31), "knee.R": (28, 30, 32),
    "ankle.L": (29, 31), "ankle.R": (30, 32),
}
_SPINE_PRIOR = 5.0  # extra weight of the spine, neck and head pose prior
_SELECT_AFTER = 30  # landmark iterations before the best yaw hypothesis is kept alone
_RELINEARISE_EVERY = 20  # iterations between refreshes of the body model's shape linearisation
# MediaPipe Hands points used (wrist, index/middle/pinky knuckles) -> our landmark (bone) names.
_HAND_POINTS = {0: "wrist", 5: "index", 17: "pinky"}


@dataclass
class FitOptions:
    """Settings of :func:`fit_body` (defaults tuned for 2 CPU cores, ~1 s per fit).

    Schedule
        landmark_iters: Adam steps on landmarks + priors (all yaw hypotheses at once).
        silhouette_iters: Adam steps with the silhouette term added (best hypothesis only).
        lr: Adam learning rate (radians for rotations; translation and shape are rescaled to match).
    Silhouette
        silhouette_resolution: side of the grid the mask's distance transform is computed on (pixels).
        surface_spacing: spacing (metres) of the body surface points compared with the mask.
    Weights
        w_landmarks: landmark term; w_outside: body points outside the mask; w_coverage: mask
            pixels far from the body.
        w_pose: L2 to the neutral pose; w_unseen: multiplier for bones whose landmarks are all unseen.
        w_limits: soft joint-angle limits; w_shape: Gaussian shape prior.
        w_lean: standing upright: the squared depth share of the ankles -> shoulders line (one
            photo hardly tells a body leaning towards the camera from one leaning away, and a
            lean tilts every side view).
        w_arm_plane: upper arms near the body's frontal plane: the squared share of each
            shoulder -> elbow line along the torso's forward axis (an arm held out sideways is
            foreshortened alike pointing forward or backward; the frontal plane is the likelier).
        confidence_min: landmarks below this confidence are ignored.
    """

    landmark_iters: int = 90
    silhouette_iters: int = 60
    lr: float = 0.08
    silhouette_resolution: int = 128
    surface_spacing: float = 0.035
    w_landmarks: float = 1.0
    w_outside: float = 20.0
    w_coverage: float = 5.0
    w_pose: float = 3e-5
    w_unseen: float = 300.0
    w_limits: float = 1.0
    w_shape: float = 1e-5
    w_lean: float = 5e-2
    w_arm_plane: float = 1e-2
    confidence_min: float = 0.2


def landmark_weights(confidence: np.ndarray, confidence_min: float = 0.2, close_up: bool = False) -> np.ndarray:
    """(33,) weights of the landmark term: the confidence, 0 below ``confidence_min``; face points
    count 0.3 (1 in a ``close_up``, where the face is most of what the photo shows and places the
    head) and MediaPipe Pose's hand points 0.5 (body joints 1)."""
    c = np.asarray(confidence, dtype=np.float32).copy()
    c[c < confidence_min] = 0.0
    if not close_up:
        c[list(_FACE)] *= 0.3
    c[list(_HAND)] *= 0.5
    return c


def valid_region(crop: PersonCrop) -> np.ndarray:
    """(S, S) bool: crop pixels that show the photo (where the mask is meaningful).

    From ``crop.photo_size`` + ``crop.box`` when the crop has them (a detected photo); otherwise (a
    synthetic crop), for each side in ``crop.cut_off``, everything beyond the mask's extent on that
    side is unknown (the photo's border runs where the person is cut).
    """
    S = crop.size
    out = np.ones((S, S), dtype=bool)
    if min(crop.photo_size) > 0 and crop.box[2] > 0:
        W, H = crop.photo_size
        x0, y0, side = crop.box
        scale = S / side
        u0, u1 = (0 - x0) * scale, (W - x0) * scale
        v0, v1 = (0 - y0) * scale, (H - y0) * scale
        centres = np.arange(S) + 0.5
        return ((centres >= v0) & (centres <= v1))[:, None] & ((centres >= u0) & (centres <= u1))[None, :]
    binary = crop.mask > 0.5
    if not binary.any():
        return out
    rows = np.nonzero(binary.any(axis=1))[0]
    cols = np.nonzero(binary.any(axis=0))[0]
    if "bottom" in crop.cut_off:
        out[rows.max() + 1 :, :] = False
    if "top" in crop.cut_off:
        out[: rows.min(), :] = False
    if "right" in crop.cut_off:
        out[:, cols.max() + 1 :] = False
    if "left" in crop.cut_off:
        out[:, : cols.min()] = False
    return out


def face_places_head(crop: PersonCrop) -> bool:
    """Whether the face's landmarks place the head in the fit: a close-up
    (:func:`~humansplat.prior.photo_framing.is_close_up`) in
    which Face Mesh found the face (``crop.landmarks.face``: the face is clear, and so are Pose's
    points on it; on a face without features they are guesses and the silhouette places the head
    better)."""
    return is_close_up(crop.framing) and crop.landmarks.face is not None


def surface_points(model: BodyModel, spacing: float = 0.035) -> torch.Tensor:
    """(n,) int64 vertex indices spread evenly over the body's outer surface (one per ``spacing``
    metres voxel of the reference body, the vertex nearest the voxel's centroid). Cached per model."""
    cache = model.__dict__.setdefault("_surface_points_cache", {})
    key = round(float(spacing), 5)
    if key in cache:
        return cache[key]
    with torch.no_grad():
        v = model(model.neutral_params()).vertices.numpy().astype(np.float64)
    surface = np.asarray(getattr(model, "surface", np.ones(len(v), dtype=bool)))
    idx = np.nonzero(surface)[0]
    cells = np.floor(v[idx] / spacing).astype(np.int64)
    _, inverse = np.unique(cells, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.nonzero(np.diff(inverse[order]))[0] + 1]
    chosen = idx[order[starts]]
    out = torch.as_tensor(np.sort(chosen), dtype=torch.int64)
    cache[key] = out
    return out


# ---------------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread, then restore the previous count.

    The fit is hundreds of tiny ops: extra threads only add synchronisation, and on a busy machine
    (more runnable threads than cores) spinning OpenMP workers made it 5-10x slower. OpenMP's thread
    count is a per-thread setting, so other threads of the process keep theirs.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _local_camera(camera: Cameras) -> Cameras:
    """The crop's camera with identity extrinsics: the fit works in the camera frame."""
    return Cameras(torch.eye(4)[None], camera.Ks[:1].float().cpu(), camera.width, camera.height)


def _project(camera: Cameras, points: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera-frame points (in front of the camera) -> (B, N, 2) pixels of ``camera``'s
    intrinsics (pixel centres at +0.5, as :meth:`Cameras.project`)."""
    K = camera.Ks[0]
    focal = torch.stack([K[0, 0], K[1, 1]]).float()
    centre = torch.stack([K[0, 2], K[1, 2]]).float()
    return points[..., :2] / points[..., 2:].clamp_min(1e-8) * focal + centre


def _rot_y(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _person_height_px(crop: PersonCrop, uv: np.ndarray, w: np.ndarray) -> float:
    """The person's height in pixels: the larger of the mask's and the confident landmarks' extent."""
    rows = np.nonzero((crop.mask > 0.5).any(axis=1))[0]
    h = float(rows.max() - rows.min() + 1) if rows.size else 0.0
    if (w > 0).sum() >= 2:
        v = uv[w > 0, 1]
        h = max(h, float(v.max() - v.min()))
    return max(h, 0.05 * crop.size)


def _face_placement(lm: np.ndarray, seen: np.ndarray, ref: np.ndarray, f: float) -> tuple[float, np.ndarray] | None:
    """(root depth in metres, root pixel) of an upright body facing the camera whose face alone is seen
    (``lm`` (33, 2) pixels, ``ref`` (33, 3) the model's landmarks about its root, y down, focal ``f``):
    the eyes' distance from the eye span, the ear span and the eyes-to-mouth length (the nearest
    reading: a turned or tilted face shortens some of them), the root below the nose. None without the
    nose, eyes and mouth."""
    if not seen[[_NOSE, 2, 5, 9, 10]].all():
        return None
    eyes_px, mouth_px = 0.5 * (lm[2] + lm[5]), 0.5 * (lm[9] + lm[10])
    eyes, mouth = 0.5 * (ref[2] + ref[5]), 0.5 * (ref[9] + ref[10])
    pairs = [(ref[2] - ref[5], lm[2] - lm[5]), (eyes - mouth, eyes_px - mouth_px)]
    if seen[7] and seen[8]:
        pairs.append((ref[7] - ref[8], lm[7] - lm[8]))
    depth = min(f * float(np.linalg.norm(a)) / max(float(np.linalg.norm(b)), 1.0) for a, b in pairs)
    depth -= float(eyes[2])  # the root, behind the eyes
    return depth, lm[_NOSE] + np.array([0.0, -float(ref[_NOSE, 1]) * f / depth])


@dataclass
class _Init:
    orient: torch.Tensor  # (B, 3, 3) model -> camera rotations (hypotheses)
    translation: torch.Tensor  # (3,) metres, camera frame


def _initialise(model: BodyModel, crop: PersonCrop, cam: Cameras, w: np.ndarray, h_px: float) -> _Init:
    """Depth from the torso length, position from the hips/shoulders, roll from the torso axis, yaw
    hypotheses from MediaPipe's 3D landmarks or from the shoulder-width ratio (both signs)."""
    lm = crop.landmarks.body.astype(np.float64)
    K = cam.Ks[0].double().numpy()
    f = 0.5 * (K[0, 0] + K[1, 1])
    c = K[:2, 2]
    with torch.no_grad():
        ref = model(model.neutral_params(), _NO_VERTICES).landmarks.double()
    ref = ref - model.neutral_params().translation.double()  # model frame
    ref = ref.numpy()
    seen = w > 0

    def mid(i: int, j: int) -> np.ndarray | None:
        return 0.5 * (lm[i] + lm[j]) if seen[i] and seen[j] else None

    sh2, hip2 = mid(_L_SH, _R_SH), mid(_L_HIP, _R_HIP)
    sh3, hip3 = 0.5 * (ref[_L_SH] + ref[_R_SH]), 0.5 * (ref[_L_HIP] + ref[_R_HIP])
    torso3 = float(np.linalg.norm(sh3 - hip3))
    shoulder3 = float(np.linalg.norm(ref[_L_SH] - ref[_R_SH]))
    height3 = float(ref[:, 1].max() - ref[:, 1].min())

    face = None if sh2 is not None or hip2 is not None else _face_placement(lm, seen, ref, f)
    # Depth.
    if sh2 is not None and hip2 is not None:
        depth = f * torso3 / max(float(np.linalg.norm(sh2 - hip2)), 1.0)
    elif sh2 is not None:
        depth = f * shoulder3 / max(float(abs(lm[_L_SH, 0] - lm[_R_SH, 0]) + 0.5 * abs(lm[_L_SH, 1] - lm[_R_SH, 1])), 1.0)
    elif face is not None:
        depth = face[0]
    else:
        depth = f * height3 / max(h_px, 1.0)
    depth = float(np.clip(depth, 0.3, 100.0))

    # Roll (in-image angle of the torso, hips -> shoulders vs. image up).
    if sh2 is not None and hip2 is not None:
        d = sh2 - hip2
        roll = math.atan2(d[0], -d[1])
    else:
        roll = 0.0

    # Root position: the root sits (in the model frame) at the origin; hips are just below it.
    if hip2 is not None:
        root_px = hip2 - (ref[_L_HIP, 1] + ref[_R_HIP, 1]) / 2 * f / depth * np.array([-math.sin(roll), math.cos(roll)])
    elif sh2 is not None:
        root_px = sh2 + torso3 * f / depth * np.array([-math.sin(roll), math.cos(roll)])
    elif face is not None:
        root_px = face[1]
    else:
        ys, xs = np.nonzero(crop.mask > 0.5)
        root_px = np.array([xs.mean(), ys.mean()]) if xs.size else c.copy()
    origin, direction = cam.rays(torch.tensor(root_px, dtype=torch.float32)[None])  # (1, 1, 3) each
    translation = (origin[0, 0] + direction[0, 0] / direction[0, 0, 2] * depth).float()  # the root at z = depth

    # Yaw hypotheses (rotation about the body's vertical axis, before the roll).
    world = getattr(crop.landmarks, "body_world", None)
    yaws: list[float]
    if world is not None and seen[_L_SH] and seen[_R_SH]:
        wv = np.asarray(world, dtype=np.float64)
        across = wv[_L_SH] - wv[_R_SH]  # subject's right -> left, MediaPipe world axes (x right, z away)
        if seen[_L_HIP] and seen[_R_HIP]:
            across = across + (wv[_L_HIP] - wv[_R_HIP])
        yaw = math.atan2(-across[2], across[0])  # model x (subject's left) turned by yaw about y
        yaws = [yaw]
    elif seen[_L_SH] and seen[_R_SH]:
        span = (lm[_L_SH] - lm[_R_SH]) @ np.array([math.cos(roll), math.sin(roll)])
        ratio = float(np.clip(span / (shoulder3 * f / depth), -1.0, 1.0))
        yaw = math.acos(ratio)
        yaws = [yaw, -yaw] if yaw > math.radians(12) else [yaw]
    else:
        yaws = [0.0]
    orient = torch.stack([_rot_z(roll) @ _rot_y(y) for y in yaws])
    return _Init(orient=orient.float(), translation=translation.float())


_HINGE_IDX = torch.tensor([POSE_GROUPS.index(g) for g in HINGE_GROUPS])
_BALL_IDX = torch.tensor([i for i, g in enumerate(POSE_GROUPS) if g not in HINGE_GROUPS])


class _Variables(torch.nn.Module):
    """The optimised variables of B hypotheses, mapped to :class:`BodyParams` (model frame pose)."""

    def __init__(self, model: BodyModel, init: _Init) -> None:
        super().__init__()
        B = init.orient.shape[0]
        self.hinge_idx, self.ball_idx = _HINGE_IDX, _BALL_IDX
        self.register_buffer("orient0", init.orient.clone())
        self.register_buffer("hinge_axes", model.hinge_axes.float())
        self.register_buffer("shape_scale", model.shape_scale().float())
        self.register_buffer("shape0", model.default_shape().float())
        depth = float(init.translation[2])
        self.register_buffer("depth0", torch.tensor(depth))
        self.d_orient = torch.nn.Parameter(torch.zeros(B, 3))
        # Translation as image-plane offsets (x/z, y/z) and log depth: decoupled, similar scales.
        xy = (init.translation[:2] / depth).expand(B, 2).clone()
        self.t_xy = torch.nn.Parameter(xy)
        self.t_logz = torch.nn.Parameter(torch.zeros(B, 1))
        neutral = model.neutral_pose().float()
        self.register_buffer("ball0", neutral[self.ball_idx].clone())  # the pose prior's mean
        self.register_buffer("hinge0", (neutral[self.hinge_idx] * self.hinge_axes).sum(-1))
        self.ball = torch.nn.Parameter(self.ball0.expand(B, -1, -1).clone())
        self.hinge = torch.nn.Parameter((self.hinge0 + 0.1).expand(B, -1).clone())
        self.shape_u = torch.nn.Parameter(torch.zeros(B, len(model.shape_names)))  # (shape - shape0) / scale

    def rotation(self) -> torch.Tensor:
        """(B, 3, 3) model -> camera rotation."""
        return self.orient0 @ axis_angle_to_matrix(self.d_orient)

    def translation(self) -> torch.Tensor:
        z = self.depth0 * torch.exp(self.t_logz)
        return torch.cat([self.t_xy * z, z], dim=-1)

    def body_pose(self) -> torch.Tensor:
        B = self.ball.shape[0]
        pose = self.ball.new_zeros(B, len(POSE_GROUPS), 3)
        pose = pose.index_copy(1, self.ball_idx, self.ball)
        return pose.index_copy(1, self.hinge_idx, self.hinge[..., None] * self.hinge_axes)

    def shape(self) -> torch.Tensor:
        return self.shape0 + self.shape_u * self.shape_scale

    def select(self, b: int) -> _Variables:
        """A copy holding hypothesis ``b`` only."""
        out = _Variables.__new__(_Variables)
        torch.nn.Module.__init__(out)
        out.hinge_idx, out.ball_idx = self.hinge_idx, self.ball_idx
        for name, buf in self.named_buffers():
            out.register_buffer(name, buf[b : b + 1].clone() if name == "orient0" else buf.clone())
        for name, p in self.named_parameters():
            setattr(out, name, torch.nn.Parameter(p.detach()[b : b + 1].clone()))
        return out


@dataclass
class _PriorTables:
    """The pose prior's fixed tables, split like :class:`_Variables` (ball joints, hinges).

    Attributes:
        ball_lo, ball_hi: (Pb, 3) axis-angle limits (radians) of the ball joints.
        hinge_lo, hinge_hi: (Ph,) flexion limits (radians) of the hinges.
        ball_w, hinge_w: (Pb,), (Ph,) multipliers of the neutral-pose prior.
    """

    ball_lo: torch.Tensor
    ball_hi: torch.Tensor
    hinge_lo: torch.Tensor
    hinge_hi: torch.Tensor
    ball_w: torch.Tensor
    hinge_w: torch.Tensor

    @classmethod
    def build(cls, model: BodyModel, group_weight: torch.Tensor) -> _PriorTables:
        """From the model's pose limits and the (P,) per-group prior multipliers."""
        lo, hi = (x.float() for x in model.pose_limits())
        ball, hinge = _BALL_IDX, _HINGE_IDX
        return cls(lo[ball], hi[ball], lo[hinge, 0], hi[hinge, 0], group_weight[ball], group_weight[hinge])


def _prior_terms(var: _Variables, tables: _PriorTables, opts: FitOptions) -> torch.Tensor:
    """(B,) pose and shape priors."""
    t = tables
    excess = torch.relu(t.ball_lo - var.ball) + torch.relu(var.ball - t.ball_hi)
    limit = (excess**2).sum((-1, -2)) + ((torch.relu(t.hinge_lo - var.hinge) + torch.relu(var.hinge - t.hinge_hi)) ** 2).sum(-1)
    l2 = (t.ball_w * ((var.ball - var.ball0) ** 2).sum(-1)).sum(-1) + (t.hinge_w * (var.hinge - var.hinge0) ** 2).sum(-1)
    shape = (var.shape_u**2).sum(-1)
    return opts.w_limits * limit + opts.w_pose * l2 + opts.w_shape * shape


def _lean_prior(lm3: torch.Tensor, opts: FitOptions) -> torch.Tensor:
    """(B,) ``w_lean`` x the squared depth share (camera z) of the unit line from the ankles' to the
    shoulders' midpoint of (B, 33, 3) camera-frame landmarks (0 for a person standing upright in
    front of a level camera, whatever the yaw), plus ``w_arm_plane`` x the squared forward share of
    each upper arm in the torso's own frame (x: right -> left shoulder, y: hips -> shoulders,
    z = x cross y: forward)."""
    shoulders = 0.5 * (lm3[:, _L_SH] + lm3[:, _R_SH])
    ankles = 0.5 * (lm3[:, _L_ANKLE] + lm3[:, _R_ANKLE])
    axis = torch.nn.functional.normalize(shoulders - ankles, dim=-1)
    lean = opts.w_lean * axis[:, 2] ** 2
    if opts.w_arm_plane <= 0:
        return lean
    # the body's own frame: left (right shoulder -> left shoulder), up (hips -> shoulders), forward
    left = torch.nn.functional.normalize(lm3[:, _L_SH] - lm3[:, _R_SH], dim=-1)
    up = torch.nn.functional.normalize(shoulders - 0.5 * (lm3[:, _L_HIP] + lm3[:, _R_HIP]), dim=-1)
    forward = torch.nn.functional.normalize(torch.linalg.cross(left, up, dim=-1), dim=-1)
    arms = 0.0
    for sh, el in ((_L_SH, 13), (_R_SH, 14)):
        bone = torch.nn.functional.normalize(lm3[:, el] - lm3[:, sh], dim=-1)
        arms = arms + (bone * forward).sum(-1) ** 2
    return lean + opts.w_arm_plane * arms


def _robust(sq: torch.Tensor, scale: float) -> torch.Tensor:
    """Geman-McClure of squared residuals ``sq`` (normalised units) with scale ``scale``: residuals
    well beyond ``scale`` stop pulling (outliers such as loose clothes)."""
    s2 = scale * scale
    return sq * s2 / (sq + s2)


def _pseudo_huber(sq: torch.Tensor, scale: float) -> torch.Tensor:
    """Pseudo-Huber of squared residuals ``sq``: quadratic below ``scale``, linear above, so a far
    landmark keeps pulling with a bounded force (no dead gradient for hard poses)."""
    s2 = scale * scale
    return s2 * (torch.sqrt(1.0 + sq / s2) - 1.0)


class _Silhouette:
    """Silhouette terms between projected body surface points and the person mask (crop pixels):

    * ``outside``: robust squared distance (in person heights) from each point to the mask, read
      bilinearly from a distance transform of the mask's outside: the body stays inside the mask;
    * ``coverage``: robust squared distance from mask pixels (its outline and a sparse grid inside)
      to the nearest body point: the body fills the mask (loose clothes and hair are only pulled
      towards, thanks to the robust function).

    Both are 0 for a body that matches the mask, well behaved far from it, and ignore the crop's
    region that does not show the photo.
    """

    def __init__(self, crop: PersonCrop, valid: np.ndarray, resolution: int, h_px: float, max_targets: int = 500) -> None:
        import torch.nn.functional as F
        from scipy.ndimage import distance_transform_edt

        S = crop.size
        self.R = R = int(min(resolution, S))
        self.S = S
        self.h_px = h_px
        mask = F.adaptive_avg_pool2d(torch.as_tensor(crop.mask, dtype=torch.float32)[None, None], R)[0, 0].numpy() > 0.5
        v = F.adaptive_avg_pool2d(torch.as_tensor(valid, dtype=torch.float32)[None, None], R)[0, 0].numpy() > 0.5
        dist = distance_transform_edt(~mask) * (S / R)  # crop pixels
        dist[~v] = 0.0
        self.dist = torch.as_tensor(dist, dtype=torch.float32)[None, None]  # (1, 1, R, R)
        # Targets: the outline of the mask (inside the valid region) and a sparse interior grid.
        pad = np.pad(mask, 1)
        inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
        edge = mask & ~inner & v
        ys, xs = np.nonzero(edge)
        step = max(1, len(ys) // (max_targets * 3 // 4))
        ys, xs = ys[::step], xs[::step]
        grid = np.zeros_like(mask)
        g = max(2, R // 24)
        grid[g // 2 :: g, g // 2 :: g] = True
        yi, xi = np.nonzero(grid & inner & v)
        ys, xs = np.r_[ys, yi], np.r_[xs, xi]
        self.targets = torch.as_tensor(np.stack([xs + 0.5, ys + 0.5], -1) * (S / R), dtype=torch.float32)  # (M, 2)

    def terms(self, uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, 2) projected surface points -> ((B,) outside, (B,) coverage) losses."""
        import torch.nn.functional as F

        B = uv.shape[0]
        grid = (uv / self.S) * 2.0 - 1.0  # align_corners=False: pixel edges at -1, 1
        d = F.grid_sample(self.dist.expand(B, -1, -1, -1), grid[:, :, None, :], mode="bilinear", padding_mode="border", align_corners=False)
        d = d[:, 0, :, 0] / self.h_px  # (B, N)
        outside = _robust(d * d, 0.05).mean(-1)
        if self.targets.numel() == 0:
            return outside, torch.zeros_like(outside)
        with torch.no_grad():  # nearest body point of each target: argmin_n |u_n|^2 - 2 t.u_n
            score = torch.baddbmm((uv * uv).sum(-1)[:, None, :], self.targets[None].expand(B, -1, -1), uv.transpose(-1, -2), alpha=-2.0)
            nearest = torch.from_numpy(score.numpy().argmin(-1))  # (B, M); NumPy's argmin is several times faster
        near = torch.gather(uv, 1, nearest[..., None].expand(-1, -1, 2))  # (B, M, 2)
        sq = ((near - self.targets) ** 2).sum(-1) / self.h_px**2  # (B, M)
        coverage = _robust(sq, 0.05).mean(-1)
        return outside, coverage


def silhouette_iou(vertices: torch.Tensor, faces: torch.Tensor, crop: PersonCrop, resolution: int = 256) -> float:
    """IoU between the mesh (``vertices`` (V, 3), world frame) rasterised into ``crop.camera`` and
    ``crop.mask > 0.5``, over :func:`valid_region`, at ``resolution`` pixels."""
    import torch.nn.functional as F

    from ..render.mesh import rasterize_mesh

    S = crop.size
    R = int(min(resolution, S))
    cam = crop.camera.resize(R, R)
    cover = rasterize_mesh(vertices, faces, cam).coverage.numpy()
    mask = F.adaptive_avg_pool2d(torch.as_tensor(crop.mask, dtype=torch.float32)[None, None], R)[0, 0].numpy() > 0.5
    valid = F.adaptive_avg_pool2d(torch.as_tensor(valid_region(crop), dtype=torch.float32)[None, None], R)[0, 0].numpy() > 0.5
    inter = (cover & mask & valid).sum()
    union = ((cover | mask) & valid).sum()
    return float(inter / union) if union else 0.0


# ---------------------------------------------------------------------------------------------- the fit
def fit_body(
    crop: PersonCrop,
    backend: str = "anny",
    options: FitOptions | None = None,
    *,
    deadline: Deadline | None = None,
    **overrides: float,
) -> BodyFit:
    """Fit the body model ``backend`` to ``crop`` (see the module docstring).

    Args:
        crop: the person crop (mask, landmarks, camera) from :func:`humansplat.prior.person.detect_person`
            or :func:`humansplat.prior.synthetic.make_synthetic_person`.
        backend: body model name, see :func:`humansplat.prior.body_models.get_body_model`.
        options: :class:`FitOptions`; keyword ``overrides`` replace single fields
            (e.g. ``fit_body(crop, silhouette_iters=0)``).
        deadline: checked at every iteration; past it the fit stops with
            :class:`~humansplat.errors.TimeLimitError` (None: no limit).

    Returns:
        :class:`BodyFit` in the crop camera's world frame, with ``errors`` filled.

    Raises:
        InputError: the crop has fewer than 4 confident body landmarks (nothing to fit to).
        TimeLimitError: ``deadline`` passed during the fit.
    """
    unknown = set(overrides) - {f.name for f in fields(FitOptions)}
    if unknown:
        raise TypeError(f"unknown fit option(s) {sorted(unknown)}; see FitOptions")
    opts = replace(options or FitOptions(), **overrides)
    with _one_thread():
        t_start = time.perf_counter()
        problem = _FitProblem.build(crop, get_body_model(backend), opts, deadline)
        var = _Variables(problem.model, _initialise(problem.model, crop, problem.cam, problem.w.numpy(), problem.h_px))
        var = _landmark_phase(problem, var)
        t_landmarks = time.perf_counter() - t_start
        _silhouette_phase(problem, crop, var)
        fit = _to_body_fit(problem, crop, var)
    fit.timings.update(fit_landmarks_s=t_landmarks, fit_total_s=time.perf_counter() - t_start)
    return fit


@dataclass
class _FitProblem:
    """What stays fixed during one fit: the model, the camera, the targets and the weights of every term.

    Attributes:
        model: the body model.
        cam: the crop's camera with identity extrinsics (the fit works in the camera frame).
        opts: the fit's options.
        target: (33, 2) landmark pixels; conf: (33,) their confidence (0 outside the crop).
        w: (33,) weights of the landmark term (:func:`landmark_weights`).
        h_px: the person's height in pixels (every term is normalised by it).
        extra_idx, extra_tgt: (E,) landmark indices and (E, 2) pixels of MediaPipe Hands' knuckles.
        group_weight: (P,) multiplier of the neutral-pose prior per pose group.
        deadline: checked at every iteration (None: no limit).
    """

    model: BodyModel
    cam: Cameras
    opts: FitOptions
    target: torch.Tensor
    conf: np.ndarray
    w: torch.Tensor
    h_px: float
    extra_idx: torch.Tensor
    extra_tgt: torch.Tensor
    group_weight: torch.Tensor
    deadline: Deadline | None = None
    tables: _PriorTables | None = None

    def __post_init__(self) -> None:
        self.tables = _PriorTables.build(self.model, self.group_weight)

    @classmethod
    def build(cls, crop: PersonCrop, model: BodyModel, opts: FitOptions, deadline: Deadline | None) -> _FitProblem:
        """Targets and weights from the crop. Raises InputError with fewer than 4 confident landmarks."""
        from ..errors import InputError

        S = crop.size
        lm = crop.landmarks
        conf = np.asarray(lm.body_confidence, dtype=np.float32).copy()
        conf[~np.all((lm.body >= 0) & (lm.body <= S), axis=1)] = 0.0
        w_np = landmark_weights(conf, opts.confidence_min, close_up=face_places_head(crop))
        n_seen = int((w_np > 0).sum())
        if n_seen < 4:
            raise InputError(
                f"Only {n_seen} body landmarks were found with confidence >= {opts.confidence_min}; the body "
                "cannot be fitted. Use a photo where the person's head, shoulders and hips are visible."
            )
        # Hand knuckles from MediaPipe Hands, when present: extra targets on the wrist/index/pinky points.
        extra_idx, extra_tgt = [], []
        for pts, (wrist, pinky, index) in ((lm.left_hand, (15, 17, 19)), (lm.right_hand, (16, 18, 20))):
            if pts is not None and conf[wrist] >= opts.confidence_min:
                extra_idx += [wrist, index, pinky]
                extra_tgt += [pts[0], pts[5], pts[17]]
        return cls(
            model=model,
            cam=_local_camera(crop.camera),
            opts=opts,
            target=torch.as_tensor(lm.body, dtype=torch.float32),
            conf=conf,
            w=torch.as_tensor(w_np),
            h_px=_person_height_px(crop, lm.body, w_np),
            extra_idx=torch.tensor(extra_idx, dtype=torch.int64),
            extra_tgt=torch.as_tensor(np.asarray(extra_tgt, dtype=np.float32).reshape(-1, 2)),
            group_weight=_group_weights(w_np, opts),
            deadline=deadline,
        )

    # ------------------------------------------------------------------ terms
    def landmark_loss(self, lm3: torch.Tensor) -> torch.Tensor:
        """(B, 33, 3) camera-frame landmarks -> (B,) robust reprojection error (person heights)."""
        uv = _project(self.cam, lm3)  # (B, 33, 2)
        sq = ((uv - self.target) ** 2).sum(-1) / self.h_px**2
        data = (self.w * _pseudo_huber(sq, 0.05)).sum(-1) / self.w.sum()
        if self.extra_idx.numel():
            sq_e = ((uv[:, self.extra_idx] - self.extra_tgt) ** 2).sum(-1) / self.h_px**2
            data = data + 0.5 * _pseudo_huber(sq_e, 0.05).sum(-1) / self.w.sum()
        return data

    def prior(self, var: _Variables) -> torch.Tensor:
        """(B,) joint limits + neutral pose + shape priors."""
        return _prior_terms(var, self.tables, self.opts)

    def lean_prior(self, lm3: torch.Tensor) -> torch.Tensor:
        """(B,) prior on what one photo hardly sees, from (B, 33, 3) camera-frame landmarks: an
        upright stance (:func:`_lean_prior`)."""
        return _lean_prior(lm3, self.opts)

    def posed(self, var: _Variables, vertex_index: torch.Tensor, rest: object | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera-frame (B, 33, 3) landmarks and (B, n, 3) vertices ``vertex_index`` of the B hypotheses."""
        out = self.model.model_frame(var.body_pose(), var.shape(), vertex_index, rest)
        R, t = var.rotation(), var.translation()
        lm3 = out.landmarks @ R.transpose(-1, -2) + t[:, None]
        verts = out.vertices @ R.transpose(-1, -2) + t[:, None]
        return lm3, verts

    def landmark_objective(self, var: _Variables, rest: object | None) -> torch.Tensor:
        """(B,) landmarks + priors (no vertex is skinned)."""
        lm3, _ = self.posed(var, _NO_VERTICES, rest)
        return self.opts.w_landmarks * self.landmark_loss(lm3) + self.prior(var) + self.lean_prior(lm3)

    # ------------------------------------------------------------------ optimisation
    def optimise(
        self,
        var: _Variables,
        iters: int,
        lr0: float,
        lr1: float,
        vertex_index: torch.Tensor,
        loss_fn: Callable[[_Variables, object | None], torch.Tensor],
    ) -> None:
        """``iters`` Adam steps from ``lr0`` (cosine) down to ``lr1`` on ``loss_fn(var, rest).sum()``,
        relinearising the shape every few steps (on ``vertex_index``) and clamping it to its bounds."""
        if iters <= 0:
            return
        opt = _Adam(var)
        shape_lo, shape_hi = self.model.shape_bounds()
        u_lo = ((shape_lo - var.shape0) / var.shape_scale).float()
        u_hi = ((shape_hi - var.shape0) / var.shape_scale).float()
        rest = None
        for it in range(iters):
            check_deadline(self.deadline, "the body fit")
            if it % _RELINEARISE_EVERY == 0:
                rest = self.model.rest_state(var.shape().detach().mean(0), vertex_index)
            # cosine schedule: each variable from lr0 x its multiplier down to lr1
            cosine = 0.5 * (1.0 + math.cos(math.pi * it / iters))
            opt.zero_grad()
            loss_fn(var, rest).sum().backward()
            opt.step(lr0 * cosine, lr1 * (1.0 - cosine))
            with torch.no_grad():
                var.shape_u.clamp_(u_lo, u_hi)


_NO_VERTICES = torch.zeros(0, dtype=torch.int64)


def _group_weights(w: np.ndarray, opts: FitOptions) -> torch.Tensor:
    """(P,) neutral-pose prior multipliers: ``w_unseen`` for bones whose landmarks are all unseen
    (weight 0), ``_SPINE_PRIOR`` more for the spine, neck and head."""
    group_weight = torch.ones(len(POSE_GROUPS))
    for g, idxs in _GROUP_LANDMARKS.items():
        if all(w[i] == 0 for i in idxs):
            group_weight[POSE_GROUPS.index(g)] = opts.w_unseen
    for g in ("spine_lower", "spine_upper", "neck", "head"):
        group_weight[POSE_GROUPS.index(g)] *= _SPINE_PRIOR
    return group_weight


_LR_SCALE = {"t_xy": 0.1, "t_logz": 0.5}  # Adam's learning-rate multipliers; the other variables 1


class _Adam:
    """Adam (PyTorch's: betas (0.9, 0.999), eps 1e-8, bias-corrected) over the variables of
    :class:`_Variables` at once: the moments live in one flat vector, so a step is a dozen ops
    whatever the number of tensors. Translation steps are rescaled to match the rotations' (radians)."""

    def __init__(self, var: _Variables) -> None:
        self.params = [var.d_orient, var.ball, var.hinge, var.t_xy, var.t_logz, var.shape_u]
        names = ("d_orient", "ball", "hinge", "t_xy", "t_logz", "shape_u")
        self.sizes = [p.numel() for p in self.params]
        self.scale = torch.cat([torch.full((n,), _LR_SCALE.get(k, 1.0)) for k, n in zip(names, self.sizes)])
        self.m = torch.zeros(sum(self.sizes))
        self.v = torch.zeros(sum(self.sizes))
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float, lr_floor: float = 0.0) -> None:
        """One step; each variable's learning rate is ``lr x`` its multiplier ``+ lr_floor``."""
        self.t += 1
        g = torch.cat([p.grad.reshape(-1) for p in self.params])
        self.m.lerp_(g, 0.1)
        self.v.mul_(0.999).addcmul_(g, g, value=0.001)
        denom = (self.v.sqrt() / math.sqrt(1.0 - 0.999**self.t)).add_(1e-8)
        rate = (self.scale * lr + lr_floor) / (1.0 - 0.9**self.t)
        for p, u in zip(self.params, (self.m / denom * rate).split(self.sizes)):
            p.sub_(u.view_as(p))


def _landmark_phase(problem: _FitProblem, var: _Variables) -> _Variables:
    """Landmarks + priors: all yaw hypotheses for a few steps, then the best one alone; returns it."""
    opts = problem.opts
    n_select = min(opts.landmark_iters, _SELECT_AFTER) if len(var.orient0) > 1 else 0
    problem.optimise(var, n_select, opts.lr, opts.lr * 0.6, _NO_VERTICES, problem.landmark_objective)
    if len(var.orient0) > 1:
        with torch.no_grad():
            best = int(torch.argmin(problem.landmark_objective(var, None)))
        var = var.select(best)
    lr0 = opts.lr * (0.6 if n_select else 1.0)
    problem.optimise(var, opts.landmark_iters - n_select, lr0, opts.lr * 0.2, _NO_VERTICES, problem.landmark_objective)
    return var


def _silhouette_phase(problem: _FitProblem, crop: PersonCrop, var: _Variables) -> None:
    """Landmarks + silhouette + priors on the surface points (one hypothesis), in place."""
    opts = problem.opts
    if opts.silhouette_iters <= 0:
        return
    points = surface_points(problem.model, opts.surface_spacing)
    # the coverage term acts in close-ups too: it holds the shoulders to the mask's and so sets the bust's
    # distance; the face's points alone (Pose's ears and mouth corners sit inside and above the body
    # model's) put it 4-11 cm too far on the built-in subjects' portraits
    sil = _Silhouette(crop, valid_region(crop), opts.silhouette_resolution, problem.h_px)

    def objective(v: _Variables, rest: object | None) -> torch.Tensor:
        lm3, verts = problem.posed(v, points, rest)
        outside, coverage = sil.terms(_project(problem.cam, verts))
        return (
            opts.w_landmarks * problem.landmark_loss(lm3)
            + opts.w_outside * outside
            + opts.w_coverage * coverage
            + problem.prior(v)
            + problem.lean_prior(lm3)
        )

    problem.optimise(var, opts.silhouette_iters, opts.lr * 0.5, opts.lr * 0.05, points, objective)


def _to_body_fit(problem: _FitProblem, crop: PersonCrop, var: _Variables) -> BodyFit:
    """The fitted hypothesis as a :class:`BodyFit` in the world frame of the crop's camera, with errors."""
    model = problem.model
    with torch.no_grad():
        R_cam, t_cam = var.rotation()[0], var.translation()[0]
        c2w = crop.camera.camtoworlds[0].float().cpu()
        R_w = c2w[:3, :3] @ R_cam
        t_w = c2w[:3, :3] @ t_cam + c2w[:3, 3]
        params = BodyParams(
            global_orient=matrix_to_axis_angle(R_w),
            translation=t_w,
            body_pose=var.body_pose()[0].detach().clone(),
            shape=var.shape()[0].detach().clone(),
        )
        out = model(params)
        lm_uv = crop.camera.project(out.landmarks)[0][0].cpu()
    seen = problem.conf >= 0.5
    if seen.any():
        err = (lm_uv - problem.target).norm(dim=-1).numpy()[seen].mean() / problem.h_px * 100.0
    else:
        err = float("nan")
    errors = {
        "landmark_error_pct": float(err),
        "silhouette_iou": silhouette_iou(out.vertices, model.faces, crop),
    }
    return BodyFit(
        backend=model.name,
        pose=params.body_pose,
        shape={n: params.shape[i].clone() for i, n in enumerate(model.shape_names)},
        vertices=out.vertices.float(),
        faces=model.faces,
        parts=model.parts,
        joints=out.joints.float(),
        camera=crop.camera,
        crop=crop,
        errors=errors,
        params=params,
        landmarks3d=out.landmarks.float(),
        timings={},
    )
