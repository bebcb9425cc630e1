"""Structure prior from the command line: ``python -m humansplat.prior PHOTO [PHOTO...] -o OUT``.

For each photo: person detection (mask + landmarks), body fit, and in ``OUT/<photo name>/`` the
files of :meth:`humansplat.prior.body_fit.BodyFit.save`:

* ``landmarks.png``, ``mask.png``, ``body.png``: overlays (see :mod:`humansplat.prior.overlay`);
* ``body.json``: the body, schema ``humansplat.body/1`` (:meth:`~humansplat.prior.body_fit.BodyFit.to_dict`:
  parameters, mesh, joints, camera, crop, fit errors and timings), the same file the CLI and the app write;
* ``body.obj``: the fitted mesh in the world frame (= the photo's OpenCV camera frame: x right,
  y down, z forward, metres), vertex colours by body part;
* ``body.glb``: the same mesh in glTF axes (x, -y, -z: y up, facing +z), for viewers.

Photos that cannot be used (not an image, nobody in it, ...) are reported and skipped; the exit
status is 1 when any photo was skipped. ``--synthetic SEED`` adds the project's synthetic person
(no detector involved), handy for trying the command without a photo.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m humansplat.prior",
        description="Detect the person, fit a body model, and write overlays, body.json, body.obj and body.glb per photo.",
    )
    p.add_argument("photos", nargs="*", help="image files (JPEG, PNG, WebP, ...)")
    p.add_argument("-o", "--output", required=True, help="output folder (one sub-folder per photo)")
    p.add_argument("--backend", default="anny", help="body model: anny (default) or smplx (needs HUMANSPLAT_SMPLX_DIR)")
    p.add_argument("--size", type=int, default=512, help="side of the square person crop in pixels (default 512)")
    p.add_argument("--synthetic", type=int, action="append", default=[], metavar="SEED",
                   help="also fit the project's synthetic person drawn from SEED (repeatable)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0: all done, 1: some photos skipped, 2: usage)."""
    args = _build_parser().parse_args(argv)
    if not args.photos and not args.synthetic:
        print("nothing to do: give photos or --synthetic SEED", file=sys.stderr)
        return 2
    from ..errors import InputError, WeightsUnavailableError
    from .fit import fit_body

    out_root = Path(args.output)
    skipped = 0
    jobs: list[tuple[str, object]] = [(Path(p).stem, p) for p in args.photos]
    jobs += [(f"synthetic_{seed}", seed) for seed in args.synthetic]
    for name, source in jobs:
        t0 = time.perf_counter()
        try:
            if isinstance(source, int):
                from .synthetic import make_synthetic_person

                crop = make_synthetic_person(source, args.size).crop
            else:
                from ..io.images import load_photo
                from .person import detect_person

                crop = detect_person(load_photo(source), args.size)
            t_detect = time.perf_counter() - t0
            fit = fit_body(crop, backend=args.backend)
            fit.timings["detect_s"] = t_detect
            fit.save(out_root / name)
        except WeightsUnavailableError as exc:  # the backend itself is unavailable: stop
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except (InputError, OSError) as exc:
            skipped += 1
            print(f"skipped {source}: {exc}", file=sys.stderr)
            continue
        e = fit.errors
        print(
            f"{name}: landmark error {e['landmark_error_pct']:.1f}% of height, silhouette IoU "
            f"{e['silhouette_iou']:.2f}, {time.perf_counter() - t0:.1f}s -> {out_root / name}"
        )
    return 1 if skipped else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
