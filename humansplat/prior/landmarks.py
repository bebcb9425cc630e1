"""2D landmarks of one person in one image (MediaPipe topology), in pixels; the face's with their depth.

Pixel convention: :mod:`humansplat.cameras` (continuous, pixel centres at +0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

POSE_LANDMARK_COUNT = 33  # MediaPipe Pose (BlazePose) topology
FACE_LANDMARK_COUNT = 468  # MediaPipe Face Mesh (without iris refinement)
HAND_LANDMARK_COUNT = 21  # MediaPipe Hands

# Face Mesh's points by what they are on the face (indices into the 468; "left" is the person's left).
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
"""The face's outline in order around it, from the top of the forehead (10) over the person's left
side (454), the chin (152) and the right side (234)."""
FACE_NOSE_TIP = 4
"""The tip of the nose: the point nearest the camera in a frontal face."""
FACE_CHEEKS: tuple[int, ...] = (205, 425, 36, 266)
"""Points on the cheeks beside the nose at the nostrils' height (the person's right, left; twice): Face
Mesh's canonical face has the tip of the nose 3.3 cm in front of them."""


@dataclass
class Landmarks:
    """Landmarks of one person.

    Attributes:
        body: (33, 2) float32 pixel coordinates (u, v) in MediaPipe Pose order.
        body_confidence: (33,) float32 in [0, 1]; 0 for landmarks that are occluded, out of frame
            or unknown (the fit ignores them).
        face: (468, 3) float32 (u, v, z) pixels, or None when no face was found. ``z`` is Face Mesh's
            depth relative to the face's centre, negative towards the camera, in pixels of the same
            scale as u (times depth / focal length: metres). (468, 2) arrays (no depth) are accepted.
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

    def transformed(self, scale: float, offset_u: float, offset_v: float) -> Landmarks:
        """Landmarks after the image is shifted by (-offset) and scaled: ``p' = (p - offset) * scale``
        (a face's depth z, in pixels, is scaled too)."""

        def f(p: np.ndarray | None) -> np.ndarray | None:
            if p is None:
                return None
            offset = np.zeros(p.shape[-1], dtype=np.float32)
            offset[:2] = offset_u, offset_v
            return ((p - offset) * scale).astype(np.float32)

        return replace(self, body=f(self.body), face=f(self.face), left_hand=f(self.left_hand), right_hand=f(self.right_hand))
