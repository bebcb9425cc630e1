"""Person detection and the square crop: camera exactness, mask handling, several people, cut-off,
with a stand-in detector (fast, exact) and with MediaPipe on real photos."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from humansplat.errors import InputError
from humansplat.io.images import Photo, load_photo
from humansplat.prior import mediapipe_detector as mpd
from humansplat.prior.landmarks import Landmarks
from humansplat.prior.person import (
    MARGIN,
    PersonCrop,
    clean_mask,
    crop_square,
    detect_person,
    square_box,
    touching_sides,
)

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"


def shared(name: str) -> Path:
    path = PHOTOS / name
    if not path.exists():
        pytest.skip(f"shared photo {name} not available")
    return path


# ------------------------------------------------------------------------------------------- camera exactness
def _photo_with_blocks(width: int, height: int, centres: np.ndarray, half: int = 4) -> np.ndarray:
    """White image with a red (2 half)^2 block around each integer pixel-edge centre (u, v)."""
    rgb = np.full((height, width, 3), 255, np.uint8)
    for u, v in centres.astype(int):
        rgb[v - half : v + half, u - half : u + half] = (255, 0, 0)
    return rgb


def _red_centroid(rgb: np.ndarray, u: float, v: float, radius: int) -> np.ndarray:
    """Centroid (continuous pixel coordinates) of the redness in a window around (u, v)."""
    c0, r0 = int(u) - radius, int(v) - radius
    win = rgb[r0 : r0 + 2 * radius, c0 : c0 + 2 * radius].astype(np.float64)
    weight = np.clip(win[..., 0] - win[..., 1], 0, None)
    rows, cols = np.mgrid[r0 : r0 + 2 * radius, c0 : c0 + 2 * radius] + 0.5
    return np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()


@pytest.mark.parametrize(
    "x0, y0, side, size",
    [(100, 50, 300, 120), (-40, -60, 500, 512), (250, 200, 210, 210), (37, 11, 333, 256)],
)
def test_crop_camera_is_exact(x0, y0, side, size):
    """3D points seen by the photo camera and by the crop camera land on the same image content."""
    width, height = 480, 360
    photo = Photo(rgb=np.zeros((height, width, 3), np.uint8), fov_deg=50.0)
    cam = photo.camera()
    rng = np.random.default_rng(0)
    centres = np.stack([rng.integers(x0 + 40, x0 + side - 40, 6), rng.integers(y0 + 40, y0 + side - 40, 6)], -1)
    centres = np.clip(centres, 20, [width - 20, height - 20])
    # back-project the block centres to 3D points at random depths
    origins, dirs = cam.rays(torch.tensor(centres, dtype=torch.float32))
    depth = torch.tensor(rng.uniform(1.5, 6.0, len(centres)), dtype=torch.float32)
    points = origins[0] + dirs[0] * (depth / dirs[0, :, 2])[:, None]
    uv, _ = cam.project(points)
    assert torch.allclose(uv[0], torch.tensor(centres, dtype=torch.float32), atol=1e-3)

    rgb = _photo_with_blocks(width, height, centres)
    crop = crop_square(rgb, x0, y0, side, size, fill=255)
    crop_cam = cam.crop(x0, y0, side, side).resize(size, size)
    assert (crop_cam.width, crop_cam.height) == (size, size)
    uv_crop = crop_cam.project(points)[0][0].numpy()
    scale = size / side
    np.testing.assert_allclose(uv_crop, (centres - [x0, y0]) * scale, atol=1e-3)
    # the same map through Landmarks.transformed
    body = np.zeros((33, 2), np.float32)
    body[: len(centres)] = centres
    moved = Landmarks(body=body, body_confidence=np.ones(33, np.float32)).transformed(scale, x0, y0)
    np.testing.assert_allclose(moved.body[: len(centres)], uv_crop, atol=1e-3)
    # image content: each red block's centroid in the crop sits where the crop camera projects
    radius = max(4, int(np.ceil(8 * scale)))
    for u, v in uv_crop:
        if radius <= u < size - radius and radius <= v < size - radius:
            np.testing.assert_allclose(_red_centroid(crop, u, v, radius), [u, v], atol=0.08)


def test_crop_square_padding_and_identity():
    rgb = np.random.default_rng(1).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    same = crop_square(rgb, 0, 0, 50, 50)
    np.testing.assert_array_equal(same, rgb[:, :50])
    padded = crop_square(rgb, -10, -20, 80, 80, fill=255)
    assert (padded[:20] == 255).all() and (padded[:, :10] == 255).all()
    np.testing.assert_array_equal(padded[20:70, 10:70], rgb)
    mask = np.ones((50, 60), np.float32)
    m = crop_square(mask, -10, -20, 80, 40, fill=0.0)
    assert m.dtype == np.float32 and m[0, 0] == 0.0 and m[20, 20] == pytest.approx(1.0, abs=1e-3)


def test_square_box():
    x0, y0, side = square_box((100.0, 50.0, 200.0, 450.0), margin=0.1)
    assert side == 480 and (x0, y0) == (150 - 240, 250 - 240)
    assert square_box((0, 0, 2, 2))[2] == 16  # a minimum side


def test_clean_mask_keeps_person_fills_holes():
    prob = np.zeros((100, 100), np.float32)
    prob[10:90, 20:60] = 0.9  # the body
    prob[40:50, 30:40] = 0.1  # a hole in it
    prob[20:30, 70:75] = 0.8  # a detached hand with a landmark on it
    prob[80:85, 85:90] = 0.9  # a speck of background
    soft, binary = clean_mask(prob, seeds=np.array([[72.0, 25.0]]))
    assert binary[45, 35] and binary[25, 72] and not binary[82, 87]
    assert soft[45, 35] == pytest.approx(1.0) and soft[5, 5] == 0.0
    soft, binary = clean_mask(prob, seeds=None)
    assert not binary[25, 72]


def test_touching_sides():
    mask = np.zeros((100, 200), bool)
    mask[40:100, 80:120] = True
    assert touching_sides(mask) == ("bottom",)
    mask[50:60, 0:10] = True
    assert touching_sides(mask) == ("bottom", "left")
    assert touching_sides(np.zeros((10, 10), bool)) == ()


# ------------------------------------------------------------------------------------------- stand-in detector
def fake_pose(rgb: np.ndarray) -> mpd.PoseDetection | None:
    """Stand-in for MediaPipe Pose: the first dark blob in raster order (not the largest!) is 'a person';
    33 landmarks on a grid inside it, the knees (25, 26) with low visibility."""
    from scipy import ndimage

    labels, count = ndimage.label(rgb.min(axis=-1) < 128)
    if count == 0:
        return None
    blob = labels == labels.flat[np.flatnonzero(labels)[0]]
    rows, cols = np.nonzero(blob)
    u = np.linspace(cols.min() + 1, cols.max(), 33, dtype=np.float32)
    v = np.linspace(rows.min() + 1, rows.max(), 33, dtype=np.float32)
    visibility = np.full(33, 0.9, np.float32)
    visibility[[25, 26]] = 0.1
    return mpd.PoseDetection(np.stack([u, v], -1), visibility, None, blob.astype(np.float32))


@pytest.fixture
def fake_detector(monkeypatch):
    monkeypatch.setattr(mpd, "detect_pose", fake_pose)


def person_photo(boxes, width=600, height=400, alpha=None) -> Photo:
    rgb = np.full((height, width, 3), 255, np.uint8)
    for r0, r1, c0, c1 in boxes:
        rgb[r0:r1, c0:c1] = (40, 60, 80)
    return Photo(rgb=rgb, alpha=alpha, source="synthetic")


def test_detect_person_crop_and_camera(fake_detector):
    photo = person_photo([(100, 300, 250, 330)])  # 200 tall, 80 wide
    crop = detect_person(photo, size=240, face_and_hands=False)
    assert isinstance(crop, PersonCrop) and crop.rgb.shape == (240, 240, 3) and crop.mask.shape == (240, 240)
    x0, y0, side = crop.box
    assert side == int(np.ceil(200 * (1 + 2 * MARGIN))) and (x0 + side / 2, y0 + side / 2) == (290, 200)
    rows, cols = np.nonzero(crop.mask > 0.5)
    s = 240 / side
    assert abs(rows.min() - (100 - y0) * s) <= 1 and abs(rows.max() + 1 - (300 - y0) * s) <= 1
    assert abs(cols.min() - (250 - x0) * s) <= 1 and abs(cols.max() + 1 - (330 - x0) * s) <= 1
    # white outside the mask, the person's colour inside
    assert (crop.rgb[crop.mask < 0.01] >= 250).all()
    assert np.abs(crop.rgb[120, 120].astype(int) - (40, 60, 80)).max() <= 2
    assert crop.people_found == 1 and crop.cut_off == () and crop.mask_source == "predicted"
    # landmarks and camera agree: K maps photo pixels to crop pixels
    K = crop.camera.Ks[0].numpy()
    np.testing.assert_allclose(K[0, 0], photo.camera().Ks[0, 0, 0].item() * s, rtol=1e-5)
    np.testing.assert_allclose(K[:2, 2], (np.array([300.0, 200.0]) - [x0, y0]) * s, rtol=1e-5)
    body_photo = fake_pose(photo.rgb).landmarks
    np.testing.assert_allclose(crop.landmarks.body, (body_photo - [x0, y0]) * s, atol=1e-3)
    assert crop.landmarks.body_confidence[25] == 0 and crop.landmarks.body_confidence[0] == pytest.approx(0.9)


def test_person_cut_off_at_bottom_padded_white(fake_detector):
    photo = person_photo([(150, 400, 200, 320)])
    crop = detect_person(photo, size=128, face_and_hands=False)
    assert crop.cut_off == ("bottom",) and crop.photo_size == (600, 400)
    assert any("cut off at the bottom" in n for n in crop.notes)
    _, y0, side = crop.box
    below = int(np.ceil((400 - y0) * 128 / side)) + 4  # below the photo, past the Lanczos kernel
    assert below < 128 and (crop.rgb[below:] == 255).all() and (crop.mask[below:] == 0).all()


def test_landmarks_outside_or_invisible_get_zero_confidence(monkeypatch):
    def pose_with_outlier(rgb):
        det = fake_pose(rgb)
        if det is None:
            return None
        det.landmarks[30] = (-50.0, 100.0)  # visible but outside the photo
        return det

    monkeypatch.setattr(mpd, "detect_pose", pose_with_outlier)
    crop = detect_person(person_photo([(100, 300, 250, 330)]), size=64, face_and_hands=False)
    conf = crop.landmarks.body_confidence
    assert conf[30] == 0 and conf[25] == 0 and conf[26] == 0
    assert (conf[[0, 11, 12, 23, 24]] > 0).all()
    assert "left" in crop.cut_off  # a body landmark predicted beyond the left edge


def test_several_people_largest_used(fake_detector):
    # the first blob in raster order (found first) is the smaller one, on the left
    photo = person_photo([(50, 150, 40, 90), (120, 390, 400, 500)], width=640, height=400)
    crop = detect_person(photo, size=128, face_and_hands=False)
    assert crop.people_found == 2
    x0, _, side = crop.box
    assert 400 < x0 + side / 2 < 500
    assert any("2 people found" in n and "largest" in n and "right" in n for n in crop.notes)


def test_small_background_person_not_counted(fake_detector):
    # the tiny one (1 % of the other's area) comes first in raster order, so it is found first
    photo = person_photo([(100, 380, 100, 220), (30, 45, 500, 506)])
    crop = detect_person(photo, size=64, face_and_hands=False)
    assert crop.people_found == 1 and not any("people" in n for n in crop.notes)
    assert crop.box[0] + crop.box[2] / 2 == 160


def test_alpha_wins_over_prediction(fake_detector):
    alpha = np.zeros((400, 600), np.uint8)
    alpha[110:290, 260:320] = 255  # narrower than the dark blob
    photo = person_photo([(100, 300, 250, 330)], alpha=alpha)
    crop = detect_person(photo, size=200, face_and_hands=False)
    assert crop.mask_source == "alpha"
    x0, _, side = crop.box
    s = 200 / side
    cols = np.nonzero((crop.mask > 0.5).any(axis=0))[0]
    assert abs(cols.min() - (260 - x0) * s) <= 1 and abs(cols.max() + 1 - (320 - x0) * s) <= 1
    assert any("alpha channel was used" in n for n in crop.notes)


def test_no_person(monkeypatch):
    monkeypatch.setattr(mpd, "detect_pose", lambda rgb: None)
    with pytest.raises(InputError, match=r"No person found in 'synthetic'.*clearly visible"):
        detect_person(person_photo([]), face_and_hands=False)


def test_bad_arguments(fake_detector):
    with pytest.raises(ValueError, match="size must be at least 16"):
        detect_person(person_photo([(100, 300, 250, 330)]), size=8)
    with pytest.raises(ValueError, match="margin must be in"):
        detect_person(person_photo([(100, 300, 250, 330)]), margin=-0.5)


# ------------------------------------------------------------------------------------------- MediaPipe, real photos
@pytest.fixture(scope="module")
def astronaut() -> Photo:
    from skimage import data

    return load_photo(data.astronaut())  # bundled with scikit-image (public domain, NASA)


@pytest.fixture(scope="module")
def astronaut_crop(astronaut) -> PersonCrop:
    return detect_person(astronaut)


def test_mediapipe_waist_up_portrait(astronaut_crop):
    crop = astronaut_crop
    lm = crop.landmarks
    assert lm.body.shape == (33, 2) and lm.body_confidence.shape == (33,)
    assert (lm.body_confidence[[0, 11, 12]] > 0.5).all()  # nose, shoulders
    assert (lm.body_confidence[25:33] == 0).all()  # knees, ankles, feet: out of the photo
    assert "bottom" in crop.cut_off
    assert lm.body_world is not None and lm.body_world.shape == (33, 3)
    for i in (11, 12):  # the shoulders lie on the person
        u, v = lm.body[i].astype(int)
        assert crop.mask[v, u] > 0.5
    assert lm.face is not None and lm.face.shape == (468, 3)
    assert np.linalg.norm(lm.face[:, :2].mean(axis=0) - lm.body[0]) < 0.05 * crop.size
    assert lm.face[1, 2] < lm.face[[234, 454], 2].min()  # Face Mesh's depth: the nose tip nearer than the face's sides
    assert (crop.rgb[crop.mask < 0.01] >= 250).all()
    assert set(mpd.models_loaded()) >= {"pose", "face_mesh"}


@pytest.mark.parametrize("kind", ["noise", "gradient"])
def test_mediapipe_no_person(kind):
    rng = np.random.default_rng(0)
    if kind == "noise":
        rgb = rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)
    else:
        rgb = np.broadcast_to(np.linspace(0, 255, 384, dtype=np.float32)[None, :, None], (384, 384, 3))
    with pytest.raises(InputError, match="No person found"):
        detect_person(load_photo(np.ascontiguousarray(rgb).astype(np.uint8)))


def test_mediapipe_thread_safe(astronaut, astronaut_crop):
    results: list[PersonCrop | BaseException] = []

    def work():
        try:
            results.append(detect_person(astronaut))
        except Exception as exc:  # noqa: BLE001 - reported by the asserts below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 3
    for res in results:
        assert isinstance(res, PersonCrop), res
        np.testing.assert_allclose(res.landmarks.body, astronaut_crop.landmarks.body, atol=1e-3)


def test_mediapipe_full_body():
    crop = detect_person(load_photo(shared("fullbody/F24_striped_standing.jpg")))
    lm = crop.landmarks
    key = [11, 12, 23, 24, 27, 28]  # shoulders, hips, ankles
    assert (lm.body_confidence[key] > 0.5).all()
    for i in key[:4]:
        u, v = lm.body[i].astype(int)
        assert crop.mask[v, u] > 0.5, i
    assert crop.cut_off == () and crop.people_found == 1
    rows = np.nonzero((crop.mask > 0.5).any(axis=1))[0]
    # the person spans the crop minus the margins, vertically
    assert rows.max() - rows.min() > 0.75 * crop.size


def test_mediapipe_selfie_cut_off():
    crop = detect_person(load_photo(shared("portrait/P05_selfie_vsign.jpg")))
    assert "bottom" in crop.cut_off
    assert (crop.landmarks.body_confidence[[0, 11, 12]] > 0.5).all()


def test_mediapipe_several_people_largest_chosen():
    from PIL import Image

    left = Image.open(shared("fullbody/F24_striped_standing.jpg")).convert("RGB")
    right = Image.open(shared("fullbody/F01_dress.jpg")).convert("RGB")
    right = right.resize((round(right.width * left.height / right.height), left.height))
    small = left.resize((left.width // 2, left.height // 2))
    # larger person on the right
    canvas = Image.new("RGB", (left.width + right.width, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    crop = detect_person(load_photo(np.asarray(canvas)), face_and_hands=False)
    x0, _, side = crop.box
    assert crop.people_found == 2 and x0 + side / 2 > left.width
    assert any("2 people found" in n and "on the right" in n for n in crop.notes)
    # larger person on the left, the other half size
    canvas = Image.new("RGB", (left.width + small.width, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(small, (left.width, left.height - small.height))
    crop = detect_person(load_photo(np.asarray(canvas)), face_and_hands=False)
    x0, _, side = crop.box
    assert crop.people_found == 2 and x0 + side / 2 < left.width
