"""Textured human scans (THuman2.0/2.1, 2K2K, CustomHumans, RenderPeople, Twindom, glTF) as one
:class:`~humansplat.render.mesh.TexturedMesh` in one canonical frame.

Scan frame (every :class:`Scan` is in it)
-----------------------------------------
* **metres**; **+Y up**; the person **faces +Z**; right-handed, so +X is the person's **left**
  (SMPL's canonical frame);
* with ``center=True`` (default): **feet at y = 0** (the lowest vertex) and the bounding box
  **centred on x and z**.

The file's frame is mapped there by ``Scan.to_scan`` (4x4): ``x_scan = s * R @ x_file + t`` with
``s`` the unit scale, ``R`` the rotation taking the file's up axis to +Y and the file's facing axis
to +Z, and ``t`` the centring shift.

* **Units** (``units="auto"``): from the height along the up axis; a person is 0.5-2.5 m tall, so a
  height in [0.5, 2.5] means metres, [50, 250] centimetres, [500, 2500] millimetres. Anything else
  is an error asking for ``units=``.
* **Up** (``up="auto"``): the longer of the y and z extents, positive direction (+y or +z); pass
  ``up="-y"`` etc. for files stored upside down, or ``"x"``.
* **Facing** (override only): by default +z for y-up (or x-up) files and -y for z-up files
  (Blender's front view; glTF exporters map it to +z), +y for -z-up files.

Formats: ``.obj`` (+ ``.mtl`` whose ``map_Kd`` names the texture, or ``v x y z r g b`` vertex
colours), ``.ply`` (vertex or face colours, or a texture named in the header), ``.glb`` / ``.gltf``
(embedded or external base-colour texture times ``baseColorFactor``, or ``COLOR_0``), ``.off``,
``.stl`` (grey). Parsing is trimesh's; its ``visual.uv`` is already in OBJ's convention (v up; it
flips glTF's v on load), which is :mod:`humansplat.render.mesh`'s. trimesh splits vertices at UV seams
(so ``TexturedMesh.face_uvs`` stays None and the UVs are per vertex). Several textured parts of one
file are packed into one texture atlas by trimesh when they are concatenated.

A body fitted to the scan, when one lies beside it (``body.npz`` in the subject folder, or
``<stem>.body.npz`` beside a loose file), is read into ``Scan.body`` in the scan frame: ``vertices``
(M, 3) in the **file's frame and units** (the scan's transform is applied here), ``faces`` (F, 3),
``parts`` (M,) labels into :data:`humansplat.parts.PART_NAMES`. It gives the part masks of
:mod:`humansplat.data.render_scans` and the body of :class:`humansplat.train.data.FolderDataset`.

A missing texture is not an error: the scan falls back to vertex colours, else grey, and
``Scan.notes`` says so. An unknown extension, an unreadable file, a file with no triangles or a
size that is not a person's raise :class:`ScanError` naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..render.mesh import TexturedMesh

__all__ = [
    "MESH_SUFFIXES",
    "Scan",
    "ScanBody",
    "ScanEntry",
    "ScanError",
    "find_body",
    "find_scans",
    "load_scan",
    "scan_rotation",
]

MESH_SUFFIXES: tuple[str, ...] = (".obj", ".ply", ".glb", ".gltf", ".off", ".stl")
"""File endings read as scans."""

UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001}
"""Metres per file unit."""

PERSON_HEIGHT_M: tuple[float, float] = (0.5, 2.5)
"""Heights (metres) accepted as a person's, for unit detection and checks."""

_AXES: dict[str, tuple[float, float, float]] = {
    "x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0),
    "-x": (-1.0, 0.0, 0.0), "-y": (0.0, -1.0, 0.0), "-z": (0.0, 0.0, -1.0),
}  # fmt: skip
_DEFAULT_FACING: dict[str, str] = {"x": "z", "-x": "z", "y": "z", "-y": "z", "z": "-y", "-z": "y"}


