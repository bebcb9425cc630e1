"""Animatable avatar: binding, re-posing, built-in motions, video, rigged .glb, bound .ply.

One small synthetic person (96 px crop, prior-mode Gaussians) per module. The glTF validator test
needs ``node`` and the npm package ``gltf-validator`` in ./node_modules (README step 2); the browser
test needs Debian's Chromium and ``three`` in ./node_modules; both skip with the reason otherwise.
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from humansplat.animate import (
    MOTIONS,
    BindOptions,
    BoundAvatar,
    Pose,
    bind,
    get_motion,
    load_bound_avatar,
    point_skin_weights,
    repose,
    save_animation_video,
    save_bound_avatar,
    save_rigged_glb,
    skin_gaussians,
)
from humansplat.prior.body_models import POSE_GROUPS

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"


@pytest.fixture(scope="module")
def person():
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.prior_mode.build import gaussians_from_prior

    fit = make_synthetic_person(seed=0, size=96).as_body_fit()
    return fit, gaussians_from_prior(fit)


@pytest.fixture(scope="module")
def avatar(person) -> BoundAvatar:
    fit, gaussians = person
    return bind(gaussians, fit)


@pytest.fixture(scope="module")
def glb_path(avatar, person, tmp_path_factory) -> Path:
    return save_rigged_glb(avatar, tmp_path_factory.mktemp("glb") / "avatar.glb", body_fit=person[0], mesh_resolution=48)


# ----------------------------------------------------------------------------- binding and re-posing
def test_binding_weights_are_normalised_sparse(avatar):
    n = len(avatar.gaussians)
    assert avatar.weights.shape == avatar.bones.shape == (n, 4)
    assert torch.allclose(avatar.weights.sum(1), torch.ones(n), atol=1e-5)
    assert (avatar.weights >= 0).all() and int(avatar.bones.max()) < avatar.rig.num_bones
    # the bind poses are rigid and their heads are the fitted body's joints
    R = avatar.rig.bind_poses[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand_as(R), atol=1e-4)


def test_repose_to_the_fitted_pose_returns_the_input(avatar):
    out = repose(avatar, avatar.rig.fitted_pose())
    g = avatar.gaussians
    assert torch.allclose(out.means, g.means, atol=1e-5)
    assert torch.allclose(torch.nn.functional.normalize(out.quats, dim=-1), g.normalized_quats(), atol=1e-5)
    assert torch.equal(out.log_scales, g.log_scales) and torch.equal(out.sh0, g.sh0)


def test_rotating_one_bone_moves_only_its_subtree(avatar):
    pose = avatar.rig.fitted_pose()
    knee = POSE_GROUPS.index("knee.L")
    body_pose = pose.body_pose.clone()
    body_pose[knee, 0] += math.radians(70)
    out = repose(avatar, Pose(body_pose))
    moved = (out.means - avatar.gaussians.means).norm(dim=1) > 1e-5
    subtree = torch.tensor(avatar.rig.descendants("lowerleg01.L"))
    bound = ((avatar.weights > 0) & torch.isin(avatar.bones, subtree)).any(1)
    assert int(moved.sum()) > 50  # the shin and foot moved ...
    assert not bool((moved & ~bound).any())  # ... and nothing outside the knee's subtree did
    # the shin's Gaussians moved far, the thigh's upper part not at all
    strongly = (avatar.weights * torch.isin(avatar.bones, subtree)).sum(1) > 0.99
    assert float((out.means - avatar.gaussians.means)[strongly].norm(dim=1).mean()) > 0.05


def test_rigidly_bound_gaussian_keeps_its_place_on_the_bone(avatar):
    rig = avatar.rig
    j = rig.joint_names.index("lowerarm01.L")
    n = 16
    g = avatar.gaussians[:n]
    rigid = BoundAvatar(g, torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1), torch.tensor([[j, 0, 0, 0]]).repeat(n, 1), rig)
    _, poses = get_motion("wave").sample(3)
    bones = rig.bone_poses(poses)  # (T, J, 4, 4)
    for pose, G in zip(poses, bones):
        out = repose(rigid, pose)
        d_bind = (g.means - rig.bind_poses[j, :3, 3]).norm(dim=1)
        d_new = (out.means - G[j, :3, 3]).norm(dim=1)
        assert torch.allclose(d_new, d_bind, atol=1e-5)
        # the Gaussian's orientation relative to the bone is kept
        from humansplat.geometry import quat_to_rotmat

        rel_bind = rig.bind_poses[j, :3, :3].T @ quat_to_rotmat(g.quats)
        rel_new = G[j, :3, :3].T @ quat_to_rotmat(out.quats)
        assert torch.allclose(rel_new, rel_bind, atol=1e-4)


def test_skin_gaussians_rejects_wrong_transform_shape(avatar):
    with pytest.raises(ValueError, match=r"transforms must be \(J=104"):
        skin_gaussians(avatar, torch.eye(4).repeat(3, 1, 1))


def test_cloth_between_the_legs_blends_both_legs(person, avatar):
    """The cloth blend itself (bind.py step 2), on two probe points bound without regions (two points
    make no silhouette to read a skirt from; test_animate_regions.py covers when the blend applies)."""
    fit, _ = person
    rig = avatar.rig
    names = rig.joint_names
    heads = rig.bind_poses[:, :3, 3]
    left = set(rig.descendants("upperleg01.L"))
    right = set(rig.descendants("upperleg01.R"))
    knee_l, knee_r = heads[names.index("lowerleg01.L")], heads[names.index("lowerleg01.R")]
    between = 0.5 * (knee_l + knee_r)  # a skirt's hem between the knees, off the skin
    on_thigh = fit.vertices[int(((fit.vertices - (0.6 * knee_l + 0.4 * heads[names.index("upperleg01.L")])) ** 2).sum(1).argmin())]
    # two far-apart probe points: no smoothing between them
    w, b = point_skin_weights(torch.stack([between, on_thigh]), fit, rig, BindOptions(smooth_iters=0, regions=False))

    def share(i: int, side: set[int]) -> float:
        return float(sum(w[i, k] for k in range(w.shape[1]) if int(b[i, k]) in side))

    assert share(0, left) > 0.3 and share(0, right) > 0.3  # blended, not split
    assert share(1, left) > 0.9  # skin of the left thigh follows the left leg only


# ----------------------------------------------------------------------------- motions
def test_motions_are_defined_and_loop(avatar):
    assert set(MOTIONS) == {"a_pose", "t_pose", "walk", "wave", "turn"}
    for name in ("walk", "turn"):
        m = get_motion(name)
        a, b = m.pose_at(0.0), m.pose_at(m.duration_s)
        assert torch.allclose(a.body_pose, b.body_pose, atol=1e-5)
        Ra, Rb = (avatar.rig.bone_poses([p])[0, 0, :3, :3] for p in (a, b))
        assert torch.allclose(Ra, Rb, atol=1e-4)
    # T-pose: the upper arms are horizontal (measured on the body model's own joints)
    G = avatar.rig.bone_poses([get_motion("t_pose").pose_at(0)])[0]
    names = avatar.rig.joint_names
    up = -G[0, :3, 1]  # the body's up axis in the world (model y is down)
    for side in "LR":
        d = G[names.index(f"lowerarm01.{side}"), :3, 3] - G[names.index(f"upperarm01.{side}"), :3, 3]
        assert abs(float(d @ up)) / float(d.norm()) < 0.1
    with pytest.raises(ValueError, match="unknown motion 'moonwalk'; choose one of a_pose"):
        get_motion("moonwalk")


# ----------------------------------------------------------------------------- outputs
def test_video_has_the_requested_frames(avatar, tmp_path):
    import imageio.v2 as imageio

    path = save_animation_video(avatar, "walk", tmp_path / "walk.mp4", fps=10, frames=5, resolution=64)
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        frames = np.stack([f for f in reader])  # list() would ask len(), which is inf here
    finally:
        reader.close()
    assert frames.shape[0] == 5 and frames.shape[1:3] == (64, 64)
    assert float(np.abs(frames[0].astype(int) - frames[2].astype(int)).mean()) > 0.5  # it moves


def test_bound_avatar_round_trip(avatar, tmp_path):
    ply, side = save_bound_avatar(avatar, tmp_path / "avatar.ply")
    assert side.name == "avatar.rig.npz" and side.is_file()
    back = load_bound_avatar(ply)
    assert torch.equal(back.bones, avatar.bones) and torch.allclose(back.weights, avatar.weights)
    assert back.rig.joint_names == avatar.rig.joint_names and torch.equal(back.rig.parents, avatar.rig.parents)
    pose = get_motion("walk").pose_at(0.3)
    assert torch.allclose(repose(back, pose).means, repose(avatar, pose).means, atol=1e-5)
    # a loaded avatar (no body fit at hand) still exports: mesh weights from the nearest Gaussians
    glb = save_rigged_glb(back, tmp_path / "loaded.glb", mesh_resolution=32, motions=("wave",))
    assert glb.stat().st_size > 10_000
    side.unlink()
    with pytest.raises(FileNotFoundError, match="avatar.rig.npz not found"):
        load_bound_avatar(ply)


def test_rigged_glb_structure(glb_path, avatar, person):
    trimesh = pytest.importorskip("trimesh")
    pygltflib = pytest.importorskip("pygltflib")
    scene = trimesh.load(glb_path)
    assert len(scene.geometry) == 1 and next(iter(scene.geometry.values())).faces.shape[0] > 100
    gltf = pygltflib.GLTF2().load(str(glb_path))
    assert len(gltf.skins) == 1 and len(gltf.skins[0].joints) == avatar.rig.num_bones
    blob = gltf.binary_blob()

    def read(index: int, dtype, width: int) -> np.ndarray:
        acc = gltf.accessors[index]
        view = gltf.bufferViews[acc.bufferView]
        start = view.byteOffset + (acc.byteOffset or 0)
        return np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start).reshape(acc.count, width)

    prim = gltf.meshes[0].primitives[0]
    weights = read(prim.attributes.WEIGHTS_0, np.float32, 4)
    joints = read(prim.attributes.JOINTS_0, np.uint16, 4)
    assert np.allclose(weights.sum(1), 1.0, atol=1e-5) and (weights >= 0).all()
    assert int(joints.max()) < avatar.rig.num_bones
    assert [a.name for a in gltf.animations] == list(MOTIONS)
    for anim in gltf.animations:
        assert len(anim.channels) > 0
        paths = {c.target.path for c in anim.channels}
        assert "rotation" in paths and "translation" in paths
    walk = gltf.animations[list(MOTIONS).index("walk")]
    assert len(walk.channels) >= 10  # legs, arms, spine move
    ibm = read(gltf.skins[0].inverseBindMatrices, np.float32, 16)
    assert np.allclose(ibm[:, [3, 7, 11, 15]], [0, 0, 0, 1], atol=1e-6)  # column-major affine

    # A viewer's skinning at a walk key (node hierarchy x inverse bind matrices) equals our repose.
    from humansplat.animate.export import _gl_frame, rigged_mesh
    from humansplat.geometry import quat_to_rotmat

    key = 5
    trs = {i: (np.array(n.translation), np.array(n.rotation)) for i, n in enumerate(gltf.nodes) if i > 0}
    for ch in walk.channels:
        out = read(walk.samplers[ch.sampler].output, np.float32, 4 if ch.target.path == "rotation" else 3)[key]
        t, q = trs[ch.target.node]
        trs[ch.target.node] = (t, out) if ch.target.path == "rotation" else (out, q)
    parent = {c: i for i, n in enumerate(gltf.nodes) for c in (n.children or [])}
    world: dict[int, np.ndarray] = {}
    for node in gltf.skins[0].joints:  # parents come first
        t, q = trs[node]
        local = np.eye(4)
        local[:3, :3] = quat_to_rotmat(torch.tensor(q[[3, 0, 1, 2]])[None].double())[0].numpy()
        local[:3, 3] = t
        world[node] = world[parent[node]] @ local if node in parent else local
    skin = np.stack([world[n] for n in gltf.skins[0].joints]) @ ibm.reshape(-1, 4, 4).transpose(0, 2, 1)
    pos = read(prim.attributes.POSITION, np.float32, 3).astype(np.float64)
    viewer = np.einsum("vk,vkij,vj->vi", weights, skin[joints], np.c_[pos, np.ones(len(pos))])[:, :3]
    t_key = float(read(walk.samplers[0].input, np.float32, 1)[key, 0])
    verts, _, _, w, b = rigged_mesh(avatar, 48, body_fit=person[0])
    T = avatar.rig.skin_transforms([get_motion("walk").pose_at(t_key)])[0].double().numpy()
    ours = np.einsum("vk,vkij,vj->vi", w, T[b], np.c_[verts, np.ones(len(verts))])
    M = _gl_frame(avatar, verts)
    assert np.abs(viewer - (ours @ M.T)[:, :3]).max() < 1e-4
    assert np.abs(viewer - pos).max() > 0.05  # and the key is not the bind pose


def test_rigged_glb_passes_the_khronos_validator(glb_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed (apt-get install -y nodejs npm)")
    if not (NODE_MODULES / "gltf-validator").is_dir():
        pytest.skip("npm package gltf-validator missing: run README step 2's npm install in the repo root")
    run = subprocess.run(
        ["node", str(ROOT / "tests" / "animate_validate.mjs"), str(glb_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    assert report["info"]["animationCount"] == len(MOTIONS) and report["info"]["hasSkins"]


# ----------------------------------------------------------------------------- browser
CHROMIUM = Path("/usr/bin/chromium")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the repo root (the page, node_modules) plus one .glb at /avatar.glb."""

    glb: Path

    def translate_path(self, path: str) -> str:
        if path.split("?")[0] == "/avatar.glb":
            return str(self.glb)
        return super().translate_path(path)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium")
