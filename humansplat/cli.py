"""Command line: ``humansplat PHOTO [PHOTO ... | FOLDER ...] -o OUTDIR``.

For each photo, a folder ``OUTDIR/<photo name>/`` gets:

* ``gaussians.ply``  the avatar (3D Gaussian Splatting .ply, opens in standard splat viewers)
* ``turntable.mp4``  a 360 deg orbit (``--frames`` frames)
* ``views.png``      front | left | back | right views side by side
* ``mesh.glb``       a vertex-coloured mesh of the avatar (glTF viewers, Blender)
* ``body.json``      the fitted body (model, pose and shape parameters, joints, camera, fit errors)
* ``report.json``    mode, network weights that ran (none in prior mode), per-stage timings,
  input-view quality, Gaussian count, notes

A photo that cannot be used is reported and skipped; the batch goes on. ``OUTDIR/summary.json``
lists every input with its status. Exit code: 0 when at least one photo was reconstructed, 1 when
all failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning: 3-10x faster renders on small shared CPUs
# (docs/benchmarks.md). Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "build_parser", "collect_inputs", "main", "write_outputs"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""File endings taken from a folder (other files in it are reported as skipped)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="humansplat",
        description="Single-image human Gaussian Splatting: photo(s) of a person -> 3D Gaussian avatar.",
    )
    p.add_argument("inputs", nargs="+", metavar="PHOTO", help="photo files and/or folders of photos")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the results")
    p.add_argument(
        "--mode", choices=("auto", "prior", "full"), default="auto",
        help="prior: from the fitted body and the photo, no network weights; full: diffusion + "
             "reconstruction transformer (needs weights); auto (default): full when available, else prior",
    )
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: CUDA if available)")
    p.add_argument("--resolution", type=int, default=512, help="side of the views and turntable frames in pixels (default 512)")
    p.add_argument("--frames", type=int, default=36, help="turntable frames (default 36; 0 = no video)")
    p.add_argument("--fps", type=int, default=12, help="turntable frames per second (default 12)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network's sampling (full mode)")
    p.add_argument("--mesh-resolution", type=int, default=128, help="voxels along the avatar's longest side for mesh.glb")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from .animate.motions import MOTIONS

    p.add_argument(
        "--motion", default=None, choices=tuple(MOTIONS), metavar="NAME",
        help=f"also animate the avatar: animation_NAME.mp4, avatar_rigged.glb (every motion as a clip), "
        f"avatar_bound.ply + .rig.npz; NAME is one of {', '.join(MOTIONS)}",
    )
    return p


def collect_inputs(paths: Sequence[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand folders (their image files, sorted; not recursive).

    Returns:
        (photos to process, [(path, why it is skipped)] for missing paths and non-image files in folders).
    """
    photos: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(path.iterdir()):
                if f.name.startswith(".") or not f.is_file():
                    continue
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    photos.append(f)
                else:
                    skipped.append((f, f"not an image file (ending {f.suffix or 'none'!r}); skipped"))
        elif path.is_file():
            photos.append(path)
        else:
            skipped.append((path, "no such file or folder"))
    return photos, skipped


def _unique_dir(out: Path, stem: str, used: set[str]) -> Path:
    name = stem or "photo"
    k = 2
    while name in used:
        name = f"{stem}_{k}"
        k += 1
    used.add(name)
    return out / name


