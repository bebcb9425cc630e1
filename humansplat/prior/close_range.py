"""The field of view of a photo without an EXIF focal length, chosen so that the face has a plausible size.

Without EXIF a photo is assumed to span :data:`~humansplat.io.images.DEFAULT_FOV_DEG` (45 degrees)
across its longer side. For a 3D reconstruction the field of view matters through the distance it
implies: the face's size in pixels (Face Mesh: outer eye corners, forehead to chin) against an adult's
face in metres gives the camera-to-face distance, and that distance sets how strong the perspective is
(how much nearer the nose is than the ears, the shoulders than the chin). Selfies are taken 0.3-0.8 m
away; at 45 degrees a close-up's face lands in that range, but a photo cropped tight around the face
would put it nearer than any camera is held (a face filling the frame: 0.2 m). So when the default
field of view puts the face nearer than :data:`MIN_FACE_DISTANCE_M`, the field of view is narrowed
until the face is that far (a crop of a wider photo has a narrower field of view than its lens).
Photos with EXIF keep theirs; the notes say which was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cameras import focal_to_fov, fov_to_focal

__all__ = ["EYE_SPAN_M", "FACE_LENGTH_M", "MIN_FACE_DISTANCE_M", "CameraChoice", "close_range_fov"]

EYE_SPAN_M = 0.09
"""Outer eye corner to outer eye corner of an adult face (metres; 85-100 mm)."""
FACE_LENGTH_M = 0.18
"""Top of the forehead (Face Mesh point 10) to the chin (point 152) of an adult face (metres)."""
MIN_FACE_DISTANCE_M = 0.3
"""The nearest a camera is held to a face (metres; selfies are taken 0.3-0.8 m away)."""

_OUTER_EYES = (33, 263)  # Face Mesh: right and left outer eye corners
_FOREHEAD, _CHIN = 10, 152


@dataclass(frozen=True)
class CameraChoice:
    """The field of view a photo is reconstructed with and why.

    Attributes:
        fov_deg: field of view across the photo's longer side (degrees).
        source: ``"exif"`` (the photo's focal length), ``"default"`` (45 degrees) or ``"face"`` (narrowed
            so that a tightly cropped face is :data:`MIN_FACE_DISTANCE_M` away).
        face_distance_m: the face's distance from the camera this field of view implies (metres), or
            None without a face.
        note: one sentence for the user, or None (EXIF).
    """

    fov_deg: float
    source: str
    face_distance_m: float | None
    note: str | None


def _pixels_per_metre(face: np.ndarray) -> float:
    """Face Mesh landmarks (468, >= 2) in photo pixels -> pixels per metre at the face (the larger of the
    eye-span and face-length readings: a turned or tilted face shortens one of them)."""
    eyes = float(np.linalg.norm(face[_OUTER_EYES[0], :2] - face[_OUTER_EYES[1], :2])) / EYE_SPAN_M
    length = float(np.linalg.norm(face[_FOREHEAD, :2] - face[_CHIN, :2])) / FACE_LENGTH_M
    return max(eyes, length)


def close_range_fov(
    fov_deg: float, fov_source: str, width: int, height: int, face: np.ndarray | None
) -> CameraChoice:
    """The field of view to reconstruct a ``width`` x ``height`` photo with (module docstring).

    Args:
        fov_deg, fov_source: the photo's own (:class:`~humansplat.io.images.Photo`: ``"exif"`` or
            ``"default"``).
        face: (468, 2 or 3) Face Mesh landmarks in photo pixels, or None.
    """
    longer = max(int(width), int(height))
    if fov_source == "exif":
        return CameraChoice(fov_deg, "exif", None, None)
    if face is None or len(face) < 468:
        note = f"No focal length in the photo's EXIF: a {fov_deg:.0f} degree field of view was assumed."
        return CameraChoice(fov_deg, "default", None, note)
    px_per_m = _pixels_per_metre(np.asarray(face, dtype=np.float64))
    distance = fov_to_focal(fov_deg, longer) / max(px_per_m, 1e-6)
    if distance >= MIN_FACE_DISTANCE_M:
        note = (
            f"No focal length in the photo's EXIF: a {fov_deg:.0f} degree field of view was assumed "
            f"(the face is then {distance:.2f} m from the camera)."
        )
        return CameraChoice(fov_deg, "default", distance, note)
    narrow = focal_to_fov(MIN_FACE_DISTANCE_M * px_per_m, longer)
    note = (
        f"No focal length in the photo's EXIF, and the face fills much of it: a {narrow:.0f} degree field of view "
        f"was assumed, which puts the face {MIN_FACE_DISTANCE_M:.2f} m from the camera ({fov_deg:.0f} degrees "
        f"would put it {distance:.2f} m away, nearer than a camera is held)."
    )
    return CameraChoice(narrow, "face", MIN_FACE_DISTANCE_M, note)
