"""The field of view without EXIF: a face filling the photo is put at the nearest distance a camera is held;
EXIF and plausible faces keep theirs; the notes say which was used."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from humansplat.io.images import DEFAULT_FOV_DEG, load_photo
from humansplat.prior.close_range import EYE_SPAN_M, MIN_FACE_DISTANCE_M, close_range_fov


def _face(eye_span_px: float, centre=(500.0, 400.0)) -> np.ndarray:
    """Face Mesh-shaped landmarks: outer eye corners ``eye_span_px`` apart, forehead-to-chin 2 x that."""
    face = np.tile(np.asarray(centre, np.float32), (468, 1))
    face[33] = (centre[0] - eye_span_px / 2, centre[1])
    face[263] = (centre[0] + eye_span_px / 2, centre[1])
    face[10] = (centre[0], centre[1] - 0.9 * eye_span_px)
    face[152] = (centre[0], centre[1] + 0.9 * eye_span_px)  # 1.8 x the span, less than 0.18 / 0.09
    return face


def _distance(fov_deg: float, longer: int, eye_span_px: float) -> float:
    return 0.5 * longer / math.tan(math.radians(fov_deg) / 2) * EYE_SPAN_M / eye_span_px


def test_a_face_filling_the_photo_without_exif_is_put_at_the_nearest_distance_a_camera_is_held():
    # 1000 px photo, outer eye corners 450 px apart: at 45 degrees the face would be 0.24 m away
    near = _distance(DEFAULT_FOV_DEG, 1000, 450.0)
    assert near < MIN_FACE_DISTANCE_M
    lens = close_range_fov(DEFAULT_FOV_DEG, "default", 1000, 800, _face(450.0))
    assert lens.source == "face" and lens.fov_deg < DEFAULT_FOV_DEG
    assert lens.face_distance_m == MIN_FACE_DISTANCE_M
    assert _distance(lens.fov_deg, 1000, 450.0) == pytest.approx(MIN_FACE_DISTANCE_M, rel=1e-3)
    assert f"{lens.fov_deg:.0f} degree" in lens.note and f"{near:.2f} m" in lens.note
    # a selfie's face (0.36 m at 45 degrees) is plausible: the default stays and the note gives the distance
    selfie = close_range_fov(DEFAULT_FOV_DEG, "default", 1000, 800, _face(300.0))
    assert selfie.fov_deg == DEFAULT_FOV_DEG and selfie.source == "default"
    assert f"{_distance(DEFAULT_FOV_DEG, 1000, 300.0):.2f} m" in selfie.note


def test_far_faces_no_face_and_exif_keep_their_field_of_view_and_say_which():
    far = close_range_fov(DEFAULT_FOV_DEG, "default", 1000, 800, _face(40.0))
    assert far.fov_deg == DEFAULT_FOV_DEG and far.source == "default"
    assert far.face_distance_m == pytest.approx(_distance(DEFAULT_FOV_DEG, 1000, 40.0), rel=1e-3)
    assert "45 degree field of view was assumed" in far.note
    none = close_range_fov(DEFAULT_FOV_DEG, "default", 1000, 800, None)
    assert none.fov_deg == DEFAULT_FOV_DEG and none.face_distance_m is None and "assumed" in none.note
    exif = close_range_fov(63.0, "exif", 1000, 800, _face(300.0))  # EXIF wins, even for a close-up
    assert exif.fov_deg == 63.0 and exif.source == "exif" and exif.note is None


def test_exif_focal_length_reaches_the_crop_camera_and_without_it_the_notes_say_what_was_assumed(tmp_path):
    from humansplat.prior.person import detect_person
    from humansplat.prior.synthetic import make_synthetic_person

    person = make_synthetic_person(seed=0, size=256)
    rgb = np.asarray(person.crop.rgb)  # the rendered person on white
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28  # 28 mm equivalent: a wide phone lens
    path = tmp_path / "f28.jpg"
    Image.fromarray(rgb).save(path, quality=95, exif=exif.tobytes())
    photo = load_photo(path)
    crop = detect_person(photo)
    assert crop.lens.source == "exif" and crop.lens.fov_deg == pytest.approx(photo.fov_deg)
    # the crop camera's focal length in photo pixels is the EXIF one (crop: x size / side)
    focal_photo = 0.5 * max(photo.width, photo.height) / math.tan(math.radians(photo.fov_deg) / 2)
    x0, y0, side = crop.box
    assert float(crop.camera.Ks[0, 0, 0]) == pytest.approx(focal_photo * crop.size / side, rel=1e-4)
    plain = detect_person(load_photo(rgb))
    assert plain.lens.source == "default" and any("field of view was assumed" in n for n in plain.notes)
