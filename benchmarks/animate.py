"""Benchmark of the animatable avatar: re-posing speed, animation video, rigged .glb, cloth tearing.

Builds the project's synthetic person (seed 0) in prior mode, binds it, and measures on this CPU:

* binding and re-posing time per frame for ``--gaussians`` Gaussians (default 100k: the avatar's
  Gaussians repeated with 2 mm jitter), skinning only (transforms given) and with the body model's
  bone transforms for a batched motion;
* the animation video (``walk``, one cycle at 24 fps, ``--resolution`` px, camera turning 360 deg);
* the rigged ``.glb`` (size, write time);
* tearing: pairs of neighbouring Gaussians (closer than 1.5 cm in the bind pose) below the crotch
  that end up more than 3 cm further apart in any frame of the walk, with the between-the-legs cloth
  blend and without it (``--photo`` adds a real photo through the pipeline; only numbers are printed).

Writes a strip of frames (t_pose, walk, wave, turn) to ``--strip`` (a PNG of the synthetic person).

Usage (from the repository root)::

    python benchmarks/animate.py
    python benchmarks/animate.py --photo ../shared/photos/fullbody/F01_dress.jpg --strip docs/images/animate_strip.png
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


def tear_fraction(avatar, motion: str = "walk", frames: int = 12, near_m: float = 0.015, tear_m: float = 0.03) -> float:
    """Fraction of neighbouring Gaussian pairs below the crotch (hands and arms left out) torn apart
    (> tear_m further apart than in the bind pose) in any of ``frames`` frames of ``motion``."""
    from scipy.spatial import cKDTree

    from humansplat.animate import get_motion, repose
    from humansplat.animate.bind import _arm_root, _hip_names, _model_axis

    rig = avatar.rig
    means = avatar.gaussians.means.numpy()
    down = _model_axis(rig)[1]
    hips = [rig.joint_names.index(n) for n in _hip_names(rig)]
    crotch = rig.bind_poses[hips, :3, 3].mean(0).numpy() + 0.08 * down
    arm_bones = torch.tensor(sorted(set(rig.descendants(_arm_root(rig, "L"))) | set(rig.descendants(_arm_root(rig, "R")))))
    arm_share = (avatar.weights * torch.isin(avatar.bones, arm_bones)).sum(1).numpy()
    cloth = (((means - crotch) @ down) > 0) & (arm_share < 0.1)  # below the crotch, not a hand or arm
    pairs = cKDTree(means).query_pairs(near_m, output_type="ndarray")
    pairs = pairs[cloth[pairs[:, 0]] & cloth[pairs[:, 1]]]
    if len(pairs) == 0:
        return 0.0
    d0 = np.linalg.norm(means[pairs[:, 0]] - means[pairs[:, 1]], axis=1)
    torn = np.zeros(len(pairs), dtype=bool)
    _, poses = get_motion(motion).sample(frames, avatar.rig.backend)
    for g in repose(avatar, poses):
        m = g.means.numpy()
        torn |= np.linalg.norm(m[pairs[:, 0]] - m[pairs[:, 1]], axis=1) - d0 > tear_m
    return float(torn.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gaussians", type=int, default=100_000)
    ap.add_argument("--resolution", type=int, default=384, help="video frame side in pixels")
    ap.add_argument("--size", type=int, default=512, help="synthetic photo side in pixels")
    ap.add_argument("--photo", type=Path, default=None, help="also measure tearing on this photo (prior mode)")
    ap.add_argument("--strip", type=Path, default=None, help="write a strip of frames (PNG) here")
    args = ap.parse_args()

    from humansplat.animate import BindOptions, bind, get_motion, render_animation, repose, save_animation_video, save_rigged_glb, skin_gaussians
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.prior_mode.build import gaussians_from_prior

    out: dict[str, float] = {}
    fit = make_synthetic_person(seed=0, size=args.size).as_body_fit()
    gaussians = gaussians_from_prior(fit)
    out["avatar_gaussians"] = len(gaussians)
    t = time.perf_counter()
    avatar = bind(gaussians, fit)
    out["bind_s"] = time.perf_counter() - t

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

    out["tear_synthetic_blend"] = tear_fraction(avatar)
    out["tear_synthetic_no_blend"] = tear_fraction(bind(gaussians, fit, BindOptions(cloth_blend=False)))
    if args.photo is not None:
        from humansplat.api import reconstruct

        res = reconstruct(args.photo, mode="prior", frames=0, resolution=256)
        out["photo_gaussians"] = len(res.gaussians)
        out["tear_photo_blend"] = tear_fraction(bind(res.gaussians, res.body_fit))
        out["tear_photo_no_blend"] = tear_fraction(bind(res.gaussians, res.body_fit, BindOptions(cloth_blend=False)))

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


if __name__ == "__main__":
    main()
