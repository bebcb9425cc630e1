"""Benchmark of photo intake and person detection, and of refusing / decoding very large files.

For every photo under ``../shared/photos`` (searched recursively; skipped when absent), best of
``--repeats``: :func:`humansplat.io.images.load_photo`, and
:func:`humansplat.prior.person.detect_person` without and with Face Mesh + Hands. MediaPipe's models
load (and are timed) once before. Then, each in a fresh process, the peak resident set size and time
of: refusing a PNG that declares 20000 x 20000 pixels, and decoding a 10000 x 10000 (100 MP) PNG.
Prints Markdown tables.

Usage (from the repository root)::

    python benchmarks/intake.py
    python benchmarks/intake.py --photos /path/to/photos --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO.parent / "shared" / "photos"
sys.path.insert(0, str(REPO))

_MEMORY_PROBE = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
from humansplat.errors import InputError
from humansplat.io.images import load_photo
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    photo = load_photo(sys.argv[1]); outcome = f"decoded {photo.width}x{photo.height}"
except InputError as exc:
    outcome = "refused: " + str(exc)[:60]
seconds = time.perf_counter() - t
print(f"{outcome}|{seconds:.3f}|{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}|{base / 1024:.0f}")
"""


def _best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` RGB pixels but holds one row (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(1 + 3 * width))) + chunk(b"IEND", b"")


def _memory_rows(folder: Path) -> list[tuple[str, str, str, str, str]]:
    import numpy as np
    from PIL import Image

    bomb = folder / "bomb_20000.png"
    bomb.write_bytes(_png_header(20_000, 20_000))
    big = folder / "big_100mp.png"
    y, x = np.mgrid[0:10_000, 0:10_000]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)).save(big, compress_level=1)
    rows = []
    for label, path in (("PNG declaring 20000x20000", bomb), ("10000x10000 PNG (100 MP)", big)):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, str(path), str(REPO)], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1]
        outcome, seconds, peak, base = out.split("|")
        rows.append((label, outcome, seconds, peak, base))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, default=SHARED_PHOTOS, help="folder of photos (searched recursively)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs per photo (default 3)")
    args = p.parse_args(argv)

    from humansplat.errors import InputError
    from humansplat.io.images import load_photo
    from humansplat.prior.person import detect_person

    photos = sorted(f for f in args.photos.rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")) \
        if args.photos.is_dir() else []
    if photos:
        t = time.perf_counter()
        detect_person(load_photo(photos[0]))  # MediaPipe's models load here
        print(f"model load + first call: {time.perf_counter() - t:.2f} s")
    steps: dict[str, list[float]] = {"load photo": [], "`detect_person` without face/hands": [],
                                     "`detect_person` with Face Mesh + Hands": []}
    for path in photos:
        try:
            photo = load_photo(path)
            steps["load photo"].append(_best(lambda: load_photo(path), args.repeats))
            steps["`detect_person` without face/hands"].append(
                _best(lambda: detect_person(photo, face_and_hands=False), args.repeats))
            steps["`detect_person` with Face Mesh + Hands"].append(_best(lambda: detect_person(photo), args.repeats))
        except InputError as exc:
            print(f"skipped {path.name}: {exc}")
    if photos:
        print(f"\n{len(steps['load photo'])} photos of {args.photos}, best of {args.repeats} per photo\n")
        print("| step | median | max |\n|---|---|---|")
        for step, times in steps.items():
            if times:
                print(f"| {step} | {1000 * statistics.median(times):.0f} ms | {1000 * max(times):.0f} ms |")
    else:
        print(f"{args.photos} is absent or empty: photo timings skipped")

    with tempfile.TemporaryDirectory() as tmp:
        rows = _memory_rows(Path(tmp))
    print("\n| file (fresh process) | outcome | seconds | peak RSS MB | RSS after imports MB |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
