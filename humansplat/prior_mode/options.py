"""The options of prior mode a user may want to set."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PriorOptions"]


@dataclass
class PriorOptions:
    """Options of prior-mode reconstruction; the defaults are what the CLI and the app run.

    The fields trade time against detail. Every other quantity of prior mode (Gaussian sizes, wall
    spacing, garment and hole thresholds, ...) is a named constant next to the code that uses it, with
    its unit and reason: tuned on the benchmark subjects (``docs/benchmarks.md``), not a choice.

    Attributes:
        resolution: grid side of the visible layer in pixels (one Gaussian per foreground pixel);
            None = the crop's size capped at 512.
        geometry_resolution: grid side on which depths are filled (the harmonic solves), pixels.
        back_resolution: grid side of the unseen (back) layer and of the side walls, pixels.
        colour_iterations: colour-correction passes against the input view (0 = off; each pass is one
            render of the input view).
    """

    resolution: int | None = None
    geometry_resolution: int = 256
    back_resolution: int = 256
    colour_iterations: int = 2

    def __post_init__(self) -> None:
        for name in ("geometry_resolution", "back_resolution"):
            if int(getattr(self, name)) < 8:
                raise ValueError(f"PriorOptions.{name} must be >= 8 pixels, got {getattr(self, name)!r}")
        if self.resolution is not None and int(self.resolution) < 8:
            raise ValueError(f"PriorOptions.resolution must be >= 8 pixels or None, got {self.resolution!r}")
