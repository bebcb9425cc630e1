"""Command line: ``humansplat PHOTO [PHOTO ... | FOLDER ...] -o OUTDIR``.

For each photo, a folder ``OUTDIR/<photo name>/`` gets the files of :meth:`humansplat.result.Result.save`
(the same names as the app's downloads): ``gaussians.ply``, ``gaussians.splat``, ``mesh.glb``,
``turntable.mp4`` (``--frames`` frames), ``views.png``, ``body.json`` (schema ``humansplat.body/1``)
and ``report.json`` (mode, network weights that ran, per-stage timings, input-view fidelity, notes).

A photo that cannot be used is reported and skipped; the batch goes on. ``OUTDIR/summary.json``
lists every input with its status. Options are checked once, before any photo
(:func:`humansplat.api.check_options`). Exit status (:data:`EXIT_STATUS`, the same rule as
``python -m humansplat.prior``): 0 every photo was done, 1 some failed (the others were written),
2 usage error (a bad option, or ``--mode full`` without weights: nothing was processed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning: 3-10x faster renders on small shared CPUs
# (docs/benchmarks.md). Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import EXIT_STATUS  # re-exported: the rule is shared with python -m humansplat.prior
from .modes import MODES

__all__ = ["EXIT_STATUS", "IMAGE_SUFFIXES", "build_parser", "collect_inputs", "main"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""File endings taken from a folder (other files in it are reported as skipped)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="humansplat",
        description="Single-image human Gaussian Splatting: photo(s) of a person -> 3D Gaussian avatar.",
        epilog=EXIT_STATUS[0].upper() + EXIT_STATUS[1:] + ".",
    )
    p.add_argument("inputs", nargs="+", metavar="PHOTO", help="photo files and/or folders of photos")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the results")
    p.add_argument(
        "--mode", choices=MODES, default="auto",
        help="prior: from the fitted body and the photo, no network weights; views: the human SV3D "
             "synthesizer's views + a Gaussian fit (needs its weights); full: diffusion + reconstruction "
             "transformer (needs trained weights); auto (default): full, else views (on a CUDA GPU), else prior",
    )
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: CUDA if available)")
    p.add_argument("--resolution", type=int, default=512, help="side of the views and turntable frames in pixels (default 512)")
    p.add_argument("--frames", type=int, default=36, help="turntable frames (default 36; 0 = no video)")
    p.add_argument("--fps", type=int, default=None, help="turntable frames per second (default: about 3 s a turn, 8-24 fps, as the app)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthesizer's sampling and the views fit (views and full modes)")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``humansplat`` console script; returns the exit status (:data:`EXIT_STATUS`).

    Usage errors (bad options, full mode without weights) exit with status 2 through
    ``parser.error`` before any photo is processed.
    """
    from .errors import InputError, WeightsUnavailableError
    from .api import check_options, reconstruct

    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.fps is not None and args.fps < 1) or args.mesh_resolution < 8:
        parser.error(f"need --fps >= 1 and --mesh-resolution >= 8; got {args.fps} and {args.mesh_resolution}")
    try:
        opts = check_options(args.mode, args.frames, args.resolution, args.seed, args.device)
    except (InputError, WeightsUnavailableError) as exc:
        parser.error(str(exc))
    from tqdm import tqdm

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    photos, skipped = collect_inputs(args.inputs)
    missing = sum(not p.exists() for p, _ in skipped)  # named inputs that do not exist count as failed
    entries: list[dict[str, Any]] = [{"input": str(p), "status": "skipped", "error": why} for p, why in skipped]
    for p, why in skipped:
        print(f"humansplat: {p}: {why}", file=sys.stderr)
    used: set[str] = set()
    ok = failed = 0
    bar = tqdm(total=len(photos), unit="photo", disable=args.quiet or not photos, dynamic_ncols=True)
    for path in photos:
        folder = _unique_dir(out, path.stem, used)
        bar.set_description(path.name)

        def progress(fraction: float, stage: str) -> None:
            bar.set_postfix_str(f"{int(100 * fraction):3d}% {stage.split(':')[0]}")

        try:
            result = reconstruct(path, progress=progress, options=opts)  # checked once, above
            if args.motion:  # first, so that the report counts its time
                from .animate import animate_result

                animate_result(result, args.motion, folder, resolution=opts.resolution, fps=args.fps or 24,
                               mesh_resolution=args.mesh_resolution)
            result.save(folder, source=str(path), fps=args.fps, mesh_resolution=args.mesh_resolution)
            ok += 1
            entries.append({"input": str(path), "status": "ok", "output": str(folder), "mode": result.mode,
                            "quality": result.quality, "seconds": round(sum(result.timings.values()), 3)})
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
    if not photos:
        print("humansplat: no photos to process", file=sys.stderr)
    print(f"humansplat: {ok} reconstructed, {failed} failed, {len(skipped)} skipped -> {out}", file=sys.stderr)
    return 0 if ok > 0 and failed == 0 and missing == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
