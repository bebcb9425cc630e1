"""Benchmark of reconstruction: photo -> Gaussians -> views and turntable (prior or views mode).

Per photo: seconds per stage (load, detect, fit, reconstruct, save_ply, views, turntable), input-view
PSNR (inside the person mask) and alpha IoU, back-view coverage of the fitted body's silhouette,
Gaussian count. Photos: the synthetic person (always) and the real photos in ../shared/photos when
present. Views and a turntable contact sheet per photo go to ``--out`` for inspection.

``--mode views`` runs ``humansplat.api.iter_reconstruct(photo, mode="views")`` (SV3D's orbit views, then
the views fit) with the synthesizer's weights when they are available here, and with
``--tiny-synthesizer`` a tiny random synthesizer saved in the GenHuman3D layout
(:func:`humansplat.multiview.tiny.save_tiny_weights`) instead: its rows say "random weights: timing
only" (the views are noise; only the stages' timings mean anything). Views mode samples as the human
fine-tune was trained (18 frames of 512 px, its azimuths, triangular guidance: ``ViewsModeOptions()``).
Views rows add the seconds of ``synthesize`` (SV3D sampling and decoding) and ``views_fit`` (the fit),
and ``gpu_s_asked``: the GPU seconds a ZeroGPU Space asks for the request
(:func:`humansplat.gpu_stage.gpu_seconds`, an estimate for a GPU, not these timings).

Targets (2 CPU cores, models loaded): photo -> .ply <= 2.5 s; a 24-frame 512x512 turntable <= 3 s;
median input-view PSNR >= 30 dB and IoU >= 0.97 on the real photos.

    python benchmarks/reconstruct.py [--photos DIR] [--limit N] [--frames 24] [--resolution 512] [--out DIR]
        [--mode prior|views] [--tiny-synthesizer] [--sampler-steps 25] [--synth-size 512] [--fit-steps 200]
        [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"


def _contact_sheet(frames: np.ndarray, columns: int = 9, size: int = 128) -> np.ndarray:
    from PIL import Image

    small = [np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames]
    while len(small) % columns:
        small.append(np.full_like(small[0], 255))
    rows = [np.concatenate(small[i : i + columns], axis=1) for i in range(0, len(small), columns)]
    return np.concatenate(rows, axis=0)


def bench_one(
    source,
    name: str,
    out: Path,
    frames: int,
    resolution: int,
    mode: str = "prior",
    views_options=None,
    device: str | None = None,
    label: str = "",
) -> dict:
    """Run the pipeline on one photo (path or Photo) and time each stage; writes views and a contact sheet.
    Views mode also times ``synthesize`` and ``views_fit`` (from the arrival of the stage updates);
    ``label`` goes into the row (e.g. "random weights: timing only")."""
    from PIL import Image

    from humansplat.io.ply import save_ply
    from humansplat.api import iter_reconstruct

    t0 = time.perf_counter()
    result = None
    arrived: dict[str, float] = {}
    for update in iter_reconstruct(
        source, mode=mode, frames=frames, resolution=resolution, device=device, views_options=views_options
    ):
        arrived.setdefault(update.stage, time.perf_counter())
        if update.stage == "reconstruct":
            t_ply = time.perf_counter()
            save_ply(update.gaussians, out / f"{name}.ply")
            save_s = time.perf_counter() - t_ply
            to_ply = time.perf_counter() - t0
        if update.result is not None:
            result = update.result
    assert result is not None
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(list(result.views), axis=1)).save(folder / "views.png")
    if len(result.turntable):
        Image.fromarray(_contact_sheet(result.turntable)).save(folder / "turntable.png")
    t = dict(result.timings)
    asked = {}
    if "synthesize" in arrived:  # views mode: the reconstruct stage split at the synthesize update
        from humansplat.gpu_stage import NetworkRequest, gpu_seconds

        t["synthesize"] = arrived["synthesize"] - arrived["fit"]
        t["views_fit"] = arrived["reconstruct"] - arrived["synthesize"]
        asked["gpu_s_asked"] = gpu_seconds(NetworkRequest("views", result.body_fit, views_options=views_options))
    row = {
        "photo": name,
        "mode": result.mode,
        **({"label": label} if label else {}),
        **{f"t_{k}": round(v, 2) for k, v in t.items()},
        "t_save_ply": round(save_s, 2),
        "photo_to_ply_s": round(to_ply, 2),
        "ply_plus_turntable_s": round(to_ply + t.get("views", 0) + t.get("turntable", 0), 2),
        "gaussians": len(result.gaussians),
        **asked,
        **result.quality,
        "fit_silhouette_iou": round(float(result.body_fit.errors.get("silhouette_iou", float("nan"))), 3),
        "notes": result.notes,
    }
    return row


def _views_setup(args: argparse.Namespace):
    """Views mode: (ViewsModeOptions, row label). With ``--tiny-synthesizer`` the tiny random weights are
    saved to a temporary folder that ``$HUMANSPLAT_WEIGHTS`` then points at (offline); without it the
    synthesizer's weights must be available here."""
    import os
    from dataclasses import replace

    from humansplat.views_mode import ViewsModeOptions, synthesizer_status

    opts = ViewsModeOptions()
    if args.sampler_steps is not None:
        opts = replace(opts, num_inference_steps=args.sampler_steps)
    if args.fit_steps is not None:
        opts = replace(opts, fit=replace(opts.fit, steps=args.fit_steps))
    if args.synth_size is not None:
        opts = replace(opts, size=args.synth_size)
    if args.tiny_synthesizer:
        from humansplat.multiview.tiny import save_tiny_weights

        folder = save_tiny_weights(Path(tempfile.mkdtemp(prefix="humansplat_tiny_synth_")))
        os.environ["HUMANSPLAT_WEIGHTS"] = str(folder)
        os.environ["HF_HUB_OFFLINE"] = "1"
        return opts, "random weights: timing only"
    ok, message = synthesizer_status()
    if not ok:
        raise SystemExit(f"views mode needs the synthesizer's weights ({message}); --tiny-synthesizer: timings only")
    return opts, ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=SHARED_PHOTOS, help="folder of photos (searched recursively)")
    p.add_argument("--limit", type=int, default=0, help="at most this many real photos (0 = all)")
    p.add_argument("--frames", type=int, default=24, help="turntable frames (the app's default)")
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "humansplat_bench_reconstruct")
    p.add_argument("--json", type=Path, default=None, help="write the rows here as JSON")
    p.add_argument("--mode", choices=("prior", "views"), default="prior")
    p.add_argument("--tiny-synthesizer", action="store_true", help="views mode on tiny random weights (timing only)")
    p.add_argument("--sampler-steps", type=int, default=None, help="views mode: SV3D sampler steps (default: its 25)")
    p.add_argument("--fit-steps", type=int, default=None, help="views mode: steps of the views fit (default: its own)")
    p.add_argument("--synth-size", type=int, default=None, help="views mode: synthesizer image side (default: the fine-tune's 512)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when available)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from humansplat.io.images import Photo
    from humansplat.prior.synthetic import make_synthetic_person

    print(f"torch threads: {torch.get_num_threads()}; timings on a shared machine are noisy", file=sys.stderr)
    views_options, label = _views_setup(args) if args.mode == "views" else (None, "")
    run = {"mode": args.mode, "views_options": views_options, "device": args.device, "label": label}
    # warm-up: load the detector and body model (and the synthesizer) once (targets are for loaded models)
    person = make_synthetic_person(seed=0, size=512)
    synthetic = Photo(rgb=person.crop.rgb, source="synthetic_0")
    bench_one(synthetic, "warmup", args.out, frames=1, resolution=64, **run)

    sources: list[tuple[str, object]] = [("synthetic_0", synthetic)]
    if args.photos.is_dir():
        photos = sorted(f for f in args.photos.rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
        photos = [f for f in photos if not f.stem.startswith("F22m")]  # a mask, not a photo
        if args.limit:
            photos = photos[: args.limit]
        sources += [(f.stem, f) for f in photos]
    rows = []
    for name, src in sources:
        try:
            row = bench_one(src, name, args.out, args.frames, args.resolution, **run)
        except Exception as exc:  # noqa: BLE001 - report and go on
            row = {"photo": name, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))

    real = [r for r in rows if r["photo"] != "synthetic_0" and "error" not in r]
    cols = ["photo", "t_detect", "t_fit", "t_reconstruct", "photo_to_ply_s", "t_views", "t_turntable",
            "ply_plus_turntable_s", "gaussians", "input_view_psnr_db", "input_view_alpha_iou", "back_coverage", "fit_silhouette_iou"]
    if args.mode == "views":
        cols[4:4] = ["t_synthesize", "t_views_fit", "gpu_s_asked"]
        if label:
            print(f"\nviews mode, {label}")
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, r.get("error", ""))) for c in cols) + " |")
    if real:
        def med(key: str) -> float:
            return statistics.median(float(r[key]) for r in real)

        print(f"\nreal photos: {len(real)} ok, {len(rows) - 1 - len(real)} failed; median input-view PSNR {med('input_view_psnr_db'):.2f} dB, "
              f"input-view alpha IoU {med('input_view_alpha_iou'):.4f}, back coverage {med('back_coverage'):.4f}, photo->ply {med('photo_to_ply_s'):.2f} s, "
              f"+turntable {med('ply_plus_turntable_s'):.2f} s")
    print(f"views and turntable sheets: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