class ScanError(ValueError):
    """A scan file cannot be used; the message names the file and what was expected."""


@dataclass
class ScanBody:
    """A body fitted to a scan, in the scan frame.

    Attributes:
        vertices: (M, 3) float32, metres, scan frame.
        faces: (F, 3) int64.
        parts: (M,) int64 labels into :data:`humansplat.parts.PART_NAMES`.
        path: the file it came from.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    parts: torch.Tensor
    path: Path


@dataclass
class Scan:
    """One scanned person in the scan frame (module docstring).

    Attributes:
        mesh: the textured mesh; vertices (V, 3) float32, metres, scan frame.
        name: the subject's name (its folder, or the file's stem for loose files).
        path: the mesh file.
        to_scan: (4, 4) float64, file frame (file units) -> scan frame (metres), ``s * R`` and ``t``.
        units: the file's units ("m", "cm", "mm", or "x<scale>" for an explicit scale).
        up: the file's axis that became +Y ("+y", "+z", "-y", ...).
        facing: the file's axis that became +Z ("+z", "-y", ...).
        height_m: extent along +Y in metres.
        body: a fitted body, or None.
        notes: things a person should know (fallback colours, detected units).
    """

    mesh: TexturedMesh
    name: str
    path: Path
    to_scan: np.ndarray
    units: str
    up: str
    facing: str
    height_m: float
    body: ScanBody | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def color_source(self) -> str:
        """"texture", "vertex colours" or "grey"."""
        if self.mesh.has_texture:
            return "texture"
        return "vertex colours" if self.mesh.vertex_colors is not None else "grey"


@dataclass
class ScanEntry:
    """A subject found by :func:`find_scans`: its name and mesh file."""

    name: str
    path: Path


# ---------------------------------------------------------------------------------------------- frames
def scan_rotation(up: str, facing: str | None = None) -> np.ndarray:
    """(3, 3) rotation taking the file's ``up`` axis to +Y and its ``facing`` axis to +Z.

    Args:
        up: one of "x", "y", "z", "-x", "-y", "-z" (a leading "+" is allowed).
        facing: an axis orthogonal to ``up``; default: module docstring.
    """
    u_name = _axis_name(up, "up")
    f_name = _DEFAULT_FACING[u_name] if facing is None else _axis_name(facing, "facing")
    u, f = np.array(_AXES[u_name]), np.array(_AXES[f_name])
    if abs(float(u @ f)) > 0.5:
        raise ValueError(f"facing {facing!r} must be orthogonal to up {up!r}; choose one of the other four axes")
    return np.stack([np.cross(u, f), u, f])  # rows: the file axes that become +X, +Y, +Z


def _axis_name(axis: str, what: str) -> str:
    name = str(axis).strip().lower().lstrip("+")
    if name not in _AXES:
        raise ValueError(f"{what} must be one of x, y, z, -x, -y, -z, got {axis!r}")
    return name


def _signed(name: str) -> str:
    """"y" -> "+y", "-z" -> "-z"."""
    return name if name.startswith("-") else "+" + name


def _detect_scale(height: float, path: Path) -> tuple[float, str]:
    lo, hi = PERSON_HEIGHT_M
    for unit, scale in UNIT_SCALES.items():
        if lo <= height * scale <= hi:
            return scale, unit
    raise ScanError(
        f"{path}: the scan is {height:g} file units tall along its up axis, which is not a person's height "
        f"({lo}-{hi} m) in metres, centimetres or millimetres; pass units= ('m', 'cm', 'mm' or metres per unit) "
        "or check the up axis (up=)"
    )


# ---------------------------------------------------------------------------------------------- reading
def _load_trimesh(path: Path):
    """The file's triangles as one ``trimesh.Trimesh`` (scene transforms applied)."""
    import trimesh

    log = logging.getLogger("trimesh")
    level = log.level
    log.setLevel(logging.ERROR)  # trimesh warns about missing textures; we report them in Scan.notes
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:  # trimesh raises many types for broken files
        raise ScanError(f"{path}: cannot be read as a {path.suffix} mesh ({type(exc).__name__}: {exc})") from exc
    finally:
        log.setLevel(level)
    if isinstance(loaded, trimesh.Scene):
        meshes = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not meshes:
            raise ScanError(f"{path}: holds no triangle mesh (a point cloud, an empty scene or not a mesh file)")
        loaded = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0 or len(loaded.vertices) < 3:
        raise ScanError(f"{path}: holds no triangles; expected a triangle mesh of a person")
    return loaded


