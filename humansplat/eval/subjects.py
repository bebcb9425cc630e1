"""The built-in evaluation set: textured synthetic people the project makes itself (no download).

Each subject is an ``anny`` body (:mod:`humansplat.prior.body_models`) with a chosen shape and pose,
refined so that per-vertex colours can carry patterns (edges <= 1.5 cm), dressed with simple garment
geometry (offset shells of body parts, a skirt cone, a hair sheet) and coloured by procedural
functions of 3D position whose **front and back differ** (a print only on the front, stripes that
turn, a dark jacket back over a light shirt front), so a method cannot guess the back by mirroring
the front. Each has a painted face (eyes, brows, nostrils, lips, lit from the front) that face
detectors find, so the face's own rules (its relief, the head placed by the face) act on them.

Frame: the **scan frame** shared with :mod:`humansplat.data.scans`: metres, +Y up, the person facing
+Z, x = the subject's left, feet at y = 0, centred on x/z (bounding box). Subjects keep per-vertex
semantic parts (:data:`humansplat.parts.PART_NAMES`; garments carry the part they cover).

``builtin_subjects(names=None)`` builds (and caches per process) the named subjects; deterministic.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..geometry import opencv_to_gltf
from ..parts import PART_NAMES
from ..render.mesh import TexturedMesh, vertex_normals

__all__ = ["BUILTIN_SUBJECTS", "EvalSubject", "builtin_subjects", "scan_subjects"]

_P = {name: i for i, name in enumerate(PART_NAMES)}
_SKIN = np.array([0.86, 0.66, 0.52])
_SHOES = np.array([0.10, 0.09, 0.09])


@dataclass
class EvalSubject:
    """One evaluation subject: a coloured mesh in the scan frame (module docstring) and its name.

    Attributes:
        name: short identifier (used in tables, file names and ``--subjects``).
        mesh: the textured mesh, scan frame (+Y up, facing +Z, feet at y = 0), metres.
        description: one line for people.
    """

    name: str
    mesh: TexturedMesh
    description: str = ""

    @property
    def height_m(self) -> float:
        """Extent of the mesh along +Y (metres)."""
        y = self.mesh.vertices[:, 1]
        return float(y.max() - y.min())


# ----------------------------------------------------------------------------------------- geometry
@dataclass
class _Part:
    """A piece of a subject under construction (NumPy, scan frame)."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    parts: np.ndarray  # (V,) int64
    colors: np.ndarray | None = None  # (V, 3) float64


def _posed_body(shape: dict[str, float], pose_deg: dict[str, tuple[float, float, float]], hinges: dict[str, float]) -> _Part:
    """The anny body in the scan frame: neutral pose + ``pose_deg`` (model-frame axis-angle degrees
    added per group), hinge flexion in degrees, average shape with ``shape`` overrides; refined."""
    from ..prior.body_models import HINGE_GROUPS, POSE_GROUPS, BodyParams, get_body_model

    model = get_body_model("anny")
    pose = model.neutral_pose().clone().float()
    for group, xyz in pose_deg.items():
        pose[POSE_GROUPS.index(group)] += torch.tensor([math.radians(a) for a in xyz])
    for group, angle in hinges.items():
        pose[POSE_GROUPS.index(group)] = math.radians(angle) * model.hinge_axes[HINGE_GROUPS.index(group)]
    values = model.default_shape().clone().float()
    for name, value in shape.items():
        values[model.shape_names.index(name)] = float(value)
    with torch.no_grad():
        out = model(BodyParams(torch.zeros(3), torch.zeros(3), pose, values))
    v = opencv_to_gltf(out.vertices.double().numpy())  # model (x left, y down, z back) -> scan
    lo, hi = v.min(0), v.max(0)
    v = v - np.array([0.5 * (lo[0] + hi[0]), lo[1], 0.5 * (lo[2] + hi[2])])  # feet at 0, centred on x/z
    faces = model.faces.numpy().astype(np.int64)
    # The scan frame flips two axes (a rotation), so the winding stays counter-clockwise outside.
    return _refine(_Part(v, faces, model.parts.numpy().astype(np.int64)), max_edge=0.015)


