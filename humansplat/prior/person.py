"""The person in a photo: segmentation, landmarks and the square crop the later stages use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..cameras import Cameras
from .landmarks import Landmarks


@dataclass
class PersonCrop:
    """The person, recentred and cropped to a square, with the crop's exact camera.

    Attributes:
        rgb: (S, S, 3) uint8, the crop (background composited to white outside the mask).
        mask: (S, S) float32 in [0, 1], person mask (an alpha channel in the file wins over prediction).
        camera: one-view :class:`Cameras` of the crop, S x S pixels (world = the input camera frame).
        landmarks: the person's landmarks in crop pixels.
        people_found: how many people were detected (the largest one is used).
        cut_off: sides of the original photo the person touches ("top", "bottom", "left", "right").
        notes: messages for the user (several people, cut off, alpha used, ...).
    """

    rgb: np.ndarray
    mask: np.ndarray
    camera: Cameras
    landmarks: Landmarks
    people_found: int = 1
    cut_off: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.rgb.shape[0])
