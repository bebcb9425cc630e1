"""The project's own synthetic person: a posed, shaped body rendered in front of a known camera.

``make_synthetic_person(seed=0, size=512)`` draws body parameters from ``seed`` (a plausible standing
pose, an adult shape, a yaw within +-35 deg), frames the body in a camera with a known field of view,
renders it (z-buffer rasteriser with Lambert shading, 2x supersampled, on white), and returns a
:class:`SyntheticPerson`: a :class:`~humansplat.prior.person.PersonCrop` exactly like the one
:func:`~humansplat.prior.person.detect_person` makes for a photo (mask from the render; the 33
landmarks projected from the body's known 3D points, confidence 1, 0 outside the image), plus the
ground truth (parameters, vertices, joints, landmarks in 3D). Deterministic for a seed, cached per
process (each call returns a fresh copy). No detector is involved, so tests that use it do not
depend on MediaPipe.

World frame = the camera's frame (identity extrinsics), as for a real photo.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..cameras import Cameras
from ..geometry import axis_angle_to_matrix, matrix_to_axis_angle
from ..parts import PART_NAMES, part_color_table
from ..render.mesh import TexturedMesh, render_mesh
from .body_fit import BodyFit
from .body_models import POSE_GROUPS, BodyModel, BodyParams, get_body_model
from .landmarks import Landmarks
from .person import PersonCrop
from .photo_framing import photo_framing

__all__ = ["SyntheticPerson", "make_synthetic_person", "sample_body_params"]

Framing = Literal["full", "half"]
Colors = Literal["clothing", "parts"]

_SKIN = ((0.93, 0.76, 0.64), (0.80, 0.60, 0.46), (0.60, 0.42, 0.30), (0.42, 0.28, 0.20))
_SHIRT = ((0.20, 0.42, 0.70), (0.75, 0.22, 0.22), (0.25, 0.55, 0.35), (0.85, 0.80, 0.70), (0.35, 0.35, 0.40))
_TROUSERS = ((0.15, 0.18, 0.30), (0.30, 0.30, 0.32), (0.55, 0.45, 0.32), (0.10, 0.10, 0.12))
_HAIR = ((0.12, 0.08, 0.05), (0.35, 0.22, 0.12), (0.65, 0.50, 0.30), (0.05, 0.05, 0.05))


@dataclass
class SyntheticPerson:
    """A rendered synthetic person and its ground truth (world = camera frame, metres).

    Attributes:
        crop: the person crop (rgb on white, mask, camera, landmarks) as a real photo would give.
        params: the true body parameters.
        vertices: (V, 3) float32 true vertices; faces (F, 3) int64; parts (V,) int64 labels.
        joints: (J, 3) float32 true joints; landmarks3d: (33, 3) float32 true landmark points.
        backend: body model name.
        seed: the seed the person was drawn from.
    """

    crop: PersonCrop
    params: BodyParams
    vertices: torch.Tensor
    faces: torch.Tensor
    parts: torch.Tensor
    joints: torch.Tensor
    landmarks3d: torch.Tensor
    backend: str
    seed: int

    @property
    def height_m(self) -> float:
        """Extent of the body along the model's vertical axis (standing height for straight poses)."""
        R = _rotation(self.params.global_orient)
        local = (self.vertices - self.params.translation) @ R
        return float(local[:, 1].max() - local[:, 1].min())

    def as_body_fit(self) -> BodyFit:
        """The ground truth as a :class:`BodyFit` (errors 0 / IoU 1 by construction), for tests of
        later stages that should not depend on the fit."""
        model = get_body_model(self.backend)
        return BodyFit(
            backend=self.backend,
            pose=self.params.body_pose.clone(),
            shape={n: self.params.shape[i].clone() for i, n in enumerate(model.shape_names)},
            vertices=self.vertices.clone(),
            faces=self.faces,
            parts=self.parts,
            joints=self.joints.clone(),
            camera=self.crop.camera,
            crop=self.crop,
            errors={"landmark_error_pct": 0.0, "silhouette_iou": 1.0},
            params=self.params.detach(),
            landmarks3d=self.landmarks3d.clone(),
        )


def _rotation(rotvec: torch.Tensor) -> torch.Tensor:
    return axis_angle_to_matrix(rotvec.float())