def _refine(part: _Part, max_edge: float) -> _Part:
    """Split edges longer than ``max_edge`` metres (no cracks); new vertices take the nearest part."""
    import trimesh.remesh
    from scipy.spatial import cKDTree

    v, f = trimesh.remesh.subdivide_to_size(part.vertices, part.faces, max_edge=max_edge, max_iter=8)
    n0 = len(part.vertices)
    parts = np.empty(len(v), dtype=np.int64)
    parts[:n0] = part.parts  # subdivide_to_size keeps the original vertices first
    if len(v) > n0:
        parts[n0:] = part.parts[cKDTree(part.vertices).query(v[n0:])[1]]
    return _Part(np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64), parts)


def _normals(part: _Part) -> np.ndarray:
    return vertex_normals(torch.from_numpy(part.vertices).float(), torch.from_numpy(part.faces)).double().numpy()


def _shell(body: _Part, face_keep: np.ndarray, offset: float) -> _Part:
    """An offset shell: the body faces where ``face_keep`` (F,) is True, pushed out ``offset`` m."""
    faces = body.faces[face_keep]
    used, inverse = np.unique(faces, return_inverse=True)
    n = _normals(body)[used]
    return _Part(body.vertices[used] + offset * n, inverse.reshape(-1, 3).astype(np.int64), body.parts[used].copy())


def _grid_faces(rows: int, cols: int, wrap: bool) -> np.ndarray:
    """Two triangles per cell of a rows x cols vertex grid (row-major), columns wrapping round if ``wrap``."""
    faces = []
    ncol = cols if wrap else cols - 1
    for r in range(rows - 1):
        for c in range(ncol):
            a, b = r * cols + c, r * cols + (c + 1) % cols
            d, e = a + cols, b + cols
            faces += [(a, d, b), (b, d, e)]
    return np.asarray(faces, dtype=np.int64)


def _skirt(body: _Part, top: float, hem: float, flare: float, offset: float = 0.025) -> _Part:
    """A closed elliptic cone from height ``top`` down to ``hem`` (metres, scan frame) around the
    torso and legs, never narrower than the body above it, widening by ``flare`` m towards the hem."""
    keep = np.isin(body.parts, [_P["torso"], _P["legs"]])
    pts = body.vertices[keep]
    cx, cz = 0.5 * (pts[:, 0].min() + pts[:, 0].max()), 0.5 * (pts[:, 2].min() + pts[:, 2].max())
    rows, cols = 24, 96
    ys = np.linspace(top, hem, rows)
    ax = az = 0.0
    verts = []
    theta = np.linspace(0.0, 2.0 * np.pi, cols, endpoint=False)  # 0 = the front (+Z), pi/2 = the left (+X)
    for k, y in enumerate(ys):
        slab = pts[np.abs(pts[:, 1] - y) < 0.03]
        if len(slab):
            ax = max(ax, float(np.abs(slab[:, 0] - cx).max()))
            az = max(az, float(np.abs(slab[:, 2] - cz).max()))
        grow = offset + flare * k / (rows - 1)
        verts.append(np.stack([cx + (ax + grow) * np.sin(theta), np.full(cols, y), cz + (az + grow) * np.cos(theta)], -1))
    v = np.concatenate(verts)
    return _Part(v, _grid_faces(rows, cols, wrap=True), np.full(len(v), _P["legs"], dtype=np.int64))


def _hair_sheet(body: _Part, top: float, bottom: float, half_width: tuple[float, float], gap: float = 0.015) -> _Part:
    """Long hair down the back: a sheet behind the head and upper back from height ``top`` to
    ``bottom``; its half width grows from ``half_width[0]`` to ``[1]``; it never bends inwards."""
    keep = np.isin(body.parts, [_P["head"], _P["face"], _P["torso"]])
    pts = body.vertices[keep]
    rows, cols = 28, 17
    ys = np.linspace(top, bottom, rows)
    zs = np.empty((rows, cols))
    xs = np.empty((rows, cols))
    for r, y in enumerate(ys):
        hw = half_width[0] + (half_width[1] - half_width[0]) * r / (rows - 1)
        xs[r] = np.linspace(-hw, hw, cols)
        for c in range(cols):
            near = pts[(np.abs(pts[:, 1] - y) < 0.03) & (np.abs(pts[:, 0] - xs[r, c]) < 0.03)]
            zs[r, c] = near[:, 2].min() - gap if len(near) else np.nan
        if r:
            zs[r] = np.fmin(zs[r], zs[r - 1])  # hair falls straight: never closer to the body than above
    fallback = np.nanmin(zs) if np.isfinite(zs).any() else -0.15
    zs = np.where(np.isfinite(zs), zs, fallback)
    for _ in range(3):  # smooth across the sheet
        zs[:, 1:-1] = 0.5 * zs[:, 1:-1] + 0.25 * (zs[:, :-2] + zs[:, 2:])
    v = np.stack([xs, np.repeat(ys[:, None], cols, 1), zs], -1).reshape(-1, 3)
    return _Part(v, _grid_faces(rows, cols, wrap=False), np.full(len(v), _P["head"], dtype=np.int64))


