"""``python -m humansplat.eval`` (``humansplat-eval``): novel-view evaluation from the command line.

Examples::

    humansplat-eval -o eval_out                       # every built-in subject, prior mode, 256 px
    humansplat-eval --subjects jacket,dress --azimuths 0 --size 128 -o out
    humansplat-eval --scans /data/thuman --mode auto -o out

Prints the table by view group and writes ``OUT/report.json`` and one contact sheet per subject
(``OUT/sheets/<subject>.png``). Exit codes: 0 all reconstructions ran, 1 some failed (listed),
2 usage errors (bad option, unknown subject, no scans found).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..modes import MODES

__all__ = ["main"]


def _azimuths(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"azimuths must be comma-separated degrees like '0,30,-30', got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one azimuth, e.g. --azimuths 0")
    return values


def _size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be an integer number of pixels, got {text!r}") from None
    if not 32 <= value <= 2048:
        raise argparse.ArgumentTypeError(f"size must be in [32, 2048] pixels, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents the options)."""
    from .subjects import BUILTIN_SUBJECTS

    p = argparse.ArgumentParser(
        prog="humansplat-eval",
        description="Novel-view evaluation: photograph each subject, reconstruct it, score 8 orbit views "
        "(PSNR, masked PSNR, SSIM, mask IoU; raw and silhouette-aligned) against the truth.",
    )
    p.add_argument("--mode", choices=MODES, default="prior", help="reconstruction mode (default: prior)")
    p.add_argument(
        "--subjects",
        default=None,
        help=f"comma-separated built-in subjects (default: all of {','.join(BUILTIN_SUBJECTS)} unless --scans is given)",
    )
    p.add_argument("--scans", type=Path, default=None, help="folder of textured scans (humansplat.data.scans)")
    p.add_argument("--azimuths", type=_azimuths, default=[0.0, 30.0, -30.0], help="input photo azimuths in degrees (default: 0,30,-30)")
    p.add_argument("--size", type=_size, default=256, help="photo and view side in pixels (default: 256)")
    p.add_argument("--framing", choices=("full_body", "portrait"), default="full_body",
                   help="the whole person (default) or a selfie's head and shoulders at 0.75 m")
    p.add_argument("--device", default=None, help="device of the reconstruction, e.g. cpu or cuda:0")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (report.json, sheets/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _load_subjects(args: argparse.Namespace) -> list:
    """Built-in subjects and/or scans; raises ValueError with a message for people."""
    from .subjects import EvalSubject, builtin_subjects, scan_subjects

    subjects: list[EvalSubject] = []
    if args.subjects is not None or args.scans is None:
        names = None if args.subjects is None else [n.strip() for n in args.subjects.split(",") if n.strip()]
        subjects += builtin_subjects(names)
    if args.scans is not None:
        if not args.scans.exists():
            raise ValueError(f"--scans {args.scans} does not exist")
        subjects += scan_subjects(args.scans)
    return subjects


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 some reconstruction failed, 2 usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    from typing import get_args

    from ..modes import RequestedMode

    if args.mode not in get_args(RequestedMode):
        print(f"humansplat-eval: error: mode {args.mode!r} is not available in this version of the pipeline "
              f"(it knows {', '.join(get_args(RequestedMode))})", file=sys.stderr)
        return 2
    try:
        subjects = _load_subjects(args)
    except (ValueError, OSError, ImportError) as exc:
        print(f"humansplat-eval: error: {exc}", file=sys.stderr)
        return 2

    from .harness import evaluate

    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(subjects) * len(args.azimuths), unit="photo", file=sys.stderr)

    def progress(done: int, total: int, message: str) -> None:
        if bar is not None:
            bar.set_postfix_str(message[:60])
            bar.update(done - bar.n)

    try:
        report = evaluate(subjects, mode=args.mode, input_azimuths=args.azimuths, size=args.size, device=args.device,
                          framing=args.framing, out_dir=args.out / "sheets", progress=progress)
    except ValueError as exc:
        print(f"humansplat-eval: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    path = report.save_json(args.out / "report.json")
    print(report.markdown())
    print(report.summary())
    print(f"wrote {path} and {len(report.sheets)} contact sheet(s) in {args.out / 'sheets'}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