def _rgb(image) -> np.ndarray:
    """PIL image -> (Ht, Wt, 3) float32 in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _colours(mesh, path: Path, notes: list[str]) -> dict:
    """TexturedMesh colour fields (``uvs``, ``texture``, ``vertex_colors``) of a trimesh mesh.

    Face colours are returned as ``"face_colors"`` (F, 3) for the caller to unmerge.
    """
    visual = mesh.visual
    kind = getattr(visual, "kind", None)
    V = len(mesh.vertices)
    if kind == "texture":
        material = getattr(visual, "material", None)
        image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        factor = getattr(material, "baseColorFactor", None)
        factor = None if factor is None else np.asarray(factor, dtype=np.float32)[:3] / 255.0
        if image is not None and visual.uv is not None and len(visual.uv) == V:
            tex = _rgb(image)
            if factor is not None and not np.allclose(factor, 1.0):
                tex = tex * factor  # glTF: base colour = factor x texture
            return {"uvs": np.asarray(visual.uv, dtype=np.float32), "texture": tex}
        main = getattr(material, "main_color", None)
        if visual.uv is None and main is not None:  # no texture coordinates: a plain material colour
            notes.append(f"{path.name}: no texture; coloured with its material's colour")
            return {"vertex_colors": np.tile(np.asarray(main, dtype=np.float32)[:3] / 255.0, (V, 1))}
        what = _missing_texture(path) or "its texture image (map_Kd / baseColorTexture) is missing or unreadable"
        attrs = getattr(mesh, "vertex_attributes", {}) or {}
        color = attrs.get("color") if hasattr(attrs, "get") else None
        if color is not None and len(color) == V:
            notes.append(f"{path.name}: {what}; using its vertex colours")
            col = np.asarray(color, dtype=np.float32)[:, :3]
            return {"vertex_colors": col / 255.0 if col.max() > 1.0 else col}
        notes.append(f"{path.name}: {what}; rendered grey")
        return {}
    if kind == "vertex":
        return {"vertex_colors": np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0}
    if kind == "face":
        return {"face_colors": np.asarray(visual.face_colors, dtype=np.float32)[:, :3] / 255.0}
    notes.append(f"{path.name}: has no texture or colours; rendered grey")
    return {}


def _missing_texture(path: Path, head_lines: int = 200) -> str | None:
    """For an OBJ: which ``map_Kd`` texture named in its MTL file(s) is not on disk (for notes)."""
    if path.suffix.lower() != ".obj":
        return None
    with open(path, errors="replace") as fh:  # mtllib comes first in the files people have
        head = [line for _, line in zip(range(head_lines), fh)]
    libs = [line.split(maxsplit=1)[1].strip() for line in head if line.startswith("mtllib ")]
    for lib in libs:
        mtl = path.parent / lib
        if not mtl.is_file():
            return f"its material file {lib} is not there"
        for line in mtl.read_text(errors="replace").splitlines():
            if line.strip().startswith("map_Kd") and len(line.split()) > 1:
                name = line.split()[-1]
                if not (mtl.parent / name).is_file():
                    return f"the texture {name} named in {lib} (map_Kd) is not there"
    return None


def find_body(mesh_path: str | Path) -> Path | None:
    """The body file beside a scan: ``<stem>.body.npz``, else ``body.npz`` in its folder, else None."""
    mesh_path = Path(mesh_path)
    for candidate in (mesh_path.with_name(mesh_path.stem + ".body.npz"), mesh_path.parent / "body.npz"):
        if candidate.is_file():
            return candidate
    return None


def _read_body(path: Path, to_scan: np.ndarray) -> ScanBody:
    from ..parts import PART_NAMES

    try:
        data = np.load(path)
        verts, faces, parts = (np.asarray(data[k]) for k in ("vertices", "faces", "parts"))
    except (OSError, ValueError, KeyError) as exc:
        raise ScanError(f"{path}: expected an .npz with vertices (M, 3), faces (F, 3), parts (M,) ({exc})") from exc
    if verts.ndim != 2 or verts.shape[1] != 3 or parts.shape != (len(verts),) or faces.ndim != 2 or faces.shape[1] != 3:
        raise ScanError(
            f"{path}: expected vertices (M, 3), faces (F, 3), parts (M,), "
            f"got {verts.shape}, {faces.shape}, {parts.shape}"
        )
    if len(parts) and (parts.min() < 0 or parts.max() >= len(PART_NAMES)):
        raise ScanError(
            f"{path}: part labels must lie in [0, {len(PART_NAMES)}) (PART_NAMES), got [{parts.min()}, {parts.max()}]"
        )
    v = verts.astype(np.float64) @ to_scan[:3, :3].T + to_scan[:3, 3]
    return ScanBody(
        vertices=torch.from_numpy(v.astype(np.float32)),
        faces=torch.from_numpy(faces.astype(np.int64)),
        parts=torch.from_numpy(parts.astype(np.int64)),
        path=path,
    )


def load_scan(
    path: str | Path,
    *,
    units: str | float = "auto",
    up: str = "auto",
    facing: str | None = None,
    center: bool = True,
    body: str | Path | None = "auto",
    name: str | None = None,
) -> Scan:
    """Read a textured scan into the scan frame (metres, +Y up, facing +Z; module docstring).

    Args:
        path: the mesh file (``MESH_SUFFIXES``) or a subject folder (its mesh as in :func:`find_scans`).
        units: "auto", "m", "cm", "mm", or metres per file unit (a number).
        up: "auto" (the longer of +y / +z) or an axis "x", "y", "z", "-x", "-y", "-z".
        facing: the file's axis the person faces (default: module docstring).
        center: put the feet at y = 0 and the bounding box's centre at x = z = 0.
        body: "auto" (:func:`find_body`), a ``body.npz`` path, or None for no body.
        name: the subject's name (default: the folder for ``<name>/<name>.obj``-style layouts, else the stem).

    Raises:
        ScanError: unknown extension, unreadable file, no triangles, or not a person's size.
    """
    path = Path(path)
    if path.is_dir():
        mesh_path = _subject_mesh(path)
        if mesh_path is None:
            raise ScanError(f"{path}: no mesh file ({', '.join(MESH_SUFFIXES)}) in this subject folder")
        return load_scan(mesh_path, units=units, up=up, facing=facing, center=center, body=body, name=name or path.name)
    if not path.is_file():
        raise ScanError(f"{path}: no such file")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ScanError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(MESH_SUFFIXES)}"
        )
    notes: list[str] = []
    tm = _load_trimesh(path)
    colours = _colours(tm, path, notes)
    verts = np.asarray(tm.vertices, dtype=np.float64)
    faces = np.asarray(tm.faces, dtype=np.int64)
    if "face_colors" in colours:  # one colour per face: give every face its own three vertices
        face_colors = colours.pop("face_colors")
        verts, faces = verts[faces].reshape(-1, 3), np.arange(3 * len(faces)).reshape(-1, 3)
        colours["vertex_colors"] = np.repeat(face_colors, 3, axis=0)
    if not np.isfinite(verts).all():
        raise ScanError(f"{path}: has non-finite vertex coordinates")

    extent = verts.max(0) - verts.min(0)
    if up == "auto":
        up_name = "y" if extent[1] >= extent[2] else "z"
        notes.append(f"{path.name}: up axis detected as +{up_name} (longest of the y/z extents); pass up= to override")
    else:
        up_name = _axis_name(up, "up")
    R = scan_rotation(up_name, facing)
    height = float(np.abs(R[1]) @ extent)
    if units == "auto":
        scale, unit = _detect_scale(height, path)
        notes.append(f"{path.name}: units detected as {unit} (height {height:g} file units)")
    elif isinstance(units, str):
        if units not in UNIT_SCALES:
            raise ValueError(f"units must be 'auto', one of {sorted(UNIT_SCALES)} or metres per unit, got {units!r}")
        scale, unit = UNIT_SCALES[units], units
    else:
        scale, unit = float(units), f"x{float(units):g}"
        if not scale > 0:
            raise ValueError(f"units (metres per file unit) must be positive, got {units!r}")

    to_scan = np.eye(4)
    to_scan[:3, :3] = scale * R
    scanned = verts @ to_scan[:3, :3].T
    if center:
        lo, hi = scanned.min(0), scanned.max(0)
        to_scan[:3, 3] = [-(lo[0] + hi[0]) / 2, -lo[1], -(lo[2] + hi[2]) / 2]
        scanned = scanned + to_scan[:3, 3]
    height_m = float(scanned[:, 1].max() - scanned[:, 1].min())

    if name is None:
        name = path.parent.name if path.parent.name == path.stem else path.stem
    body_path = find_body(path) if body == "auto" else (Path(body) if body is not None else None)
    scan_body = _read_body(body_path, to_scan) if body_path is not None else None
    fields = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in colours.items()}
    mesh = TexturedMesh(torch.from_numpy(scanned.astype(np.float32)), torch.from_numpy(faces), name=str(path), **fields)
    facing_name = _DEFAULT_FACING[up_name] if facing is None else _axis_name(facing, "facing")
    return Scan(
        mesh=mesh, name=name, path=path, to_scan=to_scan, units=unit, up=_signed(up_name), facing=_signed(facing_name),
        height_m=height_m, body=scan_body, notes=notes,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- folders
def _mesh_files(folder: Path, depth: int = 2) -> list[Path]:
    """Mesh files in ``folder`` and up to ``depth - 1`` levels below (body files excluded)."""
    found = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in MESH_SUFFIXES]
    if not found and depth > 1:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found += _mesh_files(sub, depth - 1)
    return found


def _subject_mesh(folder: Path) -> Path | None:
    """The scan of a subject folder: the mesh file named like the folder, else the only one, else the largest."""
    meshes = _mesh_files(folder)
    if not meshes:
        return None
    named = [p for p in meshes if p.stem == folder.name]
    return named[0] if named else max(meshes, key=lambda p: (p.stat().st_size, str(p)))


def find_scans(folder: str | Path) -> list[ScanEntry]:
    """The subjects under ``folder``, sorted by name.

    * every sub-folder holding mesh files is one subject named after the folder (THuman2.0's
      ``0525/0525.obj``, CustomHumans', RenderPeople's ``rp_x_OBJ/rp_x.obj``; mesh files one level
      deeper count too). Its mesh is the file named like the folder, else the only one, else the
      largest file;
    * every mesh file directly in ``folder`` is one subject named after the file's stem;
    * a mesh file given as ``folder`` is one subject.

    Raises:
        ScanError: ``folder`` does not exist.
    """
    folder = Path(folder)
    if folder.is_file():
        return [ScanEntry(folder.stem, folder)]
    if not folder.is_dir():
        raise ScanError(f"{folder}: no such folder or file")
    loose = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in MESH_SUFFIXES]
    entries = [ScanEntry(p.stem, p) for p in loose]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        mesh = _subject_mesh(sub)
        if mesh is not None:
            entries.append(ScanEntry(sub.name, mesh))
    return sorted(entries, key=lambda e: e.name)