def test_rigged_glb_plays_in_three_js(glb_path, tmp_path):
    if not (NODE_MODULES / "three" / "build" / "three.module.js").is_file():
        pytest.skip("npm package three missing: run README step 2's npm install in the repo root")
    sync_api = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    handler = type("Handler", (_Handler,), {"glb": glb_path})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(ROOT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tests/animate_viewer.html?glb=/avatar.glb&clip=walk"
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-background-networking"],
            )
            try:
                page = browser.new_page(viewport={"width": 320, "height": 320})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(url)
                page.wait_for_function("window.ready === true || window.loadError !== undefined", timeout=60_000)
                assert page.evaluate("window.loadError") is None
                assert page.evaluate("window.clipNames") == list(MOTIONS)
                shots = []
                for t in (0.3, 0.9):
                    page.evaluate(f"window.showAt({t})")
                    page.locator("canvas").screenshot(path=str(tmp_path / f"walk_{t}.png"))
                    shots.append(np.asarray(Image.open(tmp_path / f"walk_{t}.png").convert("RGB")).astype(np.int16))
                assert not errors, errors
            finally:
                browser.close()
    finally:
        server.shutdown()
    a, b = shots
    assert (a < 200).any(axis=-1).mean() > 0.02  # the avatar covers part of the white canvas
    changed = (np.abs(a - b).max(-1) > 30).mean()
    assert changed > 0.003, f"frames at 0.3 s and 0.9 s differ in only {changed:.2%} of pixels"


