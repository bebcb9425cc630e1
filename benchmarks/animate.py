"""Benchmark of the animatable avatar: re-posing speed, animation video, rigged .glb, cloth tearing.

Builds the project's synthetic person (seed 0) in prior mode, binds it, and measures on this CPU:

* binding and re-posing time per frame for ``--gaussians`` Gaussians (default 100k: the avatar's
  Gaussians repeated with 2 mm jitter), skinning only (transforms given) and with the body model's
  bone transforms for a batched motion;
* the animation video (``walk``, one cycle at 24 fps, ``--resolution`` px, camera turning 360 deg);
* the rigged ``.glb`` (size, write time);
* tearing (:mod:`humansplat.animate.tears`): per motion (walk, wave), the share of Gaussians whose
  distance to one of their 8 nearest rest-pose neighbours grows by more than 3 cm in some frame (all
  neighbours; same-region neighbours: tears; other-region neighbours: contacts released) and the
  largest stretch factor of any splat, before (nearest skin of the whole body) and after (body
  regions), on the synthetic person, on the built-in people with contacts
  (:data:`humansplat.animate.people.CONTACT_PEOPLE`) and on every ``--photos`` image through prior
  mode (only numbers are printed; ``--frames-dir`` writes side views of walk frames before/after).

Writes a strip of frames (t_pose, walk, wave, turn) to ``--strip`` (a PNG of the synthetic person).

Usage (from the repository root)::

    python benchmarks/animate.py
    python benchmarks/animate.py --photos ../shared/photos/fullbody/*.jpg --strip docs/images/animate_strip.png
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def _repeat(avatar, n: int, seed: int = 0):
    """The avatar's Gaussians and weights repeated (with 2 mm jitter) to exactly n."""
    from humansplat.animate import BoundAvatar

    g = avatar.gaussians
    idx = torch.arange(n) % len(g)
    gen = torch.Generator().manual_seed(seed)
    big = g[idx]
    big = replace(big, means=big.means + 0.002 * torch.randn(n, 3, generator=gen))
    return BoundAvatar(big, avatar.weights[idx], avatar.bones[idx], avatar.rig)


