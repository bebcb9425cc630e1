"""Scans: loading textured scans of every layout into the scan frame, and rendering them into the
multi-view dataset layout that FolderDataset reads. Every mesh here is a tiny box "person" built by
the test (0.4 x 1.7 x 0.3 m) whose front face (the side the person faces) is red and every other
face green, so a render from the front or the back shows which way it faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from humansplat.data import ScanError, find_scans, load_scan, scan_rotation
from humansplat.data.render_scans import RenderSettings, main, render_scan, scan_cameras, scan_world_mesh
from humansplat.render.mesh import render_mesh

RED, GREEN = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
SIZE = (0.4, 1.7, 0.3)  # person box: width, height, depth in metres (y up, facing +z)
# 8 x 8 texture: the top-left 4 x 4 block red, the top-right green (bottom blue / white)
TEXTURE = np.zeros((8, 8, 3), np.uint8)
TEXTURE[:4, :4] = (255, 0, 0)
TEXTURE[:4, 4:] = (0, 255, 0)
TEXTURE[4:, :4] = (0, 0, 255)
TEXTURE[4:, 4:] = (255, 255, 255)
UV_RED, UV_GREEN = (0.25, 0.75), (0.75, 0.75)  # OBJ convention (v up): the top row is v > 0.5


def _box(scale: float = 1.0, up: str = "y", front: str = "z"):
    """Vertices (8, 3), faces (12, 3) of the person box in a file frame with that up/front axis, and
    a (12,) bool marking the front faces."""
    box = trimesh.creation.box(extents=SIZE)
    verts = np.asarray(box.vertices) + [0.0, SIZE[1] / 2, 0.0]  # feet at y = 0
    front_faces = box.face_normals[:, 2] > 0.9
    R = scan_rotation(up, front)  # file -> scan; its transpose takes scan coordinates into the file
    return verts @ R * scale, np.asarray(box.faces), front_faces


def _write_obj(folder, stem, verts, faces, front, texture_name="tex.png", mtl_name=None, write_texture=True):
    folder.mkdir(parents=True, exist_ok=True)
    mtl_name = mtl_name or f"{stem}.mtl"
    (folder / mtl_name).write_text(f"newmtl m0\nKd 1 1 1\nmap_Kd {texture_name}\n")
    if write_texture:
        Image.fromarray(TEXTURE).save(folder / texture_name)
    lines = [f"mtllib {mtl_name}"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"vt {UV_RED[0]} {UV_RED[1]}", f"vt {UV_GREEN[0]} {UV_GREEN[1]}", "usemtl m0"]
    for f, is_front in zip(faces, front):
        t = 1 if is_front else 2  # faces index UVs separately from vertices
        lines.append("f " + " ".join(f"{i + 1}/{t}" for i in f))
    path = folder / f"{stem}.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def _render(scan, size: int = 32, views: int = 2) -> np.ndarray:
    """(views, size, size, 3) colours of the scan seen from the orbit (azimuth 0 first) on white."""
    cams = scan_cameras(scan, RenderSettings(size=size, views=views, input_azimuths=())).cameras
    return render_mesh(scan_world_mesh(scan)[0], cams, supersample=1).rgb.numpy()


def _front_back_colours(scan, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Colours at the image centre of the front (azimuth 0) and back (180) views."""
    rgb = _render(scan, size)
    return rgb[0, size // 2, size // 2], rgb[1, size // 2, size // 2]


def _check_person(scan, units: str, up: str):
    v = scan.mesh.vertices.numpy()
    np.testing.assert_allclose(v.max(0) - v.min(0), SIZE, atol=1e-4)  # metres, +Y up, depth along z
    assert abs(v[:, 1].min()) < 1e-6 and np.allclose((v.max(0) + v.min(0))[[0, 2]] / 2, 0, atol=1e-6)
    assert scan.units == units and scan.up == up and abs(scan.height_m - 1.7) < 1e-4


# ---------------------------------------------------------------------------------------------- loading
def test_obj_in_cm_with_texture_faces_forward(tmp_path):
    verts, faces, front = _box(scale=100.0)  # centimetres
    scan = load_scan(_write_obj(tmp_path / "rp", "rp_person", verts, faces, front))
    _check_person(scan, "cm", "+y")
    assert scan.color_source == "texture" and scan.name == "rp_person"
    assert any("cm" in n for n in scan.notes)
    front_rgb, back_rgb = _front_back_colours(scan)
    np.testing.assert_allclose(front_rgb, RED, atol=1e-5)  # v up: the red texel, not the blue one below it
    np.testing.assert_allclose(back_rgb, GREEN, atol=1e-5)
    # the transform maps the file's vertices onto the scan's
    mapped = verts @ scan.to_scan[:3, :3].T + scan.to_scan[:3, 3]
    gaps = np.linalg.norm(mapped[:, None] - scan.mesh.vertices.numpy()[None], axis=-1)
    assert gaps.min(1).max() < 1e-5 and gaps.min(0).max() < 1e-5  # same points (split at UV seams)


def test_z_up_obj_is_turned_upright_and_facing_z(tmp_path):
    verts, faces, front = _box(up="z", front="-y")  # Blender-style: z up, the person faces -y
    path = _write_obj(tmp_path, "zup", verts, faces, front)
    scan = load_scan(path)
    _check_person(scan, "m", "+z")
    front_rgb, back_rgb = _front_back_colours(scan)
    np.testing.assert_allclose(front_rgb, RED, atol=1e-5)
    np.testing.assert_allclose(back_rgb, GREEN, atol=1e-5)
    # an explicit facing override turns the person around
    turned = load_scan(path, up="z", facing="y")
    np.testing.assert_allclose(_front_back_colours(turned)[1], RED, atol=1e-5)


def test_glb_with_embedded_texture(tmp_path):
    verts, faces, front = _box()
    corners = verts[faces].reshape(-1, 3)  # one vertex per corner: per-vertex UVs
    uv = np.repeat(np.where(front[:, None], UV_RED, UV_GREEN), 3, axis=0)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(TEXTURE), baseColorFactor=[255] * 4)
    mesh = trimesh.Trimesh(corners, np.arange(len(corners)).reshape(-1, 3), process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, material=material))  # fmt: skip
    mesh.export(tmp_path / "person.glb")
    scan = load_scan(tmp_path / "person.glb")
    _check_person(scan, "m", "+y")
    assert scan.color_source == "texture"
    front_rgb, back_rgb = _front_back_colours(scan)
    np.testing.assert_allclose(front_rgb, RED, atol=1e-5)  # glTF's v-down UVs come out right
    np.testing.assert_allclose(back_rgb, GREEN, atol=1e-5)


