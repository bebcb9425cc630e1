"""Benchmark of the structure prior on real photos: detection time, fit time, fit quality.

For every image in ``../shared/photos`` (the folder beside the checkout; skipped when absent) and
for a few synthetic people (known ground truth): time of person detection (segmentation +
landmarks, MediaPipe), time of the body fit, the landmark error (mean 2D distance over confident
landmarks, % of the person's height in pixels) and the silhouette IoU (fitted mesh vs. person mask;
the mask of a real photo includes clothes and hair, so a perfect body fit is well below 1). Models
load once before timing. Prints a Markdown table; ``--overlays DIR`` also saves
landmarks | mask | body overlays side by side per photo.

Usage (from the repository root)::

    python benchmarks/prior.py
    python benchmarks/prior.py --overlays /tmp/prior_overlays --synthetic 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "photos"
sys.path.insert(0, str(REPO))


def _row(name: str, t_detect: float | None, t_fit: float, fit) -> dict:
    return {
        "photo": name,
        "detect_s": t_detect,
        "fit_s": t_fit,
        "landmark_err_pct": fit.errors["landmark_error_pct"],
        "iou": fit.errors["silhouette_iou"],
        "cut_off": ",".join(fit.crop.cut_off) or "-",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="folder searched recursively for images")
    parser.add_argument("--size", type=int, default=512, help="person crop size in pixels")
    parser.add_argument("--synthetic", type=int, default=3, help="number of synthetic people (seeds 0..N-1)")
    parser.add_argument("--overlays", type=Path, default=None, help="save overlays here")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from humansplat.errors import InputError
    from humansplat.prior.body_models import get_body_model
    from humansplat.prior.fit import fit_body
    from humansplat.prior.synthetic import make_synthetic_person

    t0 = time.perf_counter()
    get_body_model("anny")
    print(f"anny loaded in {time.perf_counter() - t0:.1f}s; torch threads {torch.get_num_threads()} (the fit uses 1)")

    rows = []
    save = None
    if args.overlays is not None:
        from PIL import Image

        from humansplat.prior.overlay import draw_body_parts, draw_landmarks, draw_mask

        args.overlays.mkdir(parents=True, exist_ok=True)

        def save(name: str, fit) -> None:
            ims = [draw_landmarks(fit.crop), draw_mask(fit.crop), draw_body_parts(fit)]
            Image.fromarray(np.concatenate(ims, axis=1)).save(args.overlays / f"{name}.png")

    for seed in range(args.synthetic):
        person = make_synthetic_person(seed, args.size)
        t = time.perf_counter()
        fit = fit_body(person.crop)
        rows.append(_row(f"synthetic_{seed}", None, time.perf_counter() - t, fit))
        if save:
            save(f"synthetic_{seed}", fit)

    images = []
    if args.photos.is_dir():
        images = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
        images = [p for p in images if "mask" not in p.stem.lower()]
    else:
        print(f"{args.photos} is absent: real photos skipped")
    if images:
        from humansplat.io.images import load_photo
        from humansplat.prior.person import detect_person

        detect_person(load_photo(images[0]), args.size)  # warm MediaPipe up (model load)
    for path in images:
        try:
            photo = load_photo(path)
            t = time.perf_counter()
            crop = detect_person(photo, args.size)
            t_detect = time.perf_counter() - t
            t = time.perf_counter()
            fit = fit_body(crop)
            rows.append(_row(path.stem, t_detect, time.perf_counter() - t, fit))
            if save:
                save(path.stem, fit)
        except InputError as exc:
            print(f"skipped {path.name}: {exc}")

    print()
    print("| photo | detect s | fit s | landmark err % | IoU | cut off |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        det = "-" if r["detect_s"] is None else f"{r['detect_s']:.2f}"
        print(f"| {r['photo']} | {det} | {r['fit_s']:.2f} | {r['landmark_err_pct']:.2f} | {r['iou']:.3f} | {r['cut_off']} |")
    real = [r for r in rows if r["detect_s"] is not None]
    for label, group in (("synthetic", [r for r in rows if r["detect_s"] is None]), ("real", real)):
        if group:
            print(
                f"\n{label}: {len(group)} images, fit median {statistics.median(r['fit_s'] for r in group):.2f}s, "
                f"landmark error median {statistics.median(r['landmark_err_pct'] for r in group):.2f}%, "
                f"IoU median {statistics.median(r['iou'] for r in group):.3f}"
            )
    if real:
        print(f"detection median {statistics.median(r['detect_s'] for r in real):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
