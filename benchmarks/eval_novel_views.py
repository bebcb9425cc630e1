"""Benchmark: novel-view quality of prior mode on the built-in evaluation set (and on scans).

For each subject and each input azimuth (0, +30, -30 deg): render the photo, reconstruct it in prior
mode, render prediction and truth from 8 orbit azimuths, score them (humansplat.eval). Prints the
table by view group (Markdown, all subjects and per subject), writes ``report.json`` and one
contact sheet per subject to ``--out`` (default: a new temporary folder). Never commit sheets of
third-party scans.

    python benchmarks/eval_novel_views.py [--size 256] [--subjects a,b] [--scans DIR] [--azimuths 0,30,-30] [--out DIR]
    python benchmarks/eval_novel_views.py --perfect   # sanity check: the truth itself must score > 30 dB
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--subjects", default=None, help="comma-separated built-in subjects (default: all)")
    p.add_argument("--scans", type=Path, default=None, help="also evaluate the scans in this folder")
    p.add_argument("--azimuths", default="0,30,-30")
    p.add_argument("--mode", default="prior")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--perfect", action="store_true",
                   help="sanity check of the harness: the truth converted to Gaussians instead of a reconstruction")
    args = p.parse_args(argv)

    import torch

    from humansplat.eval import EvalSubject, builtin_subjects, evaluate, perfect_reconstruction

    out = args.out or Path(tempfile.mkdtemp(prefix="humansplat_eval_"))
    names = None if args.subjects is None else [n.strip() for n in args.subjects.split(",") if n.strip()]
    t = time.perf_counter()
    subjects = builtin_subjects(names)
    build_s = time.perf_counter() - t
    if args.scans is not None:
        from humansplat.data.scans import find_scans, load_scan

        subjects += [EvalSubject(Path(path).stem, load_scan(path).mesh, str(path)) for path in find_scans(args.scans)]
    azimuths = [float(a) for a in args.azimuths.split(",") if a.strip()]

    def progress(done: int, total: int, message: str) -> None:
        print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    t = time.perf_counter()
    oracle = (lambda photo, view: perfect_reconstruction(view)) if args.perfect else None
    mode = "perfect (truth as Gaussians)" if args.perfect else args.mode
    report = evaluate(subjects, mode=mode, input_azimuths=azimuths, size=args.size, reconstruct_fn=oracle,
                      out_dir=out / "sheets", progress=progress)
    total_s = time.perf_counter() - t
    report.save_json(out / "report.json")

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; subjects built in {build_s:.1f} s; evaluation {total_s:.0f} s")
    print(report.summary())
    print()
    print(f"### All subjects ({len(subjects)} x {len(azimuths)} photos, {args.size} px, mode {mode})")
    print()
    print(report.markdown())
    for s in subjects:
        print()
        print(f"#### {s.name}")
        print()
        print(report.markdown(s.name))
    print()
    print(f"report and contact sheets in {out}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