def sample_body_params(rng: np.random.Generator, model: BodyModel) -> BodyParams:
    """A plausible standing adult drawn from ``rng`` around ``model``'s neutral pose and average
    shape (model frame pose; orientation and translation 0: the caller places the body). Hinges
    (elbows, knees) stay straight; the caller bends them about the model's own axes."""

    def deg(lo: float, hi: float) -> float:
        return math.radians(rng.uniform(lo, hi))

    pose = model.neutral_pose().clone().float()
    shape_names, default_shape = model.shape_names, model.default_shape()

    def put(group: str, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> None:
        pose[POSE_GROUPS.index(group)] += torch.tensor([x, y, z])

    put("spine_lower", deg(-5, 10), deg(-8, 8), deg(-5, 5))
    put("spine_upper", deg(-5, 8), deg(-8, 8), deg(-4, 4))
    put("neck", deg(-8, 12), deg(-10, 10), deg(-6, 6))
    put("head", deg(-8, 8), deg(-15, 15), deg(-6, 6))
    for side, sign in (("L", 1.0), ("R", -1.0)):
        # Arms: from hanging beside the body to raised sideways by ~35 deg, some swing.
        put(f"shoulder.{side}", deg(-30, 15), sign * deg(-10, 10), sign * deg(-35, 5))
        put(f"wrist.{side}", deg(-15, 15), deg(-10, 10), deg(-15, 15))
        put(f"hip.{side}", deg(-15, 8), sign * deg(-8, 8), sign * deg(-12, 2))
        put(f"ankle.{side}", deg(-5, 10), 0.0, 0.0)
    shape = default_shape.clone().float()
    ranges = {"gender": (0.0, 1.0), "age": (0.6, 0.9), "muscle": (0.3, 0.7), "weight": (0.3, 0.7), "proportions": (0.3, 0.7)}
    for i, name in enumerate(shape_names):
        if name in ranges:
            shape[i] = float(rng.uniform(*ranges[name]))
        elif name == "height":
            shape[i] = float(default_shape[i]) + float(rng.uniform(-0.06, 0.06))
    return BodyParams(global_orient=torch.zeros(3), translation=torch.zeros(3), body_pose=pose, shape=shape)


@functools.lru_cache(maxsize=16)
def _make_cached(
    seed: int, size: int, framing: str, colors: str, fov_y_deg: float | None, yaw_deg: float | None, backend: str, world_landmarks: bool
) -> SyntheticPerson:
    rng = np.random.default_rng(seed)
    model = get_body_model(backend)
    params = sample_body_params(rng, model)
    # Hinges: flexion about each model's own axes.
    for group, lo_hi in (("elbow", (5.0, 55.0)), ("knee", (0.0, 20.0))):
        for side in ("L", "R"):
            g = f"{group}.{side}"
            k = ("elbow.L", "elbow.R", "knee.L", "knee.R").index(g)
            angle = math.radians(rng.uniform(*lo_hi))
            params.body_pose[POSE_GROUPS.index(g)] = angle * model.hinge_axes[k]
    yaw = math.radians(rng.uniform(-35.0, 35.0) if yaw_deg is None else yaw_deg)
    pitch = math.radians(rng.uniform(-4.0, 4.0))
    fov = float(rng.uniform(32.0, 48.0) if fov_y_deg is None else fov_y_deg)
    R = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(pitch), -math.sin(pitch)], [0.0, math.sin(pitch), math.cos(pitch)]]) @ torch.tensor(
        [[math.cos(yaw), 0.0, math.sin(yaw)], [0.0, 1.0, 0.0], [-math.sin(yaw), 0.0, math.cos(yaw)]]
    )
    params.global_orient = matrix_to_axis_angle(R)
    camera = Cameras.from_fov(fov, size, size)
    f = float(camera.Ks[0, 1, 1])

    # Frame the body: the vertical extent to show fills `fill` of the image, centred.
    with torch.no_grad():
        local = model(BodyParams(torch.zeros(3), torch.zeros(3), params.body_pose, params.shape))
    verts_local = local.vertices @ R.T
    lm_local = local.landmarks @ R.T
    if framing == "full":
        shown, fill = torch.ones(len(verts_local), dtype=torch.bool), 0.82
    elif framing == "half":  # head to mid-thigh
        mid_thigh = 0.25 * (lm_local[23] + lm_local[24] + lm_local[25] + lm_local[26])
        shown, fill = verts_local[:, 1] <= mid_thigh[1], 0.96
    else:
        raise ValueError(f"framing must be 'full' or 'half', got {framing!r}")
    pts = verts_local[shown]
    t = torch.tensor([0.0, 0.0, f * float(pts[:, 1].max() - pts[:, 1].min()) / (fill * size)])
    for _ in range(4):  # perspective makes framing slightly iterative: fit the height, centre the box
        uv = camera.project(pts + t)[0][0] - camera.Ks[0, :2, 2]  # relative to the principal point
        lo, hi = uv.min(0).values, uv.max(0).values
        t[2] = t[2] * float(hi[1] - lo[1]) / (fill * size)
        t[:2] = t[:2] - 0.5 * (lo + hi) / f * t[2]
    params.translation = t

    with torch.no_grad():
        out = model(params)
    vertices, joints, lm3 = out.vertices.float(), out.joints.float(), out.landmarks.float()
    rgb, mask = _render(vertices, model.faces, model.parts, camera, colors, rng)

    uv = camera.project(lm3)[0][0].numpy().astype(np.float32)
    conf = np.all((uv >= 0) & (uv <= size), axis=1).astype(np.float32)
    body_world = None
    if world_landmarks:
        hips = 0.5 * (lm3[23] + lm3[24])
        body_world = (lm3 - hips).numpy().astype(np.float32)
    landmarks = Landmarks(body=uv, body_confidence=conf, body_world=body_world) if _has_field(Landmarks, "body_world") else Landmarks(body=uv, body_confidence=conf)
    binary = mask > 0.5
    cut_off = tuple(
        side
        for side, edge in (("top", binary[0]), ("bottom", binary[-1]), ("left", binary[:, 0]), ("right", binary[:, -1]))
        if edge.any()
    )
    crop = PersonCrop(
        rgb=rgb,
        mask=mask,
        camera=camera,
        landmarks=landmarks,
        people_found=1,
        cut_off=cut_off,
        notes=[f"synthetic person (seed {seed}, {framing} body)"],
        framing=photo_framing(conf),
    )
    if _has_field(PersonCrop, "box"):
        crop.box = (0, 0, size)
    if _has_field(PersonCrop, "photo_size"):
        crop.photo_size = (size, size)
    if _has_field(PersonCrop, "mask_source"):
        crop.mask_source = "synthetic"
    return SyntheticPerson(
        crop=crop,
        params=params.detach(),
        vertices=vertices,
        faces=model.faces,
        parts=model.parts,
        joints=joints,
        landmarks3d=lm3,
        backend=model.name,
        seed=seed,
    )