def _merge(pieces: Sequence[_Part]) -> _Part:
    offs = np.cumsum([0] + [len(p.vertices) for p in pieces])
    return _Part(
        np.concatenate([p.vertices for p in pieces]),
        np.concatenate([p.faces + o for p, o in zip(pieces, offs)]),
        np.concatenate([p.parts for p in pieces]),
        np.concatenate([p.colors for p in pieces]),
    )


def _face_mask(body: _Part, vertex_keep: np.ndarray) -> np.ndarray:
    return vertex_keep[body.faces].all(axis=1)


def _painted_face(body: _Part, brow: np.ndarray) -> _Part:
    """A decal 0.8 mm over the body's face part, refined to 2.5 mm edges, painted with eyes, brows,
    nostrils and lips and lit from the front (baked: the mesh renderer has no light), so that face
    detectors (MediaPipe Face Mesh) find the face. Features sit where the anny body's own landmarks
    are (metres from the nose tip: pupils 3 cm to each side and 4 cm up, mouth corners 2 cm to each
    side and 3.4 cm down), in the face's own frame (forward = its least-spread axis, turned to +Z), so a
    fit that places the head by the face's size meets the size the body model expects."""
    face = body.parts == _P["face"]
    pts = body.vertices[face]
    centre = pts.mean(0)
    forward = np.linalg.eigh(np.cov((pts - centre).T))[1][:, 0]
    forward = forward * np.sign(forward[2])
    up = np.array([0.0, 1.0, 0.0]) - forward[1] * forward
    up /= np.linalg.norm(up)
    left = np.cross(up, forward)  # the subject's left (+X when facing +Z)
    tip = pts[np.argmax((pts - centre) @ forward)]
    decal = _refine(_shell(body, _face_mask(body, face), 0.0008), max_edge=0.0025)
    d = decal.vertices - tip
    u, v = np.abs(d @ left), d @ up  # mirror-symmetric features: |u|

    def inside(cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
        return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 < 1.0

    c = np.broadcast_to(_SKIN, (len(u), 3)) * (0.72 + 0.28 * np.clip(_normals(decal) @ forward, 0.0, 1.0))[:, None]
    c[(u > 0.008) & (u < 0.014) & (v > -0.005) & (v < 0.036)] *= 0.85  # the nose's sides
    c[inside(0.009, -0.004, 0.0045, 0.0025)] = (0.35, 0.20, 0.15)  # nostrils
    c[inside(0.0, -0.034, 0.022, 0.0065)] = (0.72, 0.33, 0.33)  # lips
    c[inside(0.0, -0.034, 0.020, 0.0012)] = (0.35, 0.12, 0.12)  # between the lips
    eye = inside(0.030, 0.040, 0.015, 0.0065)
    c[eye] = (0.95, 0.95, 0.95)
    c[eye & inside(0.030, 0.040, 0.0062, 0.0062)] = (0.30, 0.20, 0.12)  # iris
    c[inside(0.030, 0.040, 0.0028, 0.0028)] = (0.03, 0.03, 0.03)  # pupil
    c[inside(0.030, 0.047, 0.016, 0.0018) & (v > 0.040)] = (0.15, 0.10, 0.08)  # upper lid
    c[inside(0.031, 0.058, 0.021, 0.0035)] = brow
    decal.colors = c
    return decal


# ----------------------------------------------------------------------------------------- colours
def _mix(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-vertex ``a`` where ``mask`` (V,) else ``b`` (colours (3,) or (V, 3))."""
    return np.where(mask[:, None], np.broadcast_to(a, (len(mask), 3)), np.broadcast_to(b, (len(mask), 3)))


def _stripes(coord: np.ndarray, period: float) -> np.ndarray:
    """(V,) bool, True on every other band of width ``period / 2`` along ``coord`` (metres)."""
    return np.floor(coord / (0.5 * period)).astype(np.int64) % 2 == 0


def _base_colors(p: _Part, hair: np.ndarray, top: np.ndarray, bottom: np.ndarray, sleeves: bool) -> np.ndarray:
    """Skin, hair on the head (top and back), ``top`` on the torso above the waist (and the arms if
    ``sleeves``), ``bottom`` on the legs and the hips, shoes."""
    c = np.broadcast_to(_SKIN, (len(p.vertices), 3)).copy()
    c[p.parts == _P["head"]] = hair
    c[p.parts == _P["torso"]] = top
    if sleeves:
        c[p.parts == _P["arms"]] = top
    c[(p.parts == _P["legs"]) | ((p.parts == _P["torso"]) & (p.vertices[:, 1] < _waist(p)))] = bottom
    c[p.parts == _P["feet"]] = _SHOES
    return c


def _front(p: _Part, normal_z: float = 0.2) -> np.ndarray:
    """(V,) bool: vertices whose normal faces the front (+Z)."""
    return _normals(p)[:, 2] > normal_z


def _waist(body: _Part) -> float:
    """Height (metres) of the waist: 16 cm above the lowest torso vertex (the crotch)."""
    return _torso_height(body)[0] + 0.16


def _torso_height(body: _Part) -> tuple[float, float]:
    y = body.vertices[body.parts == _P["torso"], 1]
    return float(y.min()), float(y.max())


# ----------------------------------------------------------------------------------------- subjects
def _jacket() -> _Part:
    """Dark jacket open over a light shirt; the jacket's back is dark, the shirt shows only in front."""
    body = _posed_body({"gender": 0.8, "muscle": 0.6, "weight": 0.55}, {"shoulder.L": (0, 0, -6), "shoulder.R": (0, 0, 6)},
                       {"elbow.L": 15.0, "elbow.R": 20.0})
    shirt = np.array([0.93, 0.93, 0.90])
    body.colors = _base_colors(body, hair=np.array([0.10, 0.07, 0.05]), top=shirt, bottom=np.array([0.30, 0.32, 0.36]), sleeves=True)
    lo, hi = _torso_height(body)
    x, y = body.vertices[:, 0], body.vertices[:, 1]
    buttons = _front(body, 0.5) & (np.abs(x) < 0.01) & ((y - lo) % 0.08 < 0.012)
    body.colors[buttons & (body.parts == _P["torso"])] = (0.35, 0.35, 0.4)
    arm_top = np.isin(body.parts, [_P["torso"], _P["arms"]])
    opening = _front(body, 0.3) & (np.abs(x) < 0.075) & (body.parts == _P["torso"])
    keep = _face_mask(body, arm_top & ~opening & (y > lo - 0.06))
    jacket = _shell(body, keep, 0.02)
    dark = np.array([0.13, 0.14, 0.18])
    jacket.colors = np.broadcast_to(dark, (len(jacket.vertices), 3)).copy()
    jy = jacket.vertices[:, 1]
    lapel = _front(jacket, 0.3) & (jy > hi - 0.25) & (jy < hi - 0.05) & (np.abs(jacket.vertices[:, 0]) < 0.14)
    jacket.colors[lapel] = (0.20, 0.21, 0.27)  # lapels a shade lighter, only in front
    return _merge([body, jacket])


def _dress() -> _Part:
    """A checked skirt (cone from the waist to below the knees) with a print only on its front,
    a plain top whose back has a white band; bare arms."""
    body = _posed_body({"gender": 0.1, "weight": 0.4, "height": 0.42}, {"shoulder.L": (0, 0, -14), "shoulder.R": (0, 0, 14)},
                       {"elbow.L": 10.0, "elbow.R": 10.0})
    top = np.array([0.16, 0.45, 0.42])
    body.colors = _base_colors(body, hair=np.array([0.45, 0.28, 0.14]), top=top, bottom=_SKIN, sleeves=False)
    lo, hi = _torso_height(body)
    back = ~_front(body, -0.2) & (body.parts == _P["torso"]) & (body.vertices[:, 1] > hi - 0.22) & (body.vertices[:, 1] < hi - 0.14)
    body.colors[back] = (0.95, 0.95, 0.95)
    waist = _waist(body)
    skirt = _skirt(body, top=waist, hem=0.40, flare=0.12)
    sx, sy, sz = skirt.vertices.T
    theta = np.arctan2(sx, sz)  # 0 = front
    checks = _stripes(theta * 0.35, 0.09) ^ _stripes(sy, 0.09)
    skirt.colors = _mix(checks, np.array([0.78, 0.12, 0.15]), np.array([0.96, 0.90, 0.80]))
    flower = ((theta * 0.3) ** 2 + (sy - (waist - 0.18)) ** 2) < 0.10**2
    skirt.colors[flower] = (0.98, 0.80, 0.10)  # a yellow disc on the front only
    return _merge([body, skirt])


def _long_hair() -> _Part:
    """Long hair: a shell over the head and a sheet down the back; horizontal stripes on the front
    of the shirt, vertical ones on its back."""
    body = _posed_body({"gender": 0.2, "weight": 0.45}, {"head": (5, 10, 0)}, {"elbow.L": 25.0, "elbow.R": 5.0})
    hair = np.array([0.28, 0.17, 0.09])
    body.colors = _base_colors(body, hair=hair, top=np.array([0.9, 0.9, 0.9]), bottom=np.array([0.12, 0.14, 0.28]), sleeves=True)
    x, y = body.vertices[:, 0], body.vertices[:, 1]
    shirt = np.isin(body.parts, [_P["torso"], _P["arms"]])
    front = _front(body, 0.0)
    navy = np.array([0.15, 0.22, 0.55])
    body.colors[shirt & front & _stripes(y, 0.06)] = navy
    body.colors[shirt & ~front & _stripes(x, 0.06)] = (0.70, 0.20, 0.25)
    hy = body.vertices[body.parts == _P["head"], 1]
    cap = _shell(body, _face_mask(body, body.parts == _P["head"]), 0.015)
    lo, hi = _torso_height(body)
    sheet = _hair_sheet(body, top=float(hy.min() + 0.6 * (hy.max() - hy.min())), bottom=hi - 0.28, half_width=(0.075, 0.14))
    for piece in (cap, sheet):
        streak = _stripes(piece.vertices[:, 0] + 0.01 * np.sin(piece.vertices[:, 1] * 40), 0.03)
        piece.colors = _mix(streak, hair, hair * 1.35)
    return _merge([body, cap, sheet])


def _arms_touching() -> _Part:
    """Arms against the body, hands at the front of the thighs (as if in pockets); a hoodie with a
    front pocket, a white back print; heavier build."""
    body = _posed_body({"gender": 0.9, "weight": 0.8, "muscle": 0.4, "age": 0.8},
                       {"shoulder.L": (-8, 0, 9), "shoulder.R": (-8, 0, -9), "spine_upper": (6, 0, 0)},
                       {"elbow.L": 35.0, "elbow.R": 35.0})
    hoodie = np.array([0.22, 0.50, 0.25])
    body.colors = _base_colors(body, hair=np.array([0.55, 0.55, 0.55]), top=hoodie, bottom=np.array([0.20, 0.27, 0.45]), sleeves=True)
    lo, hi = _torso_height(body)
    x, y = body.vertices[:, 0], body.vertices[:, 1]
    torso = body.parts == _P["torso"]
    pocket = torso & _front(body, 0.3) & (y > lo + 0.05) & (y < lo + 0.20) & (np.abs(x) < 0.14)
    body.colors[pocket] = hoodie * 0.6
    print_ = torso & ~_front(body, -0.3) & (y > hi - 0.40) & (y < hi - 0.22) & (np.abs(x) < 0.10)
    body.colors[print_] = (0.95, 0.95, 0.92)
    return body


def _arms_sideways() -> _Part:
    """Arms held out sideways; a T-shirt with a round print on the front and a number-like block on
    the back, shorts; a tall, slim build."""
    body = _posed_body({"gender": 0.6, "height": 0.5, "weight": 0.3, "proportions": 0.6},
                       {"shoulder.L": (0, 0, -75), "shoulder.R": (0, 0, 75), "hip.L": (0, 0, -6), "hip.R": (0, 0, 6)},
                       {"elbow.L": 10.0, "elbow.R": 10.0, "knee.L": 5.0})
    tee = np.array([0.85, 0.55, 0.15])
    body.colors = _base_colors(body, hair=np.array([0.05, 0.04, 0.04]), top=tee, bottom=np.array([0.25, 0.25, 0.28]), sleeves=False)
    x, y = body.vertices[:, 0], body.vertices[:, 1]
    lo, hi = _torso_height(body)
    # Short sleeves: the arm within 20 cm of the shoulder joint line.
    body.colors[(body.parts == _P["arms"]) & (np.abs(x) < 0.36)] = tee
    # Shorts end above the knee.
    legs = body.parts == _P["legs"]
    body.colors[legs & (y < 0.60)] = _SKIN
    torso = body.parts == _P["torso"]
    disc = torso & _front(body, 0.3) & ((x**2 + (y - (hi - 0.34)) ** 2) < 0.08**2)
    body.colors[disc] = (0.10, 0.30, 0.70)
    block = torso & ~_front(body, -0.3) & (np.abs(x) < 0.07) & (y > hi - 0.47) & (y < hi - 0.24)
    body.colors[block & ~((np.abs(x) < 0.03) & (y > hi - 0.42) & (y < hi - 0.29))] = (0.05, 0.05, 0.05)
    return body


_BUILDERS: dict[str, tuple[Callable[[], _Part], str]] = {
    "jacket": (_jacket, "dark jacket open over a light shirt (jacket back dark)"),
    "dress": (_dress, "checked skirt from the waist down, print on its front, bare arms"),
    "long_hair": (_long_hair, "long hair down the back, front/back stripes differ"),
    "arms_touching": (_arms_touching, "arms against the body, hands at the thighs, hoodie, heavy build"),
    "arms_sideways": (_arms_sideways, "arms held out sideways, T-shirt print front, block on the back"),
}

BUILTIN_SUBJECTS: tuple[str, ...] = tuple(_BUILDERS)
"""Names of the built-in evaluation subjects, in table order."""


@functools.lru_cache(maxsize=None)
def _build(name: str, painted_face: bool = True) -> EvalSubject:
    build, description = _BUILDERS[name]
    p = build()
    if painted_face:
        hair = np.median(p.colors[p.parts == _P["head"]], axis=0)
        p = _merge([p, _painted_face(p, brow=0.8 * hair)])
    # Scan frame: feet at y = 0, centred on x/z (bounding box).
    lo, hi = p.vertices.min(0), p.vertices.max(0)
    p.vertices = p.vertices - np.array([0.5 * (lo[0] + hi[0]), lo[1], 0.5 * (lo[2] + hi[2])])
    mesh = TexturedMesh(
        vertices=torch.from_numpy(p.vertices).float(),
        faces=torch.from_numpy(p.faces),
        vertex_colors=torch.from_numpy(np.clip(p.colors, 0.0, 1.0)).float(),
        parts=torch.from_numpy(p.parts),
        name=name,
    )
    return EvalSubject(name=name, mesh=mesh, description=description)


def builtin_subjects(names: Sequence[str] | None = None, painted_faces: bool = True) -> list[EvalSubject]:
    """The built-in subjects ``names`` (default all of :data:`BUILTIN_SUBJECTS`), in the scan frame, with
    their painted faces (``painted_faces=False``: blank skin, where Face Mesh finds no face, for baselines
    measured on such subjects).

    Built once per process (about a second each after the body model loads); each call returns
    fresh copies.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    names = list(BUILTIN_SUBJECTS if names is None else names)
    unknown = [n for n in names if n not in _BUILDERS]
    if unknown:
        raise ValueError(f"unknown built-in subject(s) {', '.join(map(repr, unknown))}; choose from {', '.join(BUILTIN_SUBJECTS)}")
    return [copy.deepcopy(_build(n, painted_faces)) for n in names]


def scan_subjects(folder: str | Path) -> list[EvalSubject]:
    """Every scan under ``folder`` as a subject (:func:`humansplat.data.scans.find_scans` and
    ``load_scan``, which put them in the same scan frame), sorted by name.

    Raises:
        ValueError: the folder holds no scan, or a scan cannot be read (the message names the file).
    """
    from ..data.scans import find_scans, load_scan  # lazy: only scans need it

    entries = find_scans(folder)
    if not entries:
        raise ValueError(f"no scans ({', '.join(('.obj', '.ply', '.glb', '.gltf'))} ...) found in {folder}")
    subjects = []
    for entry in entries:
        path = getattr(entry, "path", entry)
        scan = load_scan(path, name=getattr(entry, "name", None))
        subjects.append(EvalSubject(name=scan.name, mesh=scan.mesh, description=str(path)))
    return subjects

