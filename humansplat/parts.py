"""Semantic body parts shared by the body models, the mesh renderer, the hierarchical loss and the overlays."""

from __future__ import annotations

import numpy as np

__all__ = ["PART_COLORS", "PART_NAMES", "PART_WEIGHTS", "part_color_table"]

PART_NAMES: tuple[str, ...] = ("head", "face", "hands", "arms", "torso", "legs", "feet")
"""Index i of this tuple is part label i in every ``parts`` array (per-vertex int64 labels)."""

PART_WEIGHTS: dict[str, float] = {"head": 2.0, "face": 2.0, "hands": 2.0, "arms": 2.0, "torso": 1.0, "legs": 1.0, "feet": 1.0}
"""Weights of the hierarchical, semantics-guided loss (the paper: 2 for head/face, hands, arms; 1 else)."""

PART_COLORS: dict[str, tuple[int, int, int]] = {
    "head": (141, 90, 151),
    "face": (247, 178, 103),
    "hands": (242, 95, 92),
    "arms": (255, 224, 102),
    "torso": (36, 123, 160),
    "legs": (112, 193, 179),
    "feet": (80, 81, 79),
}
"""RGB colour of each part in overlays (uint8)."""


def part_color_table() -> np.ndarray:
    """(len(PART_NAMES), 3) float64 colours in [0, 1] of the parts (from ``PART_COLORS``)."""
    return np.array([PART_COLORS[name] for name in PART_NAMES], dtype=np.float64) / 255.0
