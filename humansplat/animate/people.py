"""Synthetic people whose body parts touch in the photo, for the binding's tests and benchmark.

Each :data:`CONTACT_PEOPLE` entry is the ``anny`` body in a pose where parts touch or overlap in the
input view (a hand on the head, a hand in front of the belly, crossed arms, legs together, hands in
the pockets), dressed
by colour (skin, shirt, trousers or bare legs, shoes, hair) and optionally in a skirt (a closed
elliptic cone from the hips to the knees around both legs). :func:`make_contact_person` renders it
facing the camera (world = the camera's OpenCV frame, metres) and returns the ground truth as a
:class:`~humansplat.prior.body_fit.BodyFit` with its crop, as
:meth:`humansplat.prior.synthetic.SyntheticPerson.as_body_fit` does: prior mode and the binding run
on it without a detector or a fit.

Poses are model-frame axis-angles in degrees added to the body model's neutral pose (axes and signs:
:mod:`humansplat.animate.motions`), hinge flexion in degrees.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..cameras import Cameras
from ..parts import PART_NAMES
from ..prior.body_fit import BodyFit
from ..prior.body_models import HINGE_GROUPS, POSE_GROUPS, BodyParams, get_body_model
from ..prior.landmarks import Landmarks
from ..prior.person import PersonCrop
from ..render.mesh import TexturedMesh, render_mesh

__all__ = ["CONTACT_PEOPLE", "ContactPerson", "make_contact_person"]

_SKIN = (0.86, 0.66, 0.52)
_HAIR = (0.25, 0.16, 0.10)
_SHOES = (0.10, 0.09, 0.09)


@dataclass(frozen=True)
class ContactPerson:
    """A pose with contacts and how the person is dressed.

    Attributes:
        name: identifier.
        description: one line for people.
        pose_deg: group -> (x, y, z) degrees added to the neutral pose.
        hinges_deg: hinge group -> flexion in degrees.
        shirt, legwear: RGB in [0, 1] of the torso and arms, and of the legs (trousers).
        skirt: a skirt from the hips to the knees over the legs (then the legs are bare).
        loose_m: the trousers stand this far off the legs' skin (metres; 0 = tight): loose trouser
            legs close the gap between legs that nearly touch.
        pockets: the hands are coloured as the trousers (hands in the pockets: the photo shows no hand
            where the body's hands are).
    """

    name: str
    description: str
    pose_deg: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    hinges_deg: dict[str, float] = field(default_factory=dict)
    shirt: tuple[float, float, float] = (0.20, 0.42, 0.70)
    legwear: tuple[float, float, float] = (0.30, 0.30, 0.34)
    skirt: bool = False
    loose_m: float = 0.0
    pockets: bool = False


CONTACT_PEOPLE: dict[str, ContactPerson] = {
    p.name: p
    for p in (
        ContactPerson(
            "hand_on_head", "right arm raised sideways, its hand on the head; legs together in trousers",
            {"shoulder.R": (-98.0, 4.0, 101.0)}, {"elbow.R": 65.0},
            legwear=(0.55, 0.45, 0.32),
        ),
        ContactPerson(
            "trousers", "loose trousers whose legs touch down to the knees, arms by the sides",
            {"hip.L": (0.0, 0.0, -2.0), "hip.R": (0.0, 0.0, 2.0)}, {"elbow.L": 10.0, "elbow.R": 10.0}, loose_m=0.035,
        ),
        ContactPerson(
            "skirt", "a skirt from the hips to the knees, arms by the sides",
            {}, {"elbow.L": 10.0, "elbow.R": 10.0}, shirt=(0.16, 0.45, 0.42), skirt=True,
        ),
        ContactPerson(
            "hand_before_belly", "right hand in front of the belly, the arm reaching forward",
            {"shoulder.R": (0.0, 0.0, -60.0)}, {"elbow.R": 30.0},
        ),
        ContactPerson(
            "hands_in_pockets", "hands in the trouser pockets at the front of the thighs",
            {"shoulder.L": (0.0, 0.0, 20.0), "shoulder.R": (0.0, 0.0, -20.0)}, {"elbow.L": 15.0, "elbow.R": 15.0}, pockets=True,
        ),
        ContactPerson(
            "arms_crossed", "forearms crossed in front of the chest, hands over the other arm",
            {"shoulder.L": (0.0, 0.0, 75.0), "shoulder.R": (0.0, 0.0, -75.0)}, {"elbow.L": 50.0, "elbow.R": 35.0},
        ),
    )
}
"""The built-in people with contacts, by name."""


def _params(person: ContactPerson) -> BodyParams:
    model = get_body_model("anny")
    pose = model.neutral_pose().clone().float()
    for group, xyz in person.pose_deg.items():
        pose[POSE_GROUPS.index(group)] += torch.tensor([math.radians(a) for a in xyz])
    for group, angle in person.hinges_deg.items():
        pose[POSE_GROUPS.index(group)] = math.radians(angle) * model.hinge_axes[HINGE_GROUPS.index(group)]
    return BodyParams(torch.zeros(3), torch.zeros(3), pose, model.default_shape().clone().float())


def _skirt(vertices: np.ndarray, parts: np.ndarray, top: float, hem: float, flare: float = 0.10) -> tuple[np.ndarray, np.ndarray]:
    """A closed elliptic cone around the torso and legs from height ``top`` down to ``hem`` (model
    frame, y down, metres), 2.5 cm off the body and widening by ``flare`` towards the hem.

    Returns:
        vertices (M, 3), faces (F, 3) (outward, counter-clockwise seen from outside).
    """
    keep = np.isin(parts, [PART_NAMES.index("torso"), PART_NAMES.index("legs")])
    pts = vertices[keep]
    cx, cz = 0.5 * (pts[:, 0].min() + pts[:, 0].max()), 0.5 * (pts[:, 2].min() + pts[:, 2].max())
    rows, cols = 24, 96
    theta = np.linspace(0.0, 2.0 * np.pi, cols, endpoint=False)
    ax = az = 0.0
    rings = []
    for k, y in enumerate(np.linspace(top, hem, rows)):
        slab = pts[np.abs(pts[:, 1] - y) < 0.03]
        if len(slab):
            ax, az = max(ax, float(np.abs(slab[:, 0] - cx).max())), max(az, float(np.abs(slab[:, 2] - cz).max()))
        grow = 0.025 + flare * k / (rows - 1)
        rings.append(np.stack([cx + (ax + grow) * np.cos(theta), np.full(cols, y), cz + (az + grow) * np.sin(theta)], -1))
    faces = []
    for r in range(rows - 1):
        for c in range(cols):
            a, b = r * cols + c, r * cols + (c + 1) % cols
            faces += [(a, b, a + cols), (b, b + cols, a + cols)]
    return np.concatenate(rings), np.asarray(faces, dtype=np.int64)


@functools.lru_cache(maxsize=8)
def _make(name: str, size: int) -> BodyFit:
    person = CONTACT_PEOPLE[name]
    model = get_body_model("anny")
    params = _params(person)
    with torch.no_grad():
        local = model(params)
    verts = local.vertices.double().numpy()
    parts = model.parts.numpy()
    hands = person.legwear if person.pockets else _SKIN
    colours = np.array([_HAIR, _SKIN, hands, person.shirt, person.shirt, _SKIN if person.skirt else person.legwear, _SHOES])[parts]
    mesh_v, mesh_f, mesh_c = [verts], [model.faces.numpy()], [colours]
    if person.loose_m > 0:  # trouser legs: the legs' faces pushed out along the vertex normals
        from ..render.mesh import vertex_normals

        normals = vertex_normals(torch.from_numpy(verts).float(), model.faces).double().numpy()
        legs = parts == PART_NAMES.index("legs")
        faces = model.faces.numpy()[legs[model.faces.numpy()].all(1)]
        used, inverse = np.unique(faces, return_inverse=True)
        mesh_v.append(verts[used] + person.loose_m * normals[used])
        mesh_f.append(inverse.reshape(-1, 3) + sum(len(v) for v in mesh_v[:-1]))
        mesh_c.append(np.broadcast_to(np.asarray(person.legwear), (len(used), 3)))
    if person.skirt:
        torso_y = verts[parts == PART_NAMES.index("torso"), 1]
        knee = local.joints[model.joint_names.index("lowerleg01.L"), 1].item()
        sv, sf = _skirt(verts, parts, top=float(torso_y.max()) - 0.16, hem=knee + 0.04)
        checks = (np.floor(np.arctan2(sv[:, 2], sv[:, 0]) * 4) + np.floor(sv[:, 1] / 0.06)) % 2 == 0
        mesh_f.append(sf + sum(len(v) for v in mesh_v))
        mesh_v.append(sv)
        mesh_c.append(np.where(checks[:, None], (0.78, 0.12, 0.15), (0.96, 0.90, 0.80)))
    # frame the person: 85 % of the image height, centred, 40 deg vertical field of view
    camera = Cameras.from_fov(40.0, size, size)
    f = float(camera.Ks[0, 1, 1])
    lo, hi = verts.min(0), verts.max(0)
    depth = f * (hi[1] - lo[1]) / (0.85 * size) + 0.5 * (hi[2] - lo[2])
    t = np.array([-0.5 * (lo[0] + hi[0]), -0.5 * (lo[1] + hi[1]), depth - 0.5 * (lo[2] + hi[2])])
    params = BodyParams(params.global_orient, torch.tensor(t, dtype=torch.float32), params.body_pose, params.shape)
    world = [torch.tensor(v + t, dtype=torch.float32) for v in mesh_v]
    mesh = TexturedMesh(
        vertices=torch.cat(world), faces=torch.from_numpy(np.concatenate(mesh_f)),
        vertex_colors=torch.from_numpy(np.concatenate(mesh_c)).float(), name=name,
    )
    out = render_mesh(mesh, camera, supersample=2, background=1.0, ambient=0.6)
    rgb = (out.rgb[0].numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    with torch.no_grad():
        body = model(params)
    landmarks = Landmarks(body=camera.project(body.landmarks.float())[0][0].numpy(), body_confidence=np.ones(33, np.float32))
    crop = PersonCrop(rgb=rgb, mask=out.alpha[0].numpy().astype(np.float32), camera=camera, landmarks=landmarks,
                      notes=[f"synthetic person with contacts ({name})"], box=(0, 0, size), mask_source="synthetic",
                      photo_size=(size, size))
    return BodyFit(
        backend="anny",
        pose=params.body_pose.clone(),
        shape={n: params.shape[i].clone() for i, n in enumerate(model.shape_names)},
        vertices=body.vertices.float(),
        faces=model.faces,
        parts=model.parts,
        joints=body.joints.float(),
        camera=camera,
        crop=crop,
        errors={"landmark_error_pct": 0.0, "silhouette_iou": 1.0},
        params=params,
        landmarks3d=body.landmarks.float(),
    )


def make_contact_person(name: str, size: int = 128) -> BodyFit:
    """The person ``name`` of :data:`CONTACT_PEOPLE` rendered at ``size`` px, as a fitted body with
    its crop (the truth: errors 0). Deterministic, cached per process (each call returns a copy).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    import copy

    if name not in CONTACT_PEOPLE:
        raise ValueError(f"unknown contact person {name!r}; choose one of {', '.join(CONTACT_PEOPLE)}")
    return copy.deepcopy(_make(name, int(size)))
