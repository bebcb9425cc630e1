"""Outputs of an animatable avatar: animation video, rigged ``.glb``, bound ``.ply`` + sidecar.

* :func:`render_animation` / :func:`save_animation_video`: the avatar re-posed frame by frame while
  the camera orbits it (H.264 ``.mp4`` through :mod:`humansplat.io.video`).
* :func:`save_rigged_glb`: a skinned glTF 2.0 binary: the avatar's closed mesh
  (:func:`humansplat.io.mesh.gaussians_to_mesh`, vertex colours from the Gaussians), cut where
  neighbouring vertices belong to different body regions, bound with the
  same weights as the Gaussians (4 influences, float weights summing to 1), the body model's
  skeleton as a node hierarchy in the bind (fitted) pose (the mesh's vertices get their body
  regions as the Gaussians do, from their own projection into the input view), inverse bind matrices, and one animation
  clip per built-in motion (bone rotations, root translation; linear interpolation). Written as raw
  glTF JSON + one binary buffer (no extra dependency); plays in Blender, three.js and
  ``<model-viewer>``; the Khronos validator reports no errors (tested).
* :func:`save_bound_avatar` / :func:`load_bound_avatar`: the Gaussians in the bind pose as a
  standard 3DGS ``.ply`` plus ``<name>.rig.npz`` (weights, bone indices, body regions, bone names,
  parents, bind poses, the fitted body parameters).
* :func:`animate_result`: everything above for a pipeline :class:`~humansplat.result.Result`.

glTF axes: y up, right-handed, the model facing +z; our world is the input camera's OpenCV frame
(y down, the person facing -z). The glTF scene is ``(x, -y, -z)`` of the world, shifted so the
root joint is above the origin and the feet stand on y = 0 (metres).
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from ..gaussians import Gaussians
from ..geometry import OPENCV_TO_GLTF, rotmat_to_quat
from ..orbit import BodyOrbit, framing
from .bind import BindOptions, BoundAvatar, bind, skin_binding
from .motions import MOTIONS, get_motion
from .rig import Rig

if TYPE_CHECKING:  # pragma: no cover
    from ..prior.body_fit import BodyFit
    from ..result import Result

__all__ = [
    "animate_result",
    "load_bound_avatar",
    "render_animation",
    "rigged_mesh",
    "save_animation_video",
    "save_bound_avatar",
    "save_rigged_glb",
]

# ------------------------------------------------------------------------------------ video
def _orbit(avatar: BoundAvatar, frames: list[Gaussians]) -> tuple[BodyOrbit, float]:
    """The turntable of an animation: about the fitted body's up axis (its fitted global orientation,
    as :func:`humansplat.orbit.body_up_axis`) through the centre of every frame's avatar, at the input
    camera's distance (the world origin); and the vertical fov that frames every frame."""
    from .bind import _model_axis

    means = torch.cat([g.means.detach().float().cpu() for g in frames])
    centre = (means.min(0).values + means.max(0).values) / 2
    up = -torch.as_tensor(_model_axis(avatar.rig)[1], dtype=torch.float32)  # the model's -y is up
    up = up if float(up[1]) <= 0 else -up  # pointing up in the world (-y)
    radius, fov = framing(centre, means, float(centre.norm()))
    return BodyOrbit(centre=centre, up=torch.nn.functional.normalize(up, dim=0), radius=radius), fov


def render_animation(
    avatar: BoundAvatar,
    motion: str,
    frames: int | None = None,
    resolution: int = 384,
    fps: float = 24.0,
    camera_turn_deg: float = 360.0,
    background: float = 1.0,
    start_azimuth_deg: float = 0.0,
) -> np.ndarray:
    """Frames of the avatar playing ``motion`` while the camera orbits it.

    Args:
        motion: a name of :data:`~humansplat.animate.motions.MOTIONS`.
        frames: frame count T (default: one cycle of the motion at ``fps``).
        resolution: side of the square frames in pixels.
        camera_turn_deg: how far the camera turns over the T frames (about the fitted body's up axis,
            as the reconstruction's turntable).
        start_azimuth_deg: the first frame's camera azimuth (0 = the input view, 90 = the
            subject's left; :meth:`Cameras.orbit`).
        background: grey level behind the avatar (1 = white).

    Returns:
        (T, S, S, 3) uint8 frames.
    """
    from ..render import render

    m = get_motion(motion)
    T = int(frames) if frames is not None else max(1, round(m.duration_s * fps))
    if T < 1 or resolution < 8:
        raise ValueError(f"need frames >= 1 and resolution >= 8, got frames={frames!r}, resolution={resolution!r}")
    _, poses = m.sample(T, avatar.rig.backend)
    from .bind import repose

    posed = repose(avatar, poses)
    orbit, fov = _orbit(avatar, posed)
    az = [start_azimuth_deg + camera_turn_deg * k / T for k in range(T)]
    cams = orbit.cameras(az, 0.0, fov, resolution, resolution)
    out = np.empty((T, resolution, resolution, 3), dtype=np.uint8)
    for k, g in enumerate(posed):
        with torch.no_grad():
            rgb = render(g, cams[k].to(g.device), background=background).rgb[0]
        out[k] = rgb.clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return out


