"""Photo intake: any image file or array -> :class:`Photo` (RGB + optional alpha), with clear errors.

Pixel convention: :mod:`humansplat.cameras`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Photo:
    """A decoded photo, ready for the structure prior.

    Attributes:
        rgb: (H, W, 3) uint8, sRGB, EXIF orientation applied.
        alpha: (H, W) uint8 alpha channel when the file had one (255 = opaque), else None.
        source: file name or a short description of where it came from.
        original_size: (width, height) of the file before any downscaling.
        notes: what intake did that the user should know (downscaled, first frame of an animation, ...).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    source: str = "array"
    original_size: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])
