"""Render textured scans into the multi-view dataset layout (``humansplat-render-scans SCANS -o OUT``).

Per subject (:func:`humansplat.data.scans.find_scans`), ``OUT/<subject>/`` gets (details and the
exact formats: ``docs/data.md``):

* ``images/000.png ...``   RGBA 8-bit, straight (not premultiplied) colour; the background colour
  where alpha is 0;
* ``depth/000.png ...``    camera depth z in **millimetres**, 16-bit PNG (0 = empty), or ``.npy``
  float32 metres (0 = empty) with ``--depth npy``;
* ``normals/000.png ...``  world-frame unit normals (turned towards the camera) as RGBA 8-bit
  ``(n + 1) / 2 * 255``, alpha = coverage;
* ``parts/000.png ...``    8-bit labels, 0 = background, ``k + 1`` = ``PART_NAMES[k]``; only when a
  body fitted to the scan lies beside it (``body.npz``, see :mod:`humansplat.data.scans`); each
  scan vertex takes the part of the nearest body vertex;
* ``body.npz``             that body in the render world (vertices, faces, parts), when there is one;
* ``cameras.json``         every camera in :mod:`humansplat.cameras`' convention and what was done.

Render world (the frame of every ``viewmat``, normal and ``body.npz``): the scan frame turned 180 deg
about x, i.e. ``(x, y, z)_world = (x, -y, -z)_scan``: metres, OpenCV-like axes as the project's
world (up = -y), the person faces -z (towards the azimuth-0 camera), x is the person's left, origin on
the floor under the scan's centre. :meth:`~humansplat.cameras.Cameras.orbit` then has its usual
meaning: azimuth 0 sees the front, 90 the person's left side, 180 the back.

Frames: the input view(s) first (``--input-azimuths``), then the orbit (``--views`` every
360 / views deg at ``--elevation``), all looking at the scan's bounding-box centre from one distance:
the one at which the person's larger image extent (its height, standing) is ``--fill`` of the image
side in the view that sees it largest (a little less in the others).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (see humansplat.cli)

import numpy as np
import torch

from ..cameras import Cameras
from ..geometry import OPENCV_TO_GLTF
from ..render.mesh import TexturedMesh
from .scans import MESH_SUFFIXES, Scan, ScanError, find_scans, load_scan

__all__ = [
    "SCAN_TO_WORLD",
    "RenderSettings",
    "ScanViews",
    "build_parser",
    "main",
    "render_scan",
    "scan_cameras",
    "scan_world_mesh",
]

SCAN_TO_WORLD = np.block([[OPENCV_TO_GLTF, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]])
"""(4, 4) scan frame (+Y up, facing +Z) -> render world (up = -y, facing -z): 180 deg about x."""

FORMAT = "humansplat-scan-renders/1"


@dataclass
class RenderSettings:
    """How each scan is rendered (the CLI's options; defaults as the paper's data).

    Attributes:
        size: S, square images of S x S pixels.
        fov_deg: vertical field of view of every camera, degrees.
        fill: share of the image side the person's larger extent fills, in the view where it is largest.
        input_azimuths: azimuths (degrees) of the input views, rendered first.
        input_elevation: elevation (degrees) of the input views (> 0 looks down).
        views: orbit views, evenly spaced over 360 deg from azimuth 0 (0 = none).
        elevation: elevation (degrees) of the orbit.
        background: RGB in [0, 1] where alpha is 0 (the images' colour there).
        supersample: samples per pixel side (antialiased edges).
        depth_format: "png" (16-bit, millimetres) or "npy" (float32, metres).
    """

    size: int = 512
    fov_deg: float = 45.0
    fill: float = 0.85
    input_azimuths: tuple[float, ...] = (0.0,)
    input_elevation: float = 0.0
    views: int = 36
    elevation: float = 0.0
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    supersample: int = 2
    depth_format: Literal["png", "npy"] = "png"

    def __post_init__(self) -> None:
        if int(self.size) < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size}")
        if not 1.0 <= float(self.fov_deg) <= 150.0:
            raise ValueError(f"fov_deg must be in [1, 150] degrees, got {self.fov_deg}")
        if not 0.05 <= float(self.fill) <= 1.5:
            raise ValueError(f"fill must be in [0.05, 1.5], got {self.fill}")
        if int(self.views) < 0 or (int(self.views) == 0 and not self.input_azimuths):
            raise ValueError(f"need at least one view: views = {self.views}, input_azimuths = {self.input_azimuths}")
        if int(self.supersample) < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")
        if self.depth_format not in ("png", "npy"):
            raise ValueError(f"depth_format must be 'png' or 'npy', got {self.depth_format!r}")
        self.input_azimuths = tuple(float(a) for a in self.input_azimuths)
        self.background = tuple(float(c) for c in np.broadcast_to(np.asarray(self.background, dtype=float), 3))


@dataclass
class ScanViews:
    """The cameras of one scan (render world, module docstring) and how each was placed.

    Attributes:
        cameras: C = len(input_azimuths) + views cameras, the input views first.
        kinds: (C,) "input" or "orbit".
        azimuths_deg: (C,) orbit azimuth of each camera, degrees.
        elevations_deg: (C,) elevation of each camera, degrees (> 0 looks down).
        center: (3,) the point every camera looks at (the scan's bounding-box centre), world metres.
        radius: the cameras' distance from ``center``, metres.
    """

    cameras: Cameras
    kinds: list[str]
    azimuths_deg: list[float]
    elevations_deg: list[float]
    center: tuple[float, float, float]
    radius: float


def scan_cameras(scan: Scan, settings: RenderSettings) -> ScanViews:
    """The cameras of one scan in the render world (module docstring), built by :meth:`Cameras.orbit`.

    All cameras look at the scan's bounding-box centre from one distance: the one at which the
    person's larger image extent (its height, for a standing person) is ``settings.fill`` of the
    image side in the view where it is largest (found by bisection on the convex hull's vertices,
    whose projections hold every extreme of the silhouette).
    """
    from scipy.spatial import ConvexHull, QhullError

    verts = scan.mesh.vertices.double().numpy() @ SCAN_TO_WORLD[:3, :3].T
    lo, hi = verts.min(0), verts.max(0)
    centre = (lo + hi) / 2
    try:
        points = verts[ConvexHull(verts).vertices]
    except (QhullError, ValueError):  # flat or degenerate meshes: every vertex
        points = verts
    points_t = torch.from_numpy(points).float()
    n_in = len(settings.input_azimuths)
    azimuths = list(settings.input_azimuths) + [360.0 * k / settings.views for k in range(settings.views)]
    elevations = [settings.input_elevation] * n_in + [settings.elevation] * settings.views
    S = settings.size

    def orbit(radius: float) -> Cameras:
        return Cameras.orbit(centre, radius, azimuths, elevations, settings.fov_deg, S, S)

    def extent(radius: float) -> float:
        uv, _ = orbit(radius).project(points_t)  # (C, N, 2) pixels
        return float((uv.amax(1) - uv.amin(1)).max()) / S

    near = float(np.linalg.norm(points - centre, axis=1).max()) + 0.05  # every point in front of every camera
    if len(points_t) > 256:  # keep the points near an edge of some view (the extremes move little with the radius)
        uv, _ = orbit(2.0 * near).project(points_t)
        k = 32
        edges = torch.cat([uv.topk(k, dim=1).indices, (-uv).topk(k, dim=1).indices], dim=1)  # (C, 2k, 2)
        points_t = points_t[torch.unique(edges)]
    low, high = near, 2.0 * near
    while extent(high) > settings.fill:
        low, high = high, 2.0 * high
    if extent(low) > settings.fill:
        for _ in range(40):  # extent falls as the radius grows
            mid = 0.5 * (low + high)
            low, high = (mid, high) if extent(mid) > settings.fill else (low, mid)
    radius = high if extent(low) > settings.fill else low
    kinds = ["input"] * n_in + ["orbit"] * settings.views
    center = (float(centre[0]), float(centre[1]), float(centre[2]))
    return ScanViews(orbit(radius), kinds, azimuths, elevations, center, radius)


def scan_world_mesh(scan: Scan) -> tuple[TexturedMesh, torch.Tensor | None]:
    """The scan's mesh in the render world, and the body's (M, 3) vertices there (or None).

    With a body, each scan vertex takes the part label (``TexturedMesh.parts``) of the nearest body vertex.
    """
    from dataclasses import replace

    from scipy.spatial import cKDTree

    R = torch.from_numpy(SCAN_TO_WORLD[:3, :3]).float()
    mesh = replace(scan.mesh, vertices=scan.mesh.vertices @ R.T)
    if scan.body is None:
        return mesh, None
    body_verts = scan.body.vertices @ R.T
    _, nearest = cKDTree(body_verts.numpy()).query(mesh.vertices.numpy())
    mesh = replace(mesh, parts=scan.body.parts[torch.from_numpy(np.asarray(nearest, dtype=np.int64))])
    return mesh, body_verts


def _png(array: np.ndarray, path: Path) -> str:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return f"{path.parent.name}/{path.name}"


def render_scan(
    scan: Scan,
    out_dir: str | Path,
    settings: RenderSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Render ``scan`` into ``out_dir`` (module docstring) and return what ``cameras.json`` holds.

    Args:
        scan: a loaded scan (:func:`~humansplat.data.scans.load_scan`).
        out_dir: the subject's folder (created).
        settings: views, size, field of view, ... (default :class:`RenderSettings`).
        progress: called with 1 after each view.
    """
    from ..parts import PART_NAMES
    from ..render.mesh import render_mesh

    settings = settings or RenderSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    views = scan_cameras(scan, settings)
    cams = views.cameras
    frames: list[dict[str, Any]] = [
        {"kind": k, "azimuth_deg": a, "elevation_deg": e}
        for k, a, e in zip(views.kinds, views.azimuths_deg, views.elevations_deg)
    ]
    mesh, body_verts = scan_world_mesh(scan)
    bg = np.asarray(settings.background, dtype=np.float32)
    for i, frame in enumerate(frames):
        r = render_mesh(mesh, cams[i], supersample=settings.supersample, background=0.0)
        alpha = r.alpha[0].numpy()
        covered = alpha > 0
        # background 0: rgb is premultiplied; straight colour = rgb / alpha, the background elsewhere
        rgb = np.where(covered[..., None], r.rgb[0].numpy() / np.maximum(alpha, 1e-6)[..., None], bg)
        rgba = np.concatenate([rgb, alpha[..., None]], -1)
        name = f"{i:03d}"
        frame["image"] = _png((rgba.clip(0, 1) * 255 + 0.5).astype(np.uint8), out / "images" / f"{name}.png")
        depth = np.where(covered, r.depth[0].numpy(), 0.0).astype(np.float32)
        if settings.depth_format == "png":
            mm = np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)
            frame["depth"] = _png(mm, out / "depth" / f"{name}.png")
        else:
            (out / "depth").mkdir(exist_ok=True)
            np.save(out / "depth" / f"{name}.npy", depth)
            frame["depth"] = f"depth/{name}.npy"
        normal = np.concatenate([(r.normal[0].numpy() + 1.0) / 2.0, alpha[..., None]], -1)
        frame["normal"] = _png((normal.clip(0, 1) * 255 + 0.5).astype(np.uint8), out / "normals" / f"{name}.png")
        if r.parts is not None:
            soft = r.parts[0].numpy()  # (P, H, W)
            labels = np.where(alpha >= 0.5, soft.argmax(0) + 1, 0).astype(np.uint8)
            frame["parts"] = _png(labels, out / "parts" / f"{name}.png")
        frame["K"] = cams.Ks[i].tolist()
        frame["viewmat"] = cams.viewmats[i].tolist()
        if progress is not None:
            progress(1)

    to_world = SCAN_TO_WORLD @ scan.to_scan
    meta: dict[str, Any] = {
        "format": FORMAT,
        "subject": scan.name,
        "width": settings.size,
        "height": settings.size,
        "world": "render world = scan frame turned 180 deg about x: metres, up = -y, the person faces -z "
        "(towards the azimuth-0 camera), +x = the person's left, origin on the floor under the scan's centre",
        "input": 0,
        "inputs": [i for i, f in enumerate(frames) if f["kind"] == "input"],
        "orbit": {"center": list(views.center), "radius": views.radius, "fov_y_deg": settings.fov_deg},
        "background": list(settings.background),
        "depth": {"format": settings.depth_format, "units": "mm" if settings.depth_format == "png" else "m",
                  "value": "camera z (not ray length)", "empty": 0},
        "normals": {"frame": "world", "encoding": "rgb = (n + 1) / 2 * 255, alpha = coverage"},
        "frames": frames,
        "scan": {
            "path": str(scan.path), "units": scan.units, "up": scan.up, "facing": scan.facing,
            "height_m": scan.height_m, "colours": scan.color_source, "vertices": int(len(scan.mesh.vertices)),
            "faces": int(len(scan.mesh.faces)), "file_to_world": to_world.tolist(), "notes": list(scan.notes),
        },
        "settings": asdict(settings),
    }  # fmt: skip
    if scan.body is not None and body_verts is not None:
        body = scan.body
        np.savez(out / "body.npz", vertices=body_verts.numpy(), faces=body.faces.numpy(), parts=body.parts.numpy())
        meta["body"] = "body.npz"
        meta["parts"] = {
            "names": list(PART_NAMES),
            "encoding": "label = k + 1 for names[k], 0 = background (alpha < 0.5)",
            "source": f"nearest vertex of the body {scan.body.path.name} fitted to the scan",
        }
    else:
        meta["body"] = None
        meta["parts"] = None
        meta["parts_note"] = "no body.npz beside the scan: no part masks (see docs/data.md to add one)"
    (out / "cameras.json").write_text(json.dumps(meta, indent=1))
    return meta


# ---------------------------------------------------------------------------------------------- CLI
def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _background(text: str) -> tuple[float, float, float]:
    named = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5), "gray": (0.5, 0.5, 0.5)}
    if text in named:
        return named[text]
    values = _floats(text)
    if len(values) not in (1, 3) or not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"background: white, black, grey, a level or r,g,b in [0, 1], got {text!r}")
    return tuple(values * 3 if len(values) == 1 else values)  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="humansplat-render-scans",
        description="Render textured human scans (THuman2.0, 2K2K, CustomHumans, RenderPeople, glTF...) into "
        "HumanSplat's multi-view dataset layout (docs/data.md).",
    )
    p.add_argument(
        "scans", nargs="+", metavar="SCANS", help="a folder of subjects (one sub-folder or file each) or mesh files"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="dataset folder (one sub-folder per subject)")
    p.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    p.add_argument("--fov", type=float, default=45.0, help="vertical field of view in degrees (default 45)")
    p.add_argument("--fill", type=float, default=0.85, help="share of the image height the person fills (default 0.85)")
    p.add_argument("--views", type=int, default=36, help="orbit views, evenly spaced from azimuth 0 (default 36)")
    p.add_argument("--elevation", type=float, default=0.0, help="orbit elevation in degrees (default 0)")
    p.add_argument(
        "--input-azimuths", type=_floats, default=(0.0,), help="input view azimuths, comma-separated (default 0)"
    )
    p.add_argument("--input-elevation", type=float, default=0.0, help="input view elevation in degrees (default 0)")
    p.add_argument(
        "--background", type=_background, default=(1.0, 1.0, 1.0), help="white (default), black, grey or r,g,b"
    )
    p.add_argument("--supersample", type=int, default=2, help="samples per pixel side (default 2)")
    p.add_argument(
        "--depth", choices=("png", "npy"), default="png", help="png: 16-bit millimetres (default); npy: float32 metres"
    )
    p.add_argument("--units", default="auto", help="auto (from the height), m, cm, mm, or metres per file unit")
    p.add_argument("--up", default="auto", help="the files' up axis: auto (longer of y/z), y, z, -y, -z, x, -x")
    p.add_argument("--facing", default=None, help="the files' axis the person faces (default: +z; -y for z-up files)")
    p.add_argument("--skip-existing", action="store_true", help="skip subjects whose cameras.json exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point. Exit code: 0 all rendered (or skipped as existing), 1 some failed, 2 usage error."""
    from tqdm import tqdm

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = RenderSettings(
            size=args.size, fov_deg=args.fov, fill=args.fill, input_azimuths=args.input_azimuths,
            input_elevation=args.input_elevation, views=args.views, elevation=args.elevation,
            background=args.background, supersample=args.supersample, depth_format=args.depth,
        )  # fmt: skip
        units: str | float = args.units if args.units in ("auto", "m", "cm", "mm") else float(args.units)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2
    entries = []
    try:
        for source in args.scans:
            entries += find_scans(source)
    except ScanError as exc:
        parser.error(str(exc))
    if not entries:
        parser.error(f"no scans ({', '.join(MESH_SUFFIXES)}) under {', '.join(args.scans)}")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        parser.error(f"several scans share the subject names {dupes}; render them into separate output folders")

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    per_subject = len(settings.input_azimuths) + settings.views
    bar = tqdm(total=len(entries) * per_subject, unit="view", disable=args.quiet, dynamic_ncols=True)
    ok = failed = skipped = 0
    summary: list[dict[str, Any]] = []
    for entry in entries:
        folder = out / entry.name
        bar.set_description(entry.name)
        if args.skip_existing and (folder / "cameras.json").is_file():
            skipped += 1
            summary.append({"subject": entry.name, "scan": str(entry.path), "status": "exists"})
            bar.update(per_subject)
            continue
        start, done = time.perf_counter(), bar.n
        try:
            scan = load_scan(entry.path, units=units, up=args.up, facing=args.facing, name=entry.name)
            meta = render_scan(scan, folder, settings, progress=bar.update)
            ok += 1
            summary.append({"subject": entry.name, "scan": str(entry.path), "status": "ok", "output": str(folder),
                            "seconds": round(time.perf_counter() - start, 3), "parts": meta["parts"] is not None,
                            "notes": scan.notes})  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one bad scan must not stop the batch
            failed += 1
            summary.append({"subject": entry.name, "scan": str(entry.path), "status": "failed",
                            "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
            bar.write(f"humansplat-render-scans: {entry.path}: failed: {exc}", file=sys.stderr)
            bar.update(per_subject - (bar.n - done))
    bar.close()
    totals = {"ok": ok, "failed": failed, "skipped": skipped, "subjects": summary}
    (out / "summary.json").write_text(json.dumps(totals, indent=1))
    print(
        f"humansplat-render-scans: {ok} rendered, {failed} failed, {skipped} already there "
        f"({per_subject} views of {settings.size} px each) -> {out}",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