def save_animation_video(avatar: BoundAvatar, motion: str, path: str | Path, fps: float = 24.0, **kwargs: Any) -> Path:
    """Render :func:`render_animation` and write it as an ``.mp4``; ``kwargs`` go to it."""
    from ..io.video import write_video

    frames = render_animation(avatar, motion, fps=fps, **kwargs)
    return write_video(frames, path, fps=fps)


# ------------------------------------------------------------------------------------ glb
def _gl_frame(avatar: BoundAvatar, points: np.ndarray) -> np.ndarray:
    """(4, 4) world -> glTF scene: flip y and z, root joint above the origin, lowest point at y = 0."""
    root = avatar.rig.bind_poses[0, :3, 3].numpy().astype(np.float64)
    feet = float((points @ OPENCV_TO_GLTF.T)[:, 1].min())
    M = np.eye(4)
    M[:3, :3] = OPENCV_TO_GLTF
    M[:3, 3] = -OPENCV_TO_GLTF @ root
    M[1, 3] = -feet  # lowest point on the floor
    return M


def rigged_mesh(
    avatar: BoundAvatar, resolution: int = 96, options: BindOptions | None = None, body_fit: BodyFit | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The avatar's vertex-coloured mesh in the WORLD frame with its skinning weights: closed, except
    where neighbouring vertices are bound to different body regions (:func:`_cut_faces`).

    Returns:
        vertices (M, 3) float64 world, faces (F, 3) int64 (counter-clockwise seen from outside in
        the glTF frame), colours (M, 4) uint8, weights (M, K) float32, bones (M, K) int64.
    """
    from ..io.mesh import gaussians_to_mesh

    g = avatar.gaussians
    min_opacity = 0.3
    mesh = gaussians_to_mesh(g, resolution=resolution, min_opacity=min_opacity)
    # gaussians_to_mesh centres on the opaque means' bounding box and flips (y, z): undo it.
    keep = (g.opacities >= min_opacity).detach().cpu().numpy()
    means = g.means.detach().float().cpu().numpy()[keep].astype(np.float64)
    centre = (means.min(0) + means.max(0)) / 2
    verts = np.asarray(mesh.vertices) @ OPENCV_TO_GLTF + centre
    colours = np.asarray(mesh.visual.vertex_colors, dtype=np.uint8)
    if body_fit is not None:
        bound = skin_binding(torch.from_numpy(verts).float(), body_fit, avatar.rig, options, colours=colours[:, :3] / 255.0)
        w, b = bound.weights, bound.bones
    else:  # no body at hand (a loaded avatar): copy the nearest Gaussians' weights
        from scipy.spatial import cKDTree

        _, nn = cKDTree(g.means.detach().cpu().numpy()).query(verts, k=1)
        w, b = avatar.weights[nn], avatar.bones[nn]
    faces = _cut_faces(np.asarray(mesh.faces, dtype=np.int64), w.numpy(), b.numpy())
    used, faces = np.unique(faces, return_inverse=True)  # vertices left without a face go (no normal)
    faces = faces.reshape(-1, 3)
    return verts[used], faces, colours[used], w.numpy()[used], b.numpy()[used]


def _cut_faces(faces: np.ndarray, weights: np.ndarray, bones: np.ndarray, min_shared: float = 0.05) -> np.ndarray:
    """``faces`` (F, 3) without those whose corners share less than ``min_shared`` of their skinning
    weight along an edge (``sum_j min(w_a[j], w_b[j])``): corners bound to different body regions
    (a hand on the head, two legs in trousers), where a face would stretch into a membrane when the
    parts move apart. The mesh separates there as the Gaussians do. ``weights``, ``bones`` (M, K)."""
    keep = np.ones(len(faces), dtype=bool)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        va, vb = faces[:, a], faces[:, b]
        same = bones[va][:, :, None] == bones[vb][:, None, :]  # (F, K, K)
        shared = np.minimum(weights[va][:, :, None], weights[vb][:, None, :]) * same
        keep &= shared.sum((1, 2)) >= min_shared
    return faces[keep]


def _local_trs(world: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., J, 4, 4) world bone frames -> local translations (..., J, 3) and rotations (..., J, 4)
    as glTF quaternions (x, y, z, w)."""
    parent_world = np.where(parents[:, None, None] >= 0, world[..., np.maximum(parents, 0), :, :], np.eye(4))
    R, t = parent_world[..., :3, :3], parent_world[..., :3, 3]
    Rinv = np.swapaxes(R, -1, -2)
    local = np.empty_like(world)
    local[..., :3, :3] = Rinv @ world[..., :3, :3]
    local[..., :3, 3] = (Rinv @ (world[..., :3, 3] - t)[..., None])[..., 0]
    shape = local.shape[:-2]
    q = rotmat_to_quat(torch.from_numpy(local[..., :3, :3].reshape(-1, 3, 3)).double()).numpy().reshape(shape + (4,))
    return local[..., :3, 3], q[..., [1, 2, 3, 0]]


def _linear_rgba16(colours: np.ndarray) -> np.ndarray:
    """(M, 4) uint8 sRGB(A) -> (M, 4) uint16 normalised linear RGB(A): glTF's COLOR_0 is linear,
    so viewers would show sRGB values too bright; 16 bits keep the dark tones."""
    c = colours[:, :4].astype(np.float64) / 255.0
    rgb = c[:, :3]
    c[:, :3] = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return np.round(c * 65535.0).astype(np.uint16)


class _GlbBuilder:
    """Accumulates binary views/accessors for one glTF buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, data: np.ndarray, kind: str, target: int | None = None, minmax: bool = False, normalized: bool = False) -> int:
        comp = {np.float32: 5126, np.uint16: 5123, np.uint32: 5125, np.uint8: 5121}[data.dtype.type]
        while len(self.blob) % 4:
            self.blob.append(0)
        raw = np.ascontiguousarray(data).tobytes()
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.blob += raw
        self.views.append(view)
        acc: dict[str, Any] = {"bufferView": len(self.views) - 1, "componentType": comp, "count": int(data.shape[0]), "type": kind}
        if normalized:
            acc["normalized"] = True
        if minmax:
            flat = data.reshape(data.shape[0], -1)
            acc["min"] = [float(x) for x in flat.min(0)]
            acc["max"] = [float(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def save_rigged_glb(
    avatar: BoundAvatar,
    path: str | Path,
    body_fit: BodyFit | None = None,
    motions: tuple[str, ...] | None = None,
    mesh_resolution: int = 96,
    keys_per_second: float = 15.0,
    options: BindOptions | None = None,
) -> Path:
    """Write the avatar as a skinned, animated glTF binary (module docstring).

    Args:
        body_fit: the fit the avatar was bound to (mesh weights from the body, as the Gaussians');
            None copies each vertex's weights from its nearest Gaussian.
        motions: clip names (default all of :data:`MOTIONS`).
        mesh_resolution: voxels along the avatar's longest side for the mesh.
        keys_per_second: animation keyframes per second (linear interpolation in between).
        options: the binding options the Gaussians were bound with (the mesh is skinned the same way).

    Returns:
        the path written.
    """
    path = Path(path)
    rig = avatar.rig
    parents = rig.parents.numpy()
    J = rig.num_bones
    verts, faces, colours, w, b = rigged_mesh(avatar, mesh_resolution, options=options, body_fit=body_fit)
    M = _gl_frame(avatar, verts)
    pos = (verts @ M[:3, :3].T + M[:3, 3]).astype(np.float32)
    bind_gl = M @ rig.bind_poses.numpy().astype(np.float64)  # (J, 4, 4) bone -> glTF scene

    import trimesh

    normals = trimesh.Trimesh(pos, faces, process=False).vertex_normals.astype(np.float32)
    K = w.shape[1]
    joints4 = np.zeros((len(pos), 4), dtype=np.uint16)
    weights4 = np.zeros((len(pos), 4), dtype=np.float32)
    joints4[:, :K], weights4[:, :K] = b[:, :4], w[:, :4]
    weights4 /= weights4.sum(1, keepdims=True)
    joints4[weights4 == 0] = 0  # unused slots: joint 0 with weight 0

    gb = _GlbBuilder()
    attrs = {
        "POSITION": gb.add(pos, "VEC3", 34962, minmax=True),
        "NORMAL": gb.add(normals, "VEC3", 34962),
        "COLOR_0": gb.add(_linear_rgba16(colours), "VEC4", 34962, normalized=True),
        "JOINTS_0": gb.add(joints4, "VEC4", 34962),
        "WEIGHTS_0": gb.add(weights4, "VEC4", 34962),
    }
    index = gb.add(faces.astype(np.uint32).reshape(-1), "SCALAR", 34963)
    ibm = np.linalg.inv(bind_gl).astype(np.float32)
    ibm[:, 3, :] = (0.0, 0.0, 0.0, 1.0)
    ibm_acc = gb.add(np.ascontiguousarray(ibm.transpose(0, 2, 1)).reshape(J, 16), "MAT4")  # column-major

    t_local, q_local = _local_trs(bind_gl, parents)
    q_bind = q_local / np.linalg.norm(q_local, axis=-1, keepdims=True)
    nodes: list[dict[str, Any]] = [{"name": "avatar", "mesh": 0, "skin": 0}]
    for j in range(J):
        node: dict[str, Any] = {
            "name": rig.joint_names[j],
            "translation": [float(x) for x in t_local[j]],
            "rotation": [float(x) for x in q_bind[j]],
        }
        children = [1 + int(c) for c in np.nonzero(parents == j)[0]]
        if children:
            node["children"] = children
        nodes.append(node)
    roots = [1 + int(j) for j in np.nonzero(parents < 0)[0]]

    animations = []
    for name in motions or tuple(MOTIONS):
        m = get_motion(name)
        n_keys = max(2, int(round(m.duration_s * keys_per_second)) + 1)
        times = np.linspace(0.0, m.duration_s, n_keys, dtype=np.float32)
        poses = [m.pose_at(float(t), rig.backend) for t in times]
        world = rig.bone_poses(poses).numpy().astype(np.float64)  # (T, J, 4, 4)
        world_gl = M[None, None] @ world
        tr, qr = _local_trs(world_gl, parents)
        qr = qr / np.linalg.norm(qr, axis=-1, keepdims=True)
        for k in range(1, n_keys):  # shortest path between keys
            flip = (qr[k] * qr[k - 1]).sum(-1) < 0
            qr[k, flip] *= -1
        t_acc = gb.add(times, "SCALAR", minmax=True)
        channels, samplers = [], []
        # channels for the bones whose local rotation differs from the bind pose at some key
        same = np.abs((qr * q_bind[None]).sum(-1)).min(0) > 1.0 - 1e-9  # (J,)
        moving = np.nonzero(~same | (parents < 0))[0]
        for j in moving:
            samplers.append({"input": t_acc, "output": gb.add(qr[:, j].astype(np.float32), "VEC4"), "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": 1 + int(j), "path": "rotation"}})
        for j in roots:
            samplers.append({"input": t_acc, "output": gb.add(tr[:, j - 1].astype(np.float32), "VEC3"), "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": j, "path": "translation"}})
        animations.append({"name": name, "channels": channels, "samplers": samplers})

    doc = {
        "asset": {"version": "2.0", "generator": "humansplat.animate"},
        "scene": 0,
        "scenes": [{"name": "avatar", "nodes": [0] + roots}],
        "nodes": nodes,
        "meshes": [{"name": "avatar", "primitives": [{"attributes": attrs, "indices": index, "material": 0, "mode": 4}]}],
        "materials": [{"name": "vertex colours", "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0, "roughnessFactor": 0.9}}],
        "skins": [{"name": "body", "joints": [1 + j for j in range(J)], "inverseBindMatrices": ibm_acc, "skeleton": roots[0]}],
        "animations": animations,
        "accessors": gb.accessors,
        "bufferViews": gb.views,
        "buffers": [{"byteLength": len(gb.blob)}],
    }
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    bin_ = bytes(gb.blob) + b"\0" * (-len(gb.blob) % 4)
    total = 12 + 8 + len(js) + 8 + len(bin_)
    data = struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(js), b"JSON") + js
    data += struct.pack("<I4s", len(bin_), b"BIN\0") + bin_
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------ ply + sidecar
def sidecar_path(ply_path: str | Path) -> Path:
    """``avatar.ply`` -> ``avatar.rig.npz``."""
    p = Path(ply_path)
    return p.with_name(p.stem + ".rig.npz")


def save_bound_avatar(avatar: BoundAvatar, path: str | Path) -> tuple[Path, Path]:
    """Write the bind-pose Gaussians as a 3DGS ``.ply`` and the binding as ``<stem>.rig.npz``.

    Returns:
        (ply path, sidecar path).
    """
    from ..io.ply import save_ply

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_ply(avatar.gaussians, path)
    side = sidecar_path(path)
    np.savez_compressed(
        side,
        format=np.array("humansplat-bound-avatar-1"),
        weights=avatar.weights.numpy().astype(np.float32),
        bones=avatar.bones.numpy().astype(np.int16 if avatar.rig.num_bones < 32768 else np.int64),
        **({} if avatar.regions is None else {"regions": avatar.regions.numpy().astype(np.int8)}),
        **avatar.rig.to_arrays(),
    )
    return path, side


def load_bound_avatar(path: str | Path) -> BoundAvatar:
    """Read an avatar written by :func:`save_bound_avatar` (the ``.ply``; the sidecar beside it).

    Raises:
        FileNotFoundError: the ``.ply`` or its ``.rig.npz`` is missing.
        ValueError: the sidecar does not match the ``.ply`` (another Gaussian count).
    """
    from ..io.ply import load_ply

    path = Path(path)
    side = sidecar_path(path)
    for p in (path, side):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found; save_bound_avatar writes the .ply and its .rig.npz side by side")
    g = load_ply(path)
    with np.load(side, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if str(arrays.get("format")) != "humansplat-bound-avatar-1":
        raise ValueError(f"{side} is not a humansplat bound-avatar sidecar (format {arrays.get('format')!r})")
    if arrays["weights"].shape[0] != len(g):
        raise ValueError(f"{side} binds {arrays['weights'].shape[0]} Gaussians but {path} has {len(g)}; save them together")
    return BoundAvatar(
        gaussians=g,
        weights=torch.from_numpy(arrays["weights"]).float(),
        bones=torch.from_numpy(arrays["bones"].astype(np.int64)),
        rig=Rig.from_arrays(arrays),
        regions=torch.from_numpy(arrays["regions"].astype(np.int64)) if "regions" in arrays else None,
    )


# ------------------------------------------------------------------------------------ pipeline glue
def animate_result(
    result: Result,
    motion: str,
    out_dir: str | Path,
    frames: int | None = None,
    resolution: int = 384,
    fps: float = 24.0,
    mesh_resolution: int = 96,
    options: BindOptions | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Path]:
    """Bind a pipeline :class:`~humansplat.result.Result` and write its animation outputs.

    Writes into ``out_dir``: ``animation_<motion>.mp4`` (the motion while the camera turns),
    ``avatar_rigged.glb`` (mesh + skeleton + every built-in motion as a clip, ``motion`` first), ``avatar_bound.ply``
    and ``avatar_bound.rig.npz``.

    ``progress(fraction, stage)`` (as :data:`humansplat.result.ProgressCallback`) is called before
    each step (bind, video, glb, ply) and at the end.

    The binding's notes (where the photo could not say: :class:`~humansplat.animate.regions.RegionAssignment`)
    are added to ``result.notes``.

    Returns:
        {"video", "glb", "ply", "sidecar"} -> paths; timings are logged in ``result.timings``
        under ``animate_bind``, ``animate_video``, ``animate_glb`` (seconds).

    Raises:
        ValueError: unknown motion (message lists the built-in ones) or a fit without parameters.
    """
    get_motion(motion)  # fail early on a bad name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda fraction, stage: None)
    t0 = time.perf_counter()
    report(0.0, "animate: binding the Gaussians to the skeleton")
    avatar = bind(result.gaussians.detach().to("cpu"), result.body_fit, options)
    result.notes.extend(n for n in avatar.notes if n not in result.notes)
    t1 = time.perf_counter()
    report(0.1, f"animate: rendering the {motion} video")
    video = save_animation_video(avatar, motion, out / f"animation_{motion}.mp4", fps=fps, frames=frames, resolution=resolution)
    t2 = time.perf_counter()
    report(0.8, "animate: writing the rigged .glb")
    clips = (motion, *(m for m in MOTIONS if m != motion))  # the motion first: viewers autoplay the first clip
    glb = save_rigged_glb(
        avatar, out / "avatar_rigged.glb", body_fit=result.body_fit, motions=clips, mesh_resolution=mesh_resolution,
        options=options,
    )
    t3 = time.perf_counter()
    report(0.95, "animate: writing the bound .ply")
    ply, side = save_bound_avatar(avatar, out / "avatar_bound.ply")
    report(1.0, "animate: done")
    result.timings.update({"animate_bind": round(t1 - t0, 3), "animate_video": round(t2 - t1, 3), "animate_glb": round(t3 - t2, 3)})
    return {"video": video, "glb": glb, "ply": ply, "sidecar": side}
