"""2D landmarks of one person in one image (MediaPipe topology), in pixels.

Pixel convention: :mod:`humansplat.cameras` (continuous, pixel centres at +0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

POSE_LANDMARK_COUNT = 33  # MediaPipe Pose (BlazePose) topology
FACE_LANDMARK_COUNT = 468  # MediaPipe Face Mesh (without iris refinement)
HAND_LANDMARK_COUNT = 21  # MediaPipe Hands


@dataclass
class Landmarks:
    """Landmarks of one person.

    Attributes:
        body: (33, 2) float32 pixel coordinates (u, v) in MediaPipe Pose order.
        body_confidence: (33,) float32 in [0, 1]; 0 for landmarks that are occluded, out of frame
            or unknown (the fit ignores them).
        face: (468, 2) float32 pixels, or None when no face was found.
        left_hand, right_hand: (21, 2) float32 pixels, or None (the person's left/right).
        body_world: (33, 3) float32 metres, MediaPipe Pose's hip-centred 3D landmarks (x right, y down,
            z away from the camera, roughly; unchanged by image transforms), or None.
    """

    body: np.ndarray
    body_confidence: np.ndarray
    face: np.ndarray | None = None
    left_hand: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    body_world: np.ndarray | None = None

    def transformed(self, scale: float, offset_u: float, offset_v: float) -> "Landmarks":
        """Landmarks after the image is shifted by (-offset) and scaled: ``p' = (p - offset) * scale``."""

        def f(p: np.ndarray | None) -> np.ndarray | None:
            if p is None:
                return None
            return ((p - np.array([offset_u, offset_v], dtype=np.float32)) * scale).astype(np.float32)

        return replace(self, body=f(self.body), face=f(self.face), left_hand=f(self.left_hand), right_hand=f(self.right_hand))