def _tolist(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return np.round(x.detach().cpu().double().numpy(), 6).tolist()
    if isinstance(x, np.ndarray):
        return np.round(x.astype(np.float64), 6).tolist()
    return x


def body_to_dict(fit: Any) -> dict[str, Any]:
    """The fitted body as plain JSON data (parameters, joints, camera, landmarks, errors; no mesh)."""
    cam = fit.camera
    lm = fit.crop.landmarks
    out: dict[str, Any] = {
        "backend": fit.backend,
        "frame": "input camera (OpenCV: x right, y down, z forward), metres",
        "pose": _tolist(fit.pose),
        "shape": {k: _tolist(v) for k, v in (fit.shape or {}).items()},
        "joints": _tolist(fit.joints),
        "vertex_count": int(fit.vertices.shape[0]),
        "face_count": int(fit.faces.shape[0]),
        "camera": {
            "width": cam.width,
            "height": cam.height,
            "K": _tolist(cam.Ks[0]),
            "world_to_camera": _tolist(cam.viewmats[0]),
        },
        "landmarks_px": {"body": _tolist(lm.body), "body_confidence": _tolist(lm.body_confidence)},
        "errors": {k: float(v) for k, v in (fit.errors or {}).items()},
    }
    params = getattr(fit, "params", None)
    if params is not None and hasattr(params, "to_dict"):
        out["params"] = params.to_dict()  # global_orient, translation, body_pose, shape
    return out


def write_outputs(result: Any, folder: Path, source: str, fps: int = 12, mesh_resolution: int = 128) -> dict[str, Any]:
    """Write every output file of one reconstruction into ``folder``; returns the report written."""
    from PIL import Image

    from .io.mesh import save_glb
    from .io.ply import save_ply
    from .io.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    timings = dict(result.timings)
    t = time.perf_counter()
    save_ply(result.gaussians, folder / "gaussians.ply")
    timings["save_ply"] = round(time.perf_counter() - t, 3)
    files = ["gaussians.ply"]
    if len(result.turntable):
        t = time.perf_counter()
        write_video(result.turntable, folder / "turntable.mp4", fps=fps)
        timings["save_video"] = round(time.perf_counter() - t, 3)
        files.append("turntable.mp4")
    Image.fromarray(np.concatenate(list(result.views), axis=1)).save(folder / "views.png")
    files.append("views.png")
    t = time.perf_counter()
    save_glb(result.gaussians, folder / "mesh.glb", resolution=mesh_resolution)
    timings["save_mesh"] = round(time.perf_counter() - t, 3)
    files.append("mesh.glb")
    (folder / "body.json").write_text(json.dumps(body_to_dict(result.body_fit), indent=1))
    files.append("body.json")
    report = {
        "source": source,
        "mode": result.mode,
        "weights": dict(result.weights),
        "network_weights": "none (prior mode: no network weights ran)" if result.mode == "prior" else "see weights",
        "gaussians": len(result.gaussians),
        "timings_s": timings,
        "quality": dict(result.quality),
        "fit_errors": {k: float(v) for k, v in (result.body_fit.errors or {}).items()},
        "notes": list(result.notes),
        "files": files + ["report.json"],
    }
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``humansplat`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 0 or args.resolution < 16 or args.fps < 1 or args.mesh_resolution < 8:
        parser.error(
            f"need --frames >= 0, --resolution >= 16, --fps >= 1, --mesh-resolution >= 8; got "
            f"{args.frames}, {args.resolution}, {args.fps}, {args.mesh_resolution}"
        )
    from tqdm import tqdm

    from .errors import InputError, WeightsUnavailableError
    from .pipeline import reconstruct

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    photos, skipped = collect_inputs(args.inputs)
    entries: list[dict[str, Any]] = [{"input": str(p), "status": "skipped", "error": why} for p, why in skipped]
    for p, why in skipped:
        print(f"humansplat: {p}: {why}", file=sys.stderr)
    if not photos:
        print("humansplat: no photos to process", file=sys.stderr)
        (out / "summary.json").write_text(json.dumps({"ok": 0, "failed": 0, "entries": entries}, indent=1))
        return 1
    used: set[str] = set()
    ok = failed = 0
    bar = tqdm(total=len(photos), unit="photo", disable=args.quiet, dynamic_ncols=True)
    for path in photos:
        folder = _unique_dir(out, path.stem, used)
        bar.set_description(path.name)

        def progress(fraction: float, stage: str) -> None:
            bar.set_postfix_str(f"{int(100 * fraction):3d}% {stage.split(':')[0]}")

        try:
            result = reconstruct(
                path, mode=args.mode, frames=args.frames, resolution=args.resolution, seed=args.seed,
                device=args.device, progress=progress,
            )
            report = write_outputs(result, folder, str(path), fps=args.fps, mesh_resolution=args.mesh_resolution)
            if args.motion:
                from .animate import animate_result

                animate_result(result, args.motion, folder, resolution=args.resolution, fps=args.fps,
                               mesh_resolution=args.mesh_resolution)
            ok += 1
            entries.append({"input": str(path), "status": "ok", "output": str(folder), "mode": report["mode"],
                            "quality": report["quality"], "seconds": round(sum(result.timings.values()), 3)})
            bar.write(f"{path.name}: {result.summary()} -> {folder}")
        except (InputError, WeightsUnavailableError, OSError, ValueError) as exc:
            failed += 1
            entries.append({"input": str(path), "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
            bar.write(f"humansplat: {path}: skipped: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the batch
            failed += 1
            entries.append({"input": str(path), "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
            bar.write(f"humansplat: {path}: failed ({type(exc).__name__}): {exc}", file=sys.stderr)
        bar.update(1)
    bar.close()
    (out / "summary.json").write_text(json.dumps({"ok": ok, "failed": failed, "entries": entries}, indent=1))
    print(f"humansplat: {ok} reconstructed, {failed} failed, {len(skipped)} skipped -> {out}", file=sys.stderr)
    return 0 if ok > 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