def test_obj_with_two_materials_and_textures(tmp_path):
    """RenderPeople-style OBJ with one texture per material: trimesh packs them into one atlas."""
    verts, faces, front = _box()
    for name, colour in (("front", (255, 0, 0)), ("rest", (0, 255, 0))):
        Image.fromarray(np.full((4, 4, 3), colour, np.uint8)).save(tmp_path / f"{name}.png")
    (tmp_path / "two.mtl").write_text("newmtl front\nmap_Kd front.png\nnewmtl rest\nmap_Kd rest.png\n")
    lines = ["mtllib two.mtl"] + [f"v {x} {y} {z}" for x, y, z in verts] + ["vt 0.5 0.5"]
    for material, keep in (("front", front), ("rest", ~front)):
        lines.append(f"usemtl {material}")
        lines += ["f " + " ".join(f"{i + 1}/1" for i in f) for f in faces[keep]]
    (tmp_path / "two.obj").write_text("\n".join(lines) + "\n")
    scan = load_scan(tmp_path / "two.obj")
    assert scan.color_source == "texture"
    front_rgb, back_rgb = _front_back_colours(scan)
    np.testing.assert_allclose(front_rgb, RED, atol=0.02)
    np.testing.assert_allclose(back_rgb, GREEN, atol=0.02)


