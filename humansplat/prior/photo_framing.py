"""How much of the person a photo shows: full body, half body, head and shoulders, or face only.

Read from which MediaPipe Pose landmarks the photo holds (confidence > 0: visible enough and inside
the photo, see :func:`humansplat.prior.person.detect_person`), from the feet up:

* ``"full body"``: an ankle, heel or toe is in the photo;
* ``"half body"``: no foot, but a hip is (a photo cut between the feet and the waist);
* ``"head and shoulders"``: no hip, but a shoulder is (a portrait or selfie cut above the waist);
* ``"face only"``: neither hips nor shoulders (a close-up of the face).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["FRAMINGS", "Framing", "is_close_up", "photo_framing"]

Framing = Literal["full body", "half body", "head and shoulders", "face only"]
FRAMINGS: tuple[Framing, ...] = ("full body", "half body", "head and shoulders", "face only")

_FEET = (27, 28, 29, 30, 31, 32)  # ankles, heels, toes (MediaPipe Pose)
_HIPS = (23, 24)
_SHOULDERS = (11, 12)


def photo_framing(confidence: np.ndarray) -> Framing:
    """The framing of a photo from its body landmarks' confidences.

    Args:
        confidence: (33,) MediaPipe Pose confidences; 0 for a landmark that is hidden or outside the
            photo.
    """
    seen = np.asarray(confidence) > 0
    if seen[list(_FEET)].any():
        return "full body"
    if seen[list(_HIPS)].any():
        return "half body"
    if seen[list(_SHOULDERS)].any():
        return "head and shoulders"
    return "face only"


def is_close_up(framing: Framing | None) -> bool:
    """Whether a photo of this framing shows the person from the waist up or less (half body, head and
    shoulders, face only); False for a full body and for an unknown framing (None)."""
    return framing is not None and framing != "full body"