def test_animate_result_writes_every_output(person, tmp_path):
    from humansplat.animate import animate_result
    from humansplat.cameras import Cameras
    from humansplat.result import Result

    fit, gaussians = person
    result = Result(gaussians, fit, np.zeros((0, 8, 8, 3), np.uint8), Cameras.from_fov(40, 8, 8), np.zeros((0, 8, 8, 3), np.uint8), "prior")
    stages: list[tuple[float, str]] = []
    files = animate_result(result, "wave", tmp_path, frames=3, resolution=48, mesh_resolution=32,
                           progress=lambda f, s: stages.append((f, s)))
    assert stages[0][0] == 0.0 and stages[-1] == (1.0, "animate: done") and len(stages) == 5
    assert {k: p.name for k, p in files.items()} == {
        "video": "animation_wave.mp4", "glb": "avatar_rigged.glb", "ply": "avatar_bound.ply", "sidecar": "avatar_bound.rig.npz"
    }
    assert all(p.stat().st_size > 1000 for p in files.values())
    assert {"animate_bind", "animate_video", "animate_glb"} <= set(result.timings)
    with pytest.raises(ValueError, match="unknown motion 'dance'"):
        animate_result(result, "dance", tmp_path)


def test_cli_motion_option():
    from humansplat.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["p.jpg", "-o", "out", "--motion", "walk"]).motion == "walk"
    assert parser.parse_args(["p.jpg", "-o", "out"]).motion is None
    with pytest.raises(SystemExit):
        parser.parse_args(["p.jpg", "-o", "out", "--motion", "moonwalk"])