def test_ply_vertex_colours_in_mm(tmp_path):
    verts, faces, _ = _box(scale=1000.0)
    colours = np.where(verts[:, :1] > 0, [255, 0, 0, 255], [0, 0, 255, 255]).astype(np.uint8)  # left red, right blue
    trimesh.Trimesh(verts, faces, vertex_colors=colours, process=False).export(tmp_path / "scan_0001.ply")
    scan = load_scan(tmp_path / "scan_0001.ply", up="y")
    _check_person(scan, "mm", "+y")
    assert scan.color_source == "vertex colours"
    front = _render(scan, views=1)[0]
    cols = np.where(front.sum(-1).min(0) < 2.9)[0]  # columns the person covers
    left, right = front[16, cols[-2]], front[16, cols[1]]  # facing the camera: the person's left is on the right
    assert left[0] > left[2] + 0.4 and right[2] > right[0] + 0.4


def test_thuman_folder_layout_and_find_scans(tmp_path):
    verts, faces, front = _box()
    subject = tmp_path / "THuman2.0" / "0525"
    _write_obj(subject, "0525", verts, faces, front, texture_name="material0.jpeg", mtl_name="material0.mtl")
    loose_verts, loose_faces, _ = _box(scale=100.0)
    trimesh.Trimesh(loose_verts, loose_faces, process=False).export(tmp_path / "THuman2.0" / "loose.ply")
    entries = find_scans(tmp_path / "THuman2.0")
    assert [(e.name, e.path.name) for e in entries] == [("0525", "0525.obj"), ("loose", "loose.ply")]
    scan = load_scan(subject)  # a subject folder works too
    assert scan.name == "0525" and scan.color_source == "texture"
    front_rgb, back_rgb = _front_back_colours(scan)
    np.testing.assert_allclose(front_rgb, RED, atol=0.08)  # JPEG texture
    np.testing.assert_allclose(back_rgb, GREEN, atol=0.08)
    grey = load_scan(entries[1].path)
    assert grey.color_source == "grey" and any("grey" in n for n in grey.notes)


def test_missing_texture_falls_back_with_a_note(tmp_path):
    verts, faces, front = _box()
    scan = load_scan(_write_obj(tmp_path, "person", verts, faces, front, texture_name="gone.png", write_texture=False))
    assert scan.color_source == "grey"
    assert any("gone.png named in person.mtl" in n and "grey" in n for n in scan.notes)
    np.testing.assert_allclose(_front_back_colours(scan)[0], 0.5, atol=1e-5)
    # the same OBJ with vertex colours: those are used instead of grey
    obj = (tmp_path / "person.obj").read_text()
    coloured = "\n".join(line + " 0 0 1" if line.startswith("v ") else line for line in obj.splitlines())
    (tmp_path / "coloured.obj").write_text(coloured + "\n")
    scan = load_scan(tmp_path / "coloured.obj")
    assert scan.color_source == "vertex colours" and any("vertex colours" in n for n in scan.notes)
    np.testing.assert_allclose(_front_back_colours(scan)[1], (0, 0, 1), atol=1e-5)
    # a glTF material with a colour and no texture: that colour
    verts, faces, _ = _box()
    material = trimesh.visual.material.PBRMaterial(baseColorFactor=[0, 255, 0, 255])
    trimesh.Trimesh(verts, faces, visual=trimesh.visual.TextureVisuals(material=material), process=False).export(
        tmp_path / "solid.glb"
    )
    np.testing.assert_allclose(_front_back_colours(load_scan(tmp_path / "solid.glb"))[0], GREEN, atol=1e-5)


def test_bad_files_name_the_file(tmp_path):
    (tmp_path / "person.xyz").write_text("0 0 0\n")
    with pytest.raises(ScanError, match=r"person\.xyz.*unsupported"):
        load_scan(tmp_path / "person.xyz")
    (tmp_path / "junk.obj").write_text("hello, not a mesh\n")
    with pytest.raises(ScanError, match=r"junk\.obj.*no triangle"):
        load_scan(tmp_path / "junk.obj")
    (tmp_path / "empty.glb").write_bytes(b"")
    with pytest.raises(ScanError, match=r"empty\.glb.*cannot be read"):
        load_scan(tmp_path / "empty.glb")
    verts, faces, _ = _box(scale=20.0)  # 34 units: no unit makes it a person
    trimesh.Trimesh(verts, faces, process=False).export(tmp_path / "giant.ply")
    with pytest.raises(ScanError, match=r"giant\.ply.*34 file units.*units="):
        load_scan(tmp_path / "giant.ply")
    assert abs(load_scan(tmp_path / "giant.ply", units=0.05).height_m - 1.7) < 1e-4  # explicit scale
    with pytest.raises(ScanError, match="no such file"):
        load_scan(tmp_path / "absent.obj")
    with pytest.raises(ValueError, match="orthogonal"):
        scan_rotation("y", "-y")