def _has_field(cls: type, name: str) -> bool:
    return name in getattr(cls, "__dataclass_fields__", {})


def _render(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    parts: torch.Tensor,
    camera: Cameras,
    colors: str,
    rng: np.random.Generator,
    supersample: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Shaded render on white and its soft mask at the camera's size (supersampled)."""
    labels = parts.numpy()
    if colors == "parts":
        albedo = part_color_table()[labels]
    elif colors == "clothing":
        table = np.array(
            [
                _HAIR[rng.integers(len(_HAIR))],  # head (top, back, ears)
                _SKIN[rng.integers(len(_SKIN))],  # face
                (0.0, 0.0, 0.0),  # hands: skin, set below
                (0.0, 0.0, 0.0),  # arms: sleeves or skin, set below
                _SHIRT[rng.integers(len(_SHIRT))],  # torso
                _TROUSERS[rng.integers(len(_TROUSERS))],  # legs
                (0.12, 0.10, 0.09),  # feet: shoes
            ]
        )
        table[PART_NAMES.index("hands")] = table[PART_NAMES.index("face")]
        table[PART_NAMES.index("arms")] = table[PART_NAMES.index("torso")] if rng.uniform() < 0.5 else table[PART_NAMES.index("face")]
        albedo = table[labels]
    else:
        raise ValueError(f"colors must be 'clothing' or 'parts', got {colors!r}")
    mesh = TexturedMesh(vertices, faces, vertex_colors=albedo, name="synthetic person")
    out = render_mesh(mesh, camera, supersample=supersample, background=1.0, ambient=0.35)
    img = (out.rgb[0].numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    return img, out.alpha[0].numpy().astype(np.float32)


def make_synthetic_person(
    seed: int = 0,
    size: int = 512,
    *,
    framing: Framing = "full",
    colors: Colors = "clothing",
    fov_y_deg: float | None = None,
    yaw_deg: float | None = None,
    backend: str = "anny",
    world_landmarks: bool = True,
) -> SyntheticPerson:
    """A synthetic person drawn from ``seed`` (see the module docstring).

    Args:
        seed: selects the body (pose, shape, yaw), the camera's field of view and the colours.
        size: side S of the square crop in pixels.
        framing: ``"full"`` (whole body, 82 % of the height) or ``"half"`` (head to mid-thigh; the legs
            leave the image, their landmarks get confidence 0 and ``cut_off`` says "bottom").
        colors: ``"clothing"`` (skin, shirt, trousers, shoes, hair colours drawn from ``seed``) or
            ``"parts"`` (``PART_COLORS``).
        fov_y_deg: vertical field of view; default drawn in [32, 48] deg.
        yaw_deg: rotation about the vertical axis (0 = facing the camera; positive turns the subject's
            front towards the image's left, -x); default drawn in [-35, 35] deg.
        backend: body model.
        world_landmarks: also fill ``Landmarks.body_world`` (hip-centred 3D points, camera axes) like
            MediaPipe's world landmarks.

    Returns:
        :class:`SyntheticPerson` (a fresh copy; the cache keeps the original).
    """
    if int(size) < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    person = _make_cached(int(seed), int(size), framing, colors, fov_y_deg, yaw_deg, backend, bool(world_landmarks))
    return copy.deepcopy(person)