def test_body_model_bone_poses_skin_its_own_vertices(person):
    """AnnyBody.bone_poses: heads are the joints, and bone_poses(b) @ inv(bone_poses(a)) with the
    model's skin weights carries the vertices of pose a to those of pose b (exactly for one-bone
    vertices, within 2 cm for blended ones)."""
    from humansplat.cameras import invert_rigid
    from humansplat.prior.body_models import get_body_model

    fit, _ = person
    body = get_body_model("anny")
    a = fit.params
    pose_b = a.body_pose.clone()
    pose_b[POSE_GROUPS.index("shoulder.R"), 2] -= 0.8
    pose_b[POSE_GROUPS.index("hip.L"), 0] -= 0.5
    b = a.replace(body_pose=pose_b)
    with torch.no_grad():
        Ga, Gb = body.bone_poses(a), body.bone_poses(b)
        out_a, out_b = body(a), body(b)
    assert torch.allclose(Gb[:, :3, 3], out_b.joints, atol=1e-5)
    w, idx = body.skin_weights()
    S = Gb @ invert_rigid(Ga)
    X = torch.cat([out_a.vertices, torch.ones(len(out_a.vertices), 1)], 1)
    moved = torch.einsum("vk,vkij,vj->vi", w, S[idx], X)[:, :3]
    err = (moved - out_b.vertices).norm(dim=1)
    rigid = w.max(1).values > 0.999  # one bone: exact; blended vertices differ by LBS's own
    assert float(err[rigid].max()) < 1e-4  # non-linearity (skinning from a posed bind pose)
    assert float(err.max()) < 0.02
    assert float((out_b.vertices - out_a.vertices).abs().max()) > 0.1
    assert len(body.bone_parents) == len(body.joint_names) and body.bone_parents[0] == -1