# ---------------------------------------------------------------------------------------------- rendering
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A THuman-style folder (one textured subject with a body.npz, one broken file) rendered by the CLI."""
    root = tmp_path_factory.mktemp("scans")
    verts, faces, front = _box(scale=100.0)
    subject = root / "scans" / "0001"
    _write_obj(subject, "0001", verts, faces, front)
    # a "fitted body": a thinner box inside the scan; upper vertices head (0), lower legs (5), in cm
    body = trimesh.creation.box(extents=(30.0, 160.0, 20.0))
    bverts = np.asarray(body.vertices) + [0.0, 85.0, 0.0]
    parts = np.where(bverts[:, 1] > 85, 0, 5)
    np.savez(subject / "body.npz", vertices=bverts, faces=np.asarray(body.faces), parts=parts)
    (root / "scans" / "broken.obj").write_text("not a mesh\n")
    out = root / "out"
    code = main([str(root / "scans"), "-o", str(out), "--size", "64", "--views", "4", "-q"])
    return root, out, code, verts


def test_render_cli_writes_the_layout(rendered):
    root, out, code, verts = rendered
    assert code == 1  # one subject failed (broken.obj), the other was rendered
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] == 1 and summary["failed"] == 1
    assert "broken.obj" in [s for s in summary["subjects"] if s["status"] == "failed"][0]["error"]
    folder = out / "0001"
    meta = json.loads((folder / "cameras.json").read_text())
    assert meta["width"] == meta["height"] == 64 and len(meta["frames"]) == 5 and meta["inputs"] == [0]
    assert [f["kind"] for f in meta["frames"]] == ["input"] + ["orbit"] * 4
    assert [f["azimuth_deg"] for f in meta["frames"]] == [0.0, 0.0, 90.0, 180.0, 270.0]
    assert meta["scan"]["units"] == "cm" and meta["parts"]["names"][0] == "head" and meta["body"] == "body.npz"
    for f in meta["frames"]:
        for key in ("image", "depth", "normal", "parts"):
            assert (folder / f[key]).is_file()
    img = np.asarray(Image.open(folder / "images/000.png"))
    assert img.shape == (64, 64, 4) and img.dtype == np.uint8
    alpha = img[..., 3] / 255.0
    rows = np.where(alpha.max(1) > 0.5)[0]
    heights = []
    for f in meta["frames"]:
        a = np.asarray(Image.open(folder / f["image"]))[..., 3]
        covered = np.where(a.max(1) > 0)[0]
        heights.append((covered[-1] - covered[0] + 1) / 64)
    assert abs(max(heights) - 0.85) <= 1.5 / 64 and min(heights) > 0.75  # the tallest view: 85% of the height
    assert tuple(img[32, 32, :3]) == (255, 0, 0) and tuple(img[0, 0]) == (255, 255, 255, 0)  # front: red; white bg
    back = np.asarray(Image.open(folder / "images/003.png"))
    assert tuple(back[32, 32, :3]) == (0, 255, 0)

    # projecting with the written cameras: the file's front-face centre lands on the person, at its depth
    from humansplat.cameras import Cameras

    cams = Cameras(
        torch.tensor([f["viewmat"] for f in meta["frames"]]), torch.tensor([f["K"] for f in meta["frames"]]), 64, 64
    )
    to_world = np.asarray(meta["scan"]["file_to_world"])
    point = np.array([0.0, 85.0, 15.0, 1.0])  # file frame (cm): centre of the front face
    uv, z = cams.project(torch.tensor((to_world @ point)[None, :3], dtype=torch.float32))
    u, v = uv[0, 0].tolist()
    assert alpha[int(v), int(u)] == 1.0
    depth = np.asarray(Image.open(folder / "depth/000.png"))
    assert depth.dtype == np.uint16 and depth[0, 0] == 0
    assert abs(int(depth[int(v), int(u)]) - 1000.0 * float(z[0, 0])) <= 2  # millimetres
    # every corner of the box projects inside the image, onto or next to the silhouette
    corners = torch.tensor(verts @ to_world[:3, :3].T + to_world[:3, 3], dtype=torch.float32)
    uvs, _ = cams.project(corners)
    assert bool(((uvs > 0) & (uvs < 64)).all())
    normal = np.asarray(Image.open(folder / "normals/000.png"))
    assert tuple(normal[32, 32]) == (128, 128, 0, 255)  # world normal (0, 0, -1): towards the azimuth-0 camera
    parts = np.asarray(Image.open(folder / "parts/000.png"))
    assert parts[rows[0] + 8, 32] == 1 and parts[rows[-1] - 8, 32] == 6 and parts[0, 0] == 0  # head, legs, empty


def test_render_without_body_says_so(tmp_path):
    verts, faces, _ = _box()
    trimesh.Trimesh(verts, faces, process=False).export(tmp_path / "plain.ply")
    scan = load_scan(tmp_path / "plain.ply", body=None)
    meta = render_scan(scan, tmp_path / "out", RenderSettings(size=16, views=0, depth_format="npy", supersample=1))
    assert meta["parts"] is None and "no body" in meta["parts_note"] and not (tmp_path / "out" / "parts").exists()
    depth = np.load(tmp_path / "out" / meta["frames"][0]["depth"])
    assert depth.dtype == np.float32 and 0.5 < depth[8, 8] < 5.0  # metres


def test_render_cli_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "absent"), "-o", str(tmp_path / "out")])
    assert exc.value.code == 2 and "absent" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--fov", "0"])
    assert exc.value.code == 2
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "humansplat.data.render_scans", "--help"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0 and "humansplat-render-scans" in run.stdout and "--views" in run.stdout


def test_folder_dataset_reads_the_renders(rendered):
    from humansplat.train.data import FolderDataset

    _, out, _, _ = rendered
    data = FolderDataset(out, supersample=1)
    assert len(data) == 1
    s = data[0]
    assert s.images.shape == (5, 64, 64, 3) and s.masks.shape == (5, 64, 64)
    torch.testing.assert_close(s.cameras.viewmats[0], torch.eye(4), atol=1e-5, rtol=0)  # world = the input camera
    assert s.context.tolist() == [0, 1, 2, 3, 4]  # orbit frames at 0/90/180/270, not the input frame again
    assert float(s.images[0, 0, 0].min()) == 1.0 and float(s.masks[0, 32, 32]) == 1.0
    # the body, in the input camera's frame, projects onto the person's mask; its parts are head and legs
    uv, z = s.cameras[0].project(s.vertices)
    px = uv[0].long().clamp(0, 63)
    assert bool((z > 0).all()) and float(s.masks[0][px[:, 1], px[:, 0]].min()) > 0.5
    assert set(s.parts.tolist()) == {0, 5} and float(s.part_masks[:, 0].sum()) > 0


def test_folder_dataset_one_sample_per_input_frame(rendered, tmp_path):
    import shutil

    from humansplat.train.data import FolderDataset

    _, out, _, _ = rendered
    folder = shutil.copytree(out / "0001", tmp_path / "data" / "0001")
    meta = json.loads((folder / "cameras.json").read_text())
    meta["inputs"] = [0, 2]  # the orbit frame at azimuth 90 also plays the photo
    (folder / "cameras.json").write_text(json.dumps(meta))
    data = FolderDataset(tmp_path / "data")
    assert len(data) == 2 and "1 subjects, 2 samples" in data.describe()
    s = data[1]  # frames: old 2 (az 90), old 0 (input), old 1 (az 0), old 3 (az 180), old 4 (az 270)
    torch.testing.assert_close(s.azimuths_deg, torch.tensor([0.0, -90.0, -90.0, 90.0, 180.0]))
    assert s.context.tolist() == [0, 0, 3, 4, 2]  # relative 0/90/180/270 among orbit frames (old 0 is an input)
    torch.testing.assert_close(s.cameras.viewmats[0], torch.eye(4), atol=1e-5, rtol=0)
    with pytest.raises(IndexError):
        data[2]
    (folder / "body.npz").unlink()
    with pytest.raises(ValueError, match="no body.npz"):
        FolderDataset(tmp_path / "data")[0]
