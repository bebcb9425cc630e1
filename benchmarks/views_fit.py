"""Benchmark of the views-mode Gaussian fit (without diffusion): time per step and what it gains.

A built-in textured subject of the evaluation harness (:mod:`humansplat.eval`, default ``jacket``): its
input view from the front is the photo (person detection and the body fit run on it), prior-mode
Gaussians from it, then :func:`humansplat.views_mode.fit_gaussians_to_views` on the subject's true renders
(scaled about the camera centre to the fitted body's height, so the photo is unchanged) from orbit
cameras every 360/F deg but the input. Reported: seconds per step, Gaussian counts, mean PSNR
(:func:`humansplat.eval.metrics.score_view`, whole image on white) of the supervised views and of held-out
views (midway between them) before and after, input-view PSNR and alpha IoU before and after.

    python benchmarks/views_fit.py [--subject jacket] [--size 256] [--frames 8] [--steps 200]
        [--lr-sh0 0.02] [--lr-means 1e-3] [--device cpu|cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np


def _psnr(gaussians, cams, truth_rgb, truth_alpha) -> float:
    """Mean whole-image PSNR (dB) of ``gaussians`` against the truth over ``cams`` (the harness's renders)."""
    from humansplat.eval.harness import _render_prediction
    from humansplat.eval.metrics import score_view

    rgb, alpha = _render_prediction(gaussians, cams.to(gaussians.device), 2)
    return round(float(np.mean([score_view(truth_rgb[i], truth_alpha[i], rgb[i], alpha[i]).psnr for i in range(len(cams))])), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subject", default="jacket", help="a built-in evaluation subject (humansplat.eval)")
    ap.add_argument("--size", type=int, default=256, help="photo and view side in pixels")
    ap.add_argument("--frames", type=int, default=8, help="orbit frames F (frame 0 = the input view)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr-sh0", type=float, default=None)
    ap.add_argument("--lr-means", type=float, default=None)
    ap.add_argument("--densify-every", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from humansplat.api import input_view_quality
    from humansplat.eval.harness import _render_truth, make_input_view, predicted_height
    from humansplat.eval.subjects import builtin_subjects
    from humansplat.io.images import load_photo
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person
    from humansplat.prior_mode.build import gaussians_from_prior
    from humansplat.views_mode import ViewsFitOptions, fit_gaussians_to_views

    view = make_input_view(builtin_subjects([args.subject])[0], 0.0, args.size)
    fit = fit_body(detect_person(load_photo(view.photo)))
    t = time.perf_counter()
    prior = gaussians_from_prior(fit).to(args.device)
    t_prior = time.perf_counter() - t
    k = predicted_height(prior) / view.true_height
    view = replace(view, mesh=replace(view.mesh, vertices=view.mesh.vertices * k), centre=view.centre * k, distance=view.distance * k)
    step = 360.0 / args.frames
    supervised = view.orbit([i * step for i in range(1, args.frames)], args.size)
    held_out = view.orbit([(i + 0.5) * step for i in range(args.frames)], args.size)
    truth_rgb, truth_alpha = _render_truth(view.mesh, supervised, 2)
    held_rgb, held_alpha = _render_truth(view.mesh, held_out, 2)
    views = (truth_rgb * 255 + 0.5).clip(0, 255).astype(np.uint8)
    kw = {"steps": args.steps, "seed": args.seed}
    for name in ("lr_sh0", "lr_means", "densify_every"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    opts = ViewsFitOptions(**kw)
    before = input_view_quality(prior, fit)
    row = {
        "subject": args.subject,
        "size": args.size,
        "frames": args.frames,
        "device": args.device,
        "prior_s": round(t_prior, 2),
        "input_psnr_before": before["input_view_psnr_db"],
        "iou_before": before["input_view_alpha_iou"],
        "views_psnr_before": _psnr(prior, supervised, truth_rgb, truth_alpha),
        "heldout_psnr_before": _psnr(prior, held_out, held_rgb, held_alpha),
    }
    fitted, stats = fit_gaussians_to_views(prior, fit, views, supervised, opts, view_masks=truth_alpha)
    after = input_view_quality(fitted, fit)
    row.update(
        {
            "steps": stats.steps,
            "s_per_step": stats.seconds_per_step,
            "fit_s": stats.seconds,
            "backend": stats.backend,
            "gaussians": f"{stats.gaussians_start} -> {stats.gaussians_end}",
            "input_psnr_after": after["input_view_psnr_db"],
            "iou_after": after["input_view_alpha_iou"],
            "views_psnr_after": _psnr(fitted, supervised, truth_rgb, truth_alpha),
            "heldout_psnr_after": _psnr(fitted, held_out, held_rgb, held_alpha),
            "options": {k: v for k, v in kw.items()},
        }
    )
    print(json.dumps(row, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=1)


if __name__ == "__main__":
    main()
