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
    ("keep_rows", "expected"),
    [(1.0, "full body"), (0.7, "half body"), (0.48, "half body"), (0.38, "head and shoulders"), (0.3, "head and shoulders")],
)
def test_framing_of_rendered_photos_cut_off_below(keep_rows, expected):
    """The built-in textured person (standing, 85 % of a 512 px photo's height) with the photo cut off
    below: whole, at the thighs and at the hips (hips in, feet out), at the chest and at the neck
    (shoulders in, hips out). Pose's detector alone finds nobody in the photos cut at the thighs and at
    the neck: the second look with the border repeated around the photo finds the person."""
    from humansplat.eval import builtin_subjects
    from humansplat.eval.harness import make_input_view
    from humansplat.io.images import load_photo
    from humansplat.prior.person import detect_person

    photo = make_input_view(builtin_subjects(["jacket"])[0], 0.0, 512).photo
    cut = np.ascontiguousarray(photo[: round(keep_rows * photo.shape[0])])
    crop = detect_person(load_photo(cut))
    assert crop.framing == expected


def test_second_look_maps_the_detection_back_to_the_photo(monkeypatch):
    """Pose finds nobody in the photo and someone in the photo with its border repeated around it: the
    landmarks and the mask come back in the photo's own pixels."""
    from humansplat.prior import mediapipe_detector, person

    image = np.zeros((40, 60, 3), np.uint8)
    seen_shapes = []

    def fake_detect_pose(rgb):
        seen_shapes.append(rgb.shape[:2])
        if rgb.shape[:2] == image.shape[:2]:
            return None
        m = (rgb.shape[0] - image.shape[0]) // 2
        mask = np.zeros(rgb.shape[:2], np.float32)
        mask[m + 5, m + 7] = 1.0  # photo pixel (row 5, column 7)
        points = np.full((33, 2), [m + 7.5, m + 5.5], np.float32)
        return mediapipe_detector.PoseDetection(points, np.ones(33, np.float32), None, mask)

    monkeypatch.setattr(mediapipe_detector, "detect_pose", fake_detect_pose)
    det = person._detect_pose_retrying(image)
    assert seen_shapes == [(40, 60), (58, 78)]  # the photo, then 0.15 x 60 = 9 px around it
    np.testing.assert_allclose(det.landmarks, np.full((33, 2), [7.5, 5.5]))
    assert det.mask.shape == (40, 60) and det.mask[5, 7] == 1.0 and det.mask.sum() == 1.0
