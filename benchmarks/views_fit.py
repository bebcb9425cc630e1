"""Benchmark of the views-mode Gaussian fit (without diffusion): time per step and what it gains.

The textured synthetic person (:func:`humansplat.views_mode.synthetic.textured_synthetic_person`):
prior-mode Gaussians from its "photo", then :func:`humansplat.views_mode.fit_gaussians_to_views` on its
true renders from the generated views' cameras (:func:`humansplat.multiview.framing.orbit_view_cameras`,
every 360/F deg but the input). Reported: seconds per step, Gaussian counts, PSNR of the supervised views
and of held-out views (midway between them) before and after, input-view PSNR and alpha IoU before and
after (the fit must keep them within 0.5 dB / 0.005).

    python benchmarks/views_fit.py [--size 256] [--frames 8] [--steps 200] [--lr-sh0 0.02] [--lr-means 1e-3]
        [--device cpu|cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def _psnr(gaussians, cams, truth) -> float:
    from humansplat.render import render

    with torch.no_grad():
        out = render(gaussians, cams.to(gaussians.device), background=1.0)
    rgb, alpha = out.rgb.cpu(), out.alpha[..., 0].cpu()
    region = (truth.alpha > 0.5) | (alpha > 0.5)
    mse = ((rgb - truth.rgb) ** 2).mean(-1)[region].mean()
    return round(float(10 * torch.log10(1 / mse)), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="crop and view side in pixels")
    ap.add_argument("--frames", type=int, default=8, help="orbit frames F (frame 0 = the input view)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr-sh0", type=float, default=None)
    ap.add_argument("--lr-means", type=float, default=None)
    ap.add_argument("--densify-every", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from humansplat.multiview.framing import orbit_view_cameras, prepare_synthesizer_input
    from humansplat.api import input_view_quality
    from humansplat.prior_mode.build import gaussians_from_prior
    from humansplat.render.mesh import render_mesh
    from humansplat.views_mode import ViewsFitOptions, fit_gaussians_to_views
    from humansplat.views_mode.synthetic import textured_synthetic_person

    fit, mesh = textured_synthetic_person(args.seed, args.size)
    t = time.perf_counter()
    prior = gaussians_from_prior(fit).to(args.device)
    t_prior = time.perf_counter() - t
    inp = prepare_synthesizer_input(fit.crop, args.size)
    step = 360.0 / args.frames
    supervised = orbit_view_cameras(fit, inp.camera, [i * step for i in range(1, args.frames)])
    held_out = orbit_view_cameras(fit, inp.camera, [(i + 0.5) * step for i in range(args.frames)])
    truth = render_mesh(mesh, supervised, supersample=2)
    truth_held = render_mesh(mesh, held_out, supersample=2)
    views = (truth.rgb.numpy() * 255 + 0.5).astype(np.uint8)
    kw = {"steps": args.steps, "seed": args.seed}
    for name in ("lr_sh0", "lr_means", "densify_every"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    opts = ViewsFitOptions(**kw)
    before = input_view_quality(prior, fit)
    row = {
        "size": args.size,
        "frames": args.frames,
        "device": args.device,
        "prior_s": round(t_prior, 2),
        "input_psnr_before": before["input_view_psnr_db"],
        "iou_before": before["input_view_alpha_iou"],
        "views_psnr_before": _psnr(prior, supervised, truth),
        "heldout_psnr_before": _psnr(prior, held_out, truth_held),
    }
    fitted, stats = fit_gaussians_to_views(prior, fit, views, supervised, opts, view_masks=truth.alpha.numpy())
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
            "views_psnr_after": _psnr(fitted, supervised, truth),
            "heldout_psnr_after": _psnr(fitted, held_out, truth_held),
            "options": {k: v for k, v in kw.items()},
        }
    )
    print(json.dumps(row, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=1)


if __name__ == "__main__":
    main()
