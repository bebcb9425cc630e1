"""Benchmark: how often the facing decision is right when the detector behaves as on another processor.

Each built-in subject is photographed turned -60..60 degrees in 5 degree steps (facing the camera)
and, as a control, 120..240 degrees in 20 degree steps (turned away); the photos of
``../shared/photos`` are added when that folder exists (all face the camera but the backflip, which
is reported and not scored). Each detection is then perturbed as another processor's might be
(:func:`humansplat.eval.facing.facing_trials`: every combination of arms, legs and face labels
exchanged, with and without the face mesh, landmark noise of ``--noise`` times the shoulder-to-hip
span) and the decision is checked: the facing and the returned shoulder/hip labels. Prints one
Markdown table (share right, share decided by label-free cues, smallest margin).

    python benchmarks/facing.py [--size 256] [--subjects a,b] [--no-photos] [--noise 0.02] [--repeats 2]
    python benchmarks/facing.py --measure-noise   # how far +-1 grey level of photo noise moves the landmarks
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
UNSCORED = ("F19_backflip",)  # upside down in mid-air: which way it faces is not well defined


def _subject_views(size: int, names: list[str] | None):
    from humansplat.eval import builtin_subjects, make_input_view

    for subject in builtin_subjects(names):
        for az in list(range(-60, 61, 5)) + list(range(120, 241, 20)):
            view = make_input_view(subject, float(az), size)
            yield subject.name, float(az), view.photo, (1 if abs(az) <= 90 else -1)


def _photo_views():
    for path in sorted(PHOTOS.glob("*/*")):
        if path.suffix.lower() not in (".jpg", ".png") or path.stem.startswith("F22m"):
            continue
        truth = None if path.stem in UNSCORED else 1
        yield f"{path.parent.name}/{path.stem}", None, path, truth


def measure_noise(size: int, names: list[str] | None) -> int:
    """What +-1 grey level of photo noise (a rounding difference) does to MediaPipe's landmarks, to its
    labels and to the facing decision, on the built-in subjects turned -60..60 degrees."""
    from humansplat.eval import builtin_subjects, make_input_view
    from humansplat.io.images import load_photo
    from humansplat.prior.mediapipe_detector import detect_pose
    from humansplat.prior.person import detect_person
    from humansplat.prior.sides import CHAINS, torso_span

    swap = np.arange(33)
    for pairs in CHAINS.values():
        for left, right in pairs:
            swap[left], swap[right] = right, left
    rng = np.random.default_rng(0)
    moves, label_flips, facing_flips, margin_moves, n = [], 0, 0, [], 0
    for subject in builtin_subjects(names):
        for az in range(-60, 61, 15):
            photo = make_input_view(subject, float(az), size).photo
            noisy = np.clip(photo.astype(np.int16) + rng.integers(-1, 2, photo.shape), 0, 255).astype(np.uint8)
            a, b = detect_pose(photo), detect_pose(noisy)
            if a is None or b is None:
                continue
            n += 1
            span = torso_span(a.landmarks.astype(np.float64), np.ones(33, bool))
            same = np.linalg.norm(a.landmarks - b.landmarks, axis=1)
            other = np.linalg.norm(a.landmarks - b.landmarks[swap], axis=1)
            label_flips += int((other < same)[[11, 23]].any())
            moves.append(np.minimum(same, other) / span)
            fa, fb = detect_person(load_photo(photo)).facing, detect_person(load_photo(noisy)).facing
            facing_flips += int(fa.facing != fb.facing)
            margin_moves.append(abs(fa.margin - fb.margin))
    m = np.concatenate(moves)
    print(
        f"{n} photos at {size} px, each detected as is and with +-1 grey level of noise:\n"
        f"- landmark movement / shoulder-to-hip span (labels matched): median {np.median(m):.4f}, "
        f"95th percentile {np.percentile(m, 95):.4f}, max {m.max():.4f}\n"
        f"- photos whose shoulder or hip labels were exchanged by the noise: {label_flips}\n"
        f"- photos whose facing decision changed: {facing_flips}; margin change median "
        f"{np.median(margin_moves):.3f}, max {max(margin_moves):.3f}"
    )
    return 0


def _processor() -> str:
    """The processor's model name (the decision's inputs differ between processors)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _pct(trials: list) -> str:
    return f"{100 * sum(t.right for t in trials) / len(trials):.1f} %" if trials else "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="side of the built-in subjects' photos in pixels")
    p.add_argument("--subjects", default=None, help="comma-separated built-in subjects (default: all)")
    p.add_argument("--no-photos", action="store_true", help="skip ../shared/photos")
    p.add_argument("--noise", type=float, default=None, help="landmark noise (default: LANDMARK_NOISE)")
    p.add_argument("--repeats", type=int, default=2, help="noise draws per perturbation")
    p.add_argument("--measure-noise", action="store_true")
    args = p.parse_args(argv)

    from humansplat.eval.facing import LANDMARK_NOISE, facing_trials
    from humansplat.io.images import load_photo
    from humansplat.prior.person import detect_person

    names = None if args.subjects is None else [n.strip() for n in args.subjects.split(",") if n.strip()]
    if args.measure_noise:
        return measure_noise(args.size, names)
    noise = LANDMARK_NOISE if args.noise is None else args.noise
    sources = [_subject_views(args.size, names)]
    if not args.no_photos and PHOTOS.is_dir():
        sources.append(_photo_views())
    groups: dict[str, list] = defaultdict(list)
    detected: dict[str, list[str]] = defaultdict(list)
    for source in sources:
        for name, az, photo, truth in source:
            crop = detect_person(load_photo(photo))
            votes = crop.facing
            label = name if az is None else f"{name} {az:+.0f}"
            as_detected = "right" if truth is None or votes.facing == truth else "WRONG"
            print(
                f"{label}: facing {votes.facing:+d} ({votes.basis}, margin {votes.margin:+.2f}) {as_detected}",
                file=sys.stderr,
                flush=True,
            )
            if truth is None:
                continue
            if az is None:
                group = f"shared photos, {name.split('/')[0]}"
            else:
                group = f"{name} ({'facing' if truth > 0 else 'turned away'})"
            groups[group] += facing_trials(crop.landmarks, truth, noise=noise, repeats=args.repeats)
            detected[group].append(as_detected)
    print(
        f"\nFacing decision, {_processor()}, {args.size} px subjects, "
        f"landmark noise {noise:.3f} x shoulder-to-hip span, {args.repeats} draws per perturbation\n"
    )
    print(
        "| group | photos | right as detected | perturbed trials | right | decided by label-free cues "
        "| right when so decided | smallest margin |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    everything = []
    for group, trials in list(groups.items()) + [("all", None)]:
        if trials is None:
            trials, photos, ok = (
                everything,
                sum(len(v) for v in detected.values()),
                sum(v.count("right") for v in detected.values()),
            )
        else:
            everything += trials
            photos, ok = len(detected[group]), detected[group].count("right")
        sure = [t for t in trials if t.sure]
        print(
            f"| {group} | {photos} | {ok}/{photos} | {len(trials)} | {_pct(trials)} | "
            f"{100 * len(sure) / len(trials):.1f} % | {_pct(sure)} | {min(t.margin for t in trials):+.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
