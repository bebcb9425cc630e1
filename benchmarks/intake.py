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
import sys, time
sys.path.insert(0, sys.argv[2])
from humansplat.errors import InputError
from humansplat.io.images import load_photo
def hwm_mb():  # this process's peak resident set (VmHWM: reset by exec, unlike ru_maxrss)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
base = hwm_mb()
t = time.perf_counter()
try:
    photo = load_photo(sys.argv[1]); outcome = f"decoded {photo.width}x{photo.height}"
except InputError as exc:
    outcome = "refused: " + str(exc)[:60]
seconds = time.perf_counter() - t
print(f"{outcome}|{seconds:.3f}|{hwm_mb():.0f}|{base:.0f}")
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
    ramp = np.arange(10_000, dtype=np.uint8)  # wraps at 256: stripes
    rgb = np.empty((10_000, 10_000, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = ramp[None, :], ramp[:, None], 128
    Image.fromarray(rgb).save(big, compress_level=1)
    del rgb
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
    p.add_argument("--memory-only", action="store_true", help="only the large-file rows")
    args = p.parse_args(argv)

    from humansplat.errors import InputError
    from humansplat.io.images import load_photo
    from humansplat.prior.person import detect_person

    photos = sorted(f for f in args.photos.rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")) \
        if args.photos.is_dir() and not args.memory_only else []
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
    elif not args.memory_only:
        print(f"{args.photos} is absent or empty: photo timings skipped")

    with tempfile.TemporaryDirectory() as tmp:
        rows = _memory_rows(Path(tmp))
    print("\n| file (fresh process) | outcome | seconds | peak RSS (VmHWM) MB | after imports MB |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
