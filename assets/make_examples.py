"""Write the app's example photos: renders of the project's own synthetic people (no third-party images).

Usage (from the repository root)::

    python assets/make_examples.py            # -> assets/examples/synthetic_<seed>_<framing>.png

Each PNG is :func:`humansplat.prior.synthetic.make_synthetic_person`'s crop (a posed, shaped ``anny``
body rendered on white), saved as an optimised 8-bit palette-free RGB PNG (a few tens of kB).
Deterministic: the same seeds give the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = (  # (seed, framing): two whole bodies (different clothes, poses), a half body
    (0, "full"),
    (7, "full"),
    (2, "half"),
)


def make_examples(out_dir: Path, size: int = 512) -> list[Path]:
    """Render the examples into ``out_dir`` (created); returns the paths written."""
    from PIL import Image

    from humansplat.prior.synthetic import make_synthetic_person

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for seed, framing in EXAMPLES:
        person = make_synthetic_person(seed=seed, size=size, framing=framing)
        path = out_dir / f"synthetic_{seed}_{framing}.png"
        Image.fromarray(person.crop.rgb).save(path, optimize=True)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "examples")
    parser.add_argument("--size", type=int, default=512, help="side of each square PNG in pixels")
    args = parser.parse_args()
    for path in make_examples(args.out, args.size):
        print(f"{path} ({path.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
