"""Re-export of :mod:`humansplat.parts` (the body part names live in the foundations)."""

from __future__ import annotations

from ..parts import PART_COLORS, PART_NAMES, PART_WEIGHTS, part_color_table

__all__ = ["PART_COLORS", "PART_NAMES", "PART_WEIGHTS", "part_color_table"]
