"""Benchmark of the views-mode Gaussian fit (without diffusion): time per step and what it gains.

A built-in textured subject of the evaluation harness (:mod:`humansplat.eval`, default ``jacket``): its
input view from the front is the photo (person detection and the body fit run on it), prior-mode
Gaussians from it, then :func:`humansplat.views_mode.fit_gaussians_to_views` on the subject's true renders
(scaled about the camera centre to the fitted body's height, so the photo is unchanged) from orbit
cameras every 360/F deg but the input. Reported: seconds per step, Gaussian counts, mean PSNR
(:func:`humansplat.eval.metrics.score_view`, whole image on white) of the supervised views and of held-out
views (midway between them) before and after, the side (90/270 deg) and back (180 deg) views' PSNR
when supervised, input-view PSNR and alpha IoU before and after.

Option changes to try: ``--set name=value`` (any :class:`~humansplat.views_mode.ViewsFitOptions` field,
applied to every run) and ``--try '{"name": value, ...}'`` (repeatable: one fit per ``--try``, each on
the same start; without it one fit with the defaults), so a log of what each change does is one command.

    python benchmarks/views_fit.py [--subject jacket,dress] [--size 256] [--frames 8] [--steps 200]
        [--set lr_means=5e-4] [--try '{"views_move_depth": false}'] [--device cpu|cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import replace

import numpy as np


def _psnrs(gaussians, cams, truth_rgb, truth_alpha) -> list[float]:
    """Whole-image PSNR (dB) of ``gaussians`` against the truth per camera (the harness's renders)."""
    from humansplat.eval.harness import _render_prediction
    from humansplat.eval.metrics import score_view

    rgb, alpha = _render_prediction(gaussians, cams.to(gaussians.device), 2)
    return [float(score_view(truth_rgb[i], truth_alpha[i], rgb[i], alpha[i]).psnr) for i in range(len(cams))]


def _value(text: str):
    """``--set`` value: JSON (numbers, true/false, null) or else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _scores(gaussians, fit, sup: tuple, held: tuple, side_back: dict[str, int]) -> dict[str, float]:
    from humansplat.avatar_views import input_view_quality

    q = input_view_quality(gaussians, fit)
    s, h = _psnrs(gaussians, *sup), _psnrs(gaussians, *held)
    out = {"views": float(np.mean(s)), "heldout": float(np.mean(h)), "heldout_min": float(np.min(h))}
    out.update({name: s[i] for name, i in side_back.items()})
    out.update(input=q["input_view_psnr_db"], iou=q["input_view_alpha_iou"])
    return out


def bench_subject(name: str, args: argparse.Namespace, base: dict, tries: list[dict]) -> list[dict]:
    """Prior mode, then one fit per entry of ``tries`` (overrides of ``base``): rows of numbers."""
    from humansplat.eval.harness import _render_truth, make_input_view, predicted_height
    from humansplat.eval.subjects import builtin_subjects
    from humansplat.io.images import load_photo
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person
    from humansplat.prior_mode.build import gaussians_from_prior
    from humansplat.views_mode import ViewsFitOptions, fit_gaussians_to_views

    view = make_input_view(builtin_subjects([name])[0], 0.0, args.size)
    fit = fit_body(detect_person(load_photo(view.photo)))
    t = time.perf_counter()
    prior = gaussians_from_prior(fit).to(args.device)
    t_prior = time.perf_counter() - t
    k = predicted_height(prior) / view.true_height
    mesh = replace(view.mesh, vertices=view.mesh.vertices * k)
    view = replace(view, mesh=mesh, centre=view.centre * k, distance=view.distance * k)
    step = 360.0 / args.frames
    azimuths = [i * step for i in range(1, args.frames)]
    supervised = view.orbit(azimuths, args.size)
    held_out = view.orbit([(i + 0.5) * step for i in range(args.frames)], args.size)
    truth_rgb, truth_alpha = _render_truth(view.mesh, supervised, 2)
    sup = (supervised, truth_rgb, truth_alpha)
    held = (held_out, *_render_truth(view.mesh, held_out, 2))
    side_back = {f"az{a:g}": i for i, a in enumerate(azimuths) if a in (90.0, 180.0, 270.0)}
    views = (truth_rgb * 255 + 0.5).clip(0, 255).astype(np.uint8)
    before = _scores(prior, fit, sup, held, side_back)
    rows = []
    for change in tries:
        kw = {**base, **change}
        opts = ViewsFitOptions(**kw)
        fitted, stats = fit_gaussians_to_views(prior, fit, views, supervised, opts, view_masks=truth_alpha)
        after = _scores(fitted, fit, sup, held, side_back)
        row = {
            "subject": name,
            "size": args.size,
            "frames": args.frames,
            "device": args.device,
            "prior_s": round(t_prior, 2),
            "change": change,
            "steps": stats.steps,
            "s_per_step": stats.seconds_per_step,
            "fit_s": stats.seconds,
            "backend": stats.backend,
            "gaussians": f"{stats.gaussians_start} -> {stats.gaussians_end}",
            **{f"{key}_before": round(v, 4 if key == "iou" else 2) for key, v in before.items()},
            **{f"{key}_after": round(v, 4 if key == "iou" else 2) for key, v in after.items()},
            "gain": {key: round(after[key] - before[key], 4 if key == "iou" else 2) for key in before},
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subject", default="jacket", help="built-in evaluation subjects, comma-separated")
    ap.add_argument("--size", type=int, default=256, help="photo and view side in pixels")
    ap.add_argument("--frames", type=int, default=8, help="orbit frames F (frame 0 = the input view)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a ViewsFitOptions field")
    ap.add_argument("--try", dest="tries", action="append", default=[], metavar="JSON", help="one fit with these")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from humansplat.views_mode import ViewsFitOptions

    names = {f.name for f in dataclasses.fields(ViewsFitOptions)}
    base: dict = {"steps": args.steps, "seed": args.seed}
    for item in args.set:
        key, _, text = item.partition("=")
        base[key] = _value(text)
    tries = [json.loads(t) for t in args.tries] or [{}]
    unknown = sorted({k for d in [base, *tries] for k in d} - names)
    if unknown:
        raise SystemExit(f"unknown ViewsFitOptions fields {unknown}; known: {sorted(names)}")
    rows = [row for name in args.subject.split(",") for row in bench_subject(name.strip(), args, base, tries)]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
