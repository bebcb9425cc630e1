"""How much of the person a photo shows (humansplat.prior.photo_framing), from the landmarks it holds."""

from __future__ import annotations

import numpy as np
import pytest

from humansplat.prior.photo_framing import FRAMINGS, photo_framing


def _seen(*indices: int) -> np.ndarray:
    conf = np.zeros(33, np.float32)
    conf[list(indices)] = 0.9
    return conf


def test_framing_from_the_landmarks_the_photo_holds():
    face = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert photo_framing(_seen(*face, 11, 12, 23, 24, 25, 26, 27, 28)) == "full body"
    assert photo_framing(_seen(*face, 11, 12, 23, 24, 25, 31)) == "full body"  # one toe is enough
    assert photo_framing(_seen(*face, 11, 12, 13, 14, 23, 24, 25, 26)) == "half body"
    assert photo_framing(_seen(*face, 11, 12, 13, 14)) == "head and shoulders"
    assert photo_framing(_seen(*face)) == "face only"
    assert set(FRAMINGS) == {"full body", "half body", "head and shoulders", "face only"}


@pytest.mark.parametrize(
    ("keep_rows", "expected"), [(1.0, "full body"), (0.48, "half body"), (0.38, "head and shoulders")]
)
def test_framing_of_rendered_photos_cut_at_the_hips_and_the_chest(keep_rows, expected):
    """The built-in textured person (standing, 85 % of a 512 px photo's height) with the photo cut off
    below: whole, at the hips (hips in, knees and feet out), at the chest (shoulders in, hips out)."""
    from humansplat.eval import builtin_subjects
    from humansplat.eval.harness import make_input_view
    from humansplat.io.images import load_photo
    from humansplat.prior.person import detect_person

    photo = make_input_view(builtin_subjects(["jacket"])[0], 0.0, 512).photo
    cut = np.ascontiguousarray(photo[: round(keep_rows * photo.shape[0])])
    crop = detect_person(load_photo(cut))
    assert crop.framing == expected
