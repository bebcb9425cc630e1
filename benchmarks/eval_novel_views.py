"""Benchmark: novel-view quality of prior mode on the built-in evaluation set (and on scans).

For each subject and each input azimuth (0, +30, -30 deg): render the photo, reconstruct it in prior
mode, render prediction and truth from 8 orbit azimuths, score them (humansplat.eval). Prints the
table by view group (Markdown, all subjects and per subject), writes ``report.json`` and one
contact sheet per subject to ``--out`` (default: a new temporary folder). Never commit sheets of
third-party scans.

    python benchmarks/eval_novel_views.py [--size 256] [--subjects a,b] [--scans DIR] [--azimuths 0,30,-30] [--out DIR]
    python benchmarks/eval_novel_views.py --framing full_body,portrait   # both framings (portrait: a selfie at 0.75 m)
    python benchmarks/eval_novel_views.py --rasterize-mode antialiased   # predictions rendered as anti-aliased
                                                      # viewers do (opacity compensated for the low-pass)
    python benchmarks/eval_novel_views.py --perfect   # sanity check: the truth itself must score > 30 dB
    python benchmarks/eval_novel_views.py --fit w_lean=0.002 --fit w_arm_plane=0 --prior colour_iterations=0
                                                      # prior mode with other FitOptions / PriorOptions
    python benchmarks/eval_novel_views.py --body-only # the fitted body alone (grey): how well its pose
                                                      # and shape match the truth's silhouettes
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
    p.add_argument("--framing", default="full_body",
                   help="comma-separated framings of the photos: full_body (default), portrait (a selfie's head and "
                        "shoulders at 0.75 m), or both: full_body,portrait")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--perfect", action="store_true",
                   help="sanity check of the harness: the truth converted to Gaussians instead of a reconstruction")
    p.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE",
                   help="a humansplat.prior.fit.FitOptions field for the body fit (prior mode; repeatable)")
    p.add_argument("--prior", action="append", default=[], metavar="KEY=VALUE",
                   help="a humansplat.prior_mode.build.PriorOptions field (prior mode; repeatable)")
    p.add_argument("--rasterize-mode", choices=("classic", "antialiased"), default="classic",
                   help="how the predictions are rendered (humansplat.render.render's rasterize_mode)")
    p.add_argument("--body-only", action="store_true",
                   help="score the fitted body mesh alone (as grey Gaussians) instead of the reconstruction")
    args = p.parse_args(argv)

    import torch

    from humansplat.eval import builtin_subjects, evaluate, perfect_reconstruction, scan_subjects

    out = args.out or Path(tempfile.mkdtemp(prefix="humansplat_eval_"))
    names = None if args.subjects is None else [n.strip() for n in args.subjects.split(",") if n.strip()]
    t = time.perf_counter()
    subjects = builtin_subjects(names)
    build_s = time.perf_counter() - t
    if args.scans is not None:
        subjects += scan_subjects(args.scans)
    azimuths = [float(a) for a in args.azimuths.split(",") if a.strip()]

    def progress(done: int, total: int, message: str) -> None:
        print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    t = time.perf_counter()
    oracle = (lambda photo, view: perfect_reconstruction(view)) if args.perfect else None
    mode = "perfect (truth as Gaussians)" if args.perfect else args.mode
    if not args.perfect and (args.fit or args.prior or args.body_only):
        if args.mode != "prior":
            p.error("--fit, --prior and --body-only evaluate prior mode only")
        oracle = _prior_reconstructor(_options(args.fit), _options(args.prior), args.body_only)
        mode = "fitted body alone" if args.body_only else "prior"
        mode += "".join(f", {kv}" for kv in args.fit + args.prior)
    framings = [f.strip() for f in args.framing.split(",") if f.strip()]
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; subjects built in {build_s:.1f} s")
    failed = False
    for framing in framings:
        t = time.perf_counter()
        folder = out / framing if len(framings) > 1 else out
        report = evaluate(subjects, mode=mode, input_azimuths=azimuths, size=args.size, reconstruct_fn=oracle,
                          framing=framing, out_dir=folder / "sheets", progress=progress,
                          rasterize_mode=args.rasterize_mode)
        total_s = time.perf_counter() - t
        report.save_json(folder / "report.json")
        failed |= bool(report.failures)
        print(report.summary())
        print()
        print(f"### All subjects, {framing.replace('_', ' ')} ({len(subjects)} x {len(azimuths)} photos, {args.size} px, "
              f"mode {mode}, {args.rasterize_mode} rendering; {total_s:.0f} s)")
        print()
        print(report.markdown())
        for s in subjects:
            print()
            print(f"#### {s.name}, {framing.replace('_', ' ')}")
            print()
            print(report.markdown(s.name))
        print()
    print(f"reports and contact sheets in {out}")
    return 1 if failed else 0


def _options(pairs: list[str]) -> dict[str, float]:
    """``["key=value", ...]`` -> ``{key: float(value)}``."""
    out = {}
    for kv in pairs:
        key, sep, value = kv.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {kv!r}")
        out[key.strip()] = float(value)
    return out


def _prior_reconstructor(fit_options: dict[str, float], prior_options: dict[str, float], body_only: bool):
    """``fn(photo, view) -> Gaussians``: the pipeline's prior mode (``humansplat.api.reconstruct``) with
    other ``FitOptions`` / ``PriorOptions`` fields, or the body it fitted alone (its mesh as grey Gaussians)."""
    from dataclasses import replace

    from humansplat.api import reconstruct
    from humansplat.eval import perfect_reconstruction
    from humansplat.prior.fit import FitOptions
    from humansplat.prior_mode.build import PriorOptions
    from humansplat.render.mesh import TexturedMesh

    fit_opts, prior_opts = FitOptions(**fit_options), PriorOptions(**prior_options)

    def run(photo, view):
        result = reconstruct(photo, mode="prior", frames=0, resolution=64, fit_options=fit_opts, prior_options=prior_opts)
        if not body_only:
            return result.gaussians
        fit = result.body_fit
        body = TexturedMesh(vertices=fit.vertices.detach().float(), faces=fit.faces.long())
        return perfect_reconstruction(replace(view, mesh=body))  # converted as the harness converts the truth

    return run


if __name__ == "__main__":
    sys.exit(main())
