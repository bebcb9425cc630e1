"""Structure prior from the command line: ``python -m humansplat.prior PHOTO [PHOTO...] -o OUT``.

For each photo: person detection (mask + landmarks), body fit, and in ``OUT/<photo name>/`` the
files of :func:`humansplat.prior.body_files.save_body`:

* ``landmarks.png``, ``mask.png``, ``body.png``: overlays (see :mod:`humansplat.prior.overlay`);
* ``body.json``: the body, schema ``humansplat.body/1`` (:meth:`~humansplat.prior.body_fit.BodyFit.to_dict`:
  parameters, mesh, joints, camera, crop, fit errors and timings), the same file the CLI and the app write;
* ``body.obj``: the fitted mesh in the world frame (= the photo's OpenCV camera frame: x right,
  y down, z forward, metres), vertex colours by body part;
* ``body.glb``: the same mesh in glTF axes (x, -y, -z: y up, facing +z), for viewers.

Photos that cannot be used (not an image, nobody in it, ...) are reported and skipped. Options
(the body model, ``--size``) are checked once, before any photo. Exit status, the same rule as the
``humansplat`` command (:data:`humansplat.errors.EXIT_STATUS`): 0 every photo was done, 1 some failed,
2 usage error (nothing was processed). ``--synthetic SEED`` adds the project's synthetic person
(no detector involved), handy for trying the command without a photo.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import EXIT_STATUS

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m humansplat.prior",
        description="Detect the person, fit a body model, and write overlays, body.json, body.obj and body.glb per photo.",
        epilog=EXIT_STATUS[0].upper() + EXIT_STATUS[1:] + ".",
    )
    p.add_argument("photos", nargs="*", help="image files (JPEG, PNG, WebP, ...)")
    p.add_argument("-o", "--output", required=True, help="output folder (one sub-folder per photo)")
    p.add_argument("--backend", default="anny", help="body model: anny (default) or smplx (needs HUMANSPLAT_SMPLX_DIR)")
    p.add_argument("--size", type=int, default=512, help="side of the square person crop in pixels (default 512)")
    p.add_argument("--synthetic", type=int, action="append", default=[], metavar="SEED",
                   help="also fit the project's synthetic person drawn from SEED (repeatable)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (:data:`humansplat.errors.EXIT_STATUS`: 0 all done, 1 some
    photos failed, 2 usage error before any photo, through ``parser.error``)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not args.photos and not args.synthetic:
        parser.error("nothing to do: give photos or --synthetic SEED")
    if args.size < 32:
        parser.error(f"--size must be at least 32 pixels, got {args.size}")
    from ..errors import InputError, WeightsUnavailableError
    from .body_files import save_body
    from .body_models import get_body_model
    from .fit import fit_body

    try:
        get_body_model(args.backend)  # an unknown or unavailable body model is a usage error
    except (ValueError, WeightsUnavailableError) as exc:
        parser.error(str(exc))

    out_root = Path(args.output)
    failed = 0
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
            save_body(fit, out_root / name)
        except (InputError, OSError) as exc:
            failed += 1
            print(f"skipped {source}: {exc}", file=sys.stderr)
            continue
        e = fit.errors
        print(
            f"{name}: landmark error {e['landmark_error_pct']:.1f}% of height, silhouette IoU "
            f"{e['silhouette_iou']:.2f}, {time.perf_counter() - t0:.1f}s -> {out_root / name}"
        )
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