def tear_table(gaussians, fit, motions: tuple[str, ...], frames: int) -> dict[str, dict[str, float]]:
    """Tear measure (:func:`humansplat.animate.tear_stats`) of the binding before (nearest skin of
    the whole body, cloth blend below the crotch) and after (regions), per motion; both split by the
    regions of the binding after, so their shares compare."""
    from humansplat.animate import REGION_NAMES, BindOptions, bind, tear_stats

    t = time.perf_counter()
    after = bind(gaussians, fit)
    bind_s = time.perf_counter() - t
    before = bind(gaussians, fit, BindOptions(regions=False))
    out: dict[str, dict[str, float]] = {"bind": {"s": round(bind_s, 2), "gaussians": len(gaussians)}}
    out["regions"] = {name: int((after.regions == k).sum()) for k, name in enumerate(REGION_NAMES)}
    for m in motions:
        for tag, av in (("before", before), ("after", after)):
            out[f"{m}_{tag}"] = tear_stats(av, m, frames=frames, regions=after.regions).summary()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gaussians", type=int, default=100_000)
    ap.add_argument("--resolution", type=int, default=384, help="video frame side in pixels")
    ap.add_argument("--size", type=int, default=512, help="synthetic photo side in pixels")
    ap.add_argument("--photos", type=Path, nargs="*", default=[], help="also measure tearing on these photos (prior mode)")
    ap.add_argument("--tear-frames", type=int, default=12, help="frames per motion for the tear measure")
    ap.add_argument("--contact-size", type=int, default=192, help="side of the contact people's photos (pixels)")
    ap.add_argument("--frames-dir", type=Path, default=None, help="write walk/wave frames before/after (PNG) here")
    ap.add_argument("--skip-speed", action="store_true", help="only the tear measure")
    ap.add_argument("--strip", type=Path, default=None, help="write a strip of frames (PNG) here")
    args = ap.parse_args()

    from humansplat.animate import (
        bind,
        get_motion,
        render_animation,
        repose,
        save_animation_video,
        save_rigged_glb,
        skin_gaussians,
    )
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.prior_mode.build import gaussians_from_prior

    out: dict[str, float] = {}
    fit = make_synthetic_person(seed=0, size=args.size).as_body_fit()
    gaussians = gaussians_from_prior(fit)
    out["avatar_gaussians"] = len(gaussians)
    t = time.perf_counter()
    avatar = bind(gaussians, fit)
    out["bind_s"] = time.perf_counter() - t

    if not args.skip_speed:
        big = _repeat(avatar, args.gaussians)
        t = time.perf_counter()
        bind(big.gaussians, fit)
        out["bind_100k_s"] = time.perf_counter() - t
        _, poses = get_motion("walk").sample(24, big.rig.backend)
        transforms = big.rig.skin_transforms(poses)
        skin_gaussians(big, transforms[0])  # warm-up
        t = time.perf_counter()
        for T in transforms:
            skin_gaussians(big, T)
        out["repose_skin_ms_per_frame"] = 1000 * (time.perf_counter() - t) / len(transforms)
        t = time.perf_counter()
        repose(big, poses)
        out["repose_with_bones_ms_per_frame"] = 1000 * (time.perf_counter() - t) / len(poses)

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            video = save_animation_video(avatar, "walk", Path(tmp) / "walk.mp4", fps=24, resolution=args.resolution)
            out["video_walk_s"] = time.perf_counter() - t
            out["video_frames"] = round(get_motion("walk").duration_s * 24)
            out["video_mb"] = video.stat().st_size / 1e6
            t = time.perf_counter()
            glb = save_rigged_glb(avatar, Path(tmp) / "avatar.glb", body_fit=fit)
            out["glb_s"] = time.perf_counter() - t
            out["glb_mb"] = glb.stat().st_size / 1e6

    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}), flush=True)
    tears: dict[str, dict] = {"synthetic": tear_table(gaussians, fit, ("walk", "wave"), args.tear_frames)}
    print("synthetic", json.dumps(tears["synthetic"]), flush=True)
    from humansplat.animate.people import CONTACT_PEOPLE, make_contact_person

    for name in CONTACT_PEOPLE:
        person = make_contact_person(name, args.contact_size)
        g = gaussians_from_prior(person)
        tears[name] = tear_table(g, person, ("walk", "wave"), args.tear_frames)
        _frames(args.frames_dir, name, g, person)
        print(name, json.dumps(tears[name]), flush=True)
    for photo in args.photos:
        from humansplat.api import reconstruct

        res = reconstruct(photo, mode="prior", frames=0, resolution=256)
        tears[photo.stem] = tear_table(res.gaussians, res.body_fit, ("walk", "wave"), args.tear_frames)
        _frames(args.frames_dir, photo.stem, res.gaussians, res.body_fit)
        print(photo.stem, json.dumps(tears[photo.stem]), flush=True)

    if args.strip is not None:
        from PIL import Image

        rows = []
        for name, azimuth in (("t_pose", 0.0), ("walk", 60.0), ("wave", 0.0), ("turn", 0.0)):
            frames = render_animation(avatar, name, frames=6, resolution=160, camera_turn_deg=0.0, start_azimuth_deg=azimuth)
            rows.append(np.concatenate([f[8:-8, 8:-8] for f in frames], axis=1))
        args.strip.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, axis=0)).quantize(64).save(args.strip, optimize=True)
        out["strip_kb"] = args.strip.stat().st_size / 1e3

    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}, indent=1))
    print(json.dumps(tears, indent=1))


def _frames(folder: Path | None, name: str, gaussians, fit) -> None:
    """Walk frames from the front and the side and wave frames from the front, before (top rows) and
    after (bottom rows), as one PNG ``<folder>/<name>_frames.png``."""
    if folder is None:
        return
    from PIL import Image

    from humansplat.animate import BindOptions, bind, render_animation

    rows = []
    for options in (BindOptions(regions=False), BindOptions()):
        avatar = bind(gaussians, fit, options)
        for motion, azimuth in (("walk", 0.0), ("walk", 90.0), ("wave", 0.0)):
            frames = render_animation(avatar, motion, frames=6, resolution=192, camera_turn_deg=0.0, start_azimuth_deg=azimuth)
            rows.append(np.concatenate(list(frames), axis=1))
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(folder / f"{name}_frames.png")


if __name__ == "__main__":
    main()
