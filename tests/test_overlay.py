"""Overlays of the structure prior (landmarks, mask, the fitted body's parts)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from humansplat.prior.body_models import LANDMARK_NAMES
from humansplat.prior.overlay import draw_body_parts, draw_landmarks, draw_mask
from humansplat.parts import PART_COLORS, PART_NAMES
from humansplat.prior.synthetic import make_synthetic_person


@pytest.fixture(scope="module")
def person():
    return make_synthetic_person(seed=3, size=256)


def test_draw_landmarks(person):
    img = draw_landmarks(person.crop)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    u, v = person.crop.landmarks.body[LANDMARK_NAMES.index("left_knee")].astype(int)
    patch = img[v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).astype(int)
    assert (np.abs(patch - np.array([255, 140, 0])).sum(-1) < 60).any()  # the subject's left is orange
    u, v = person.crop.landmarks.body[LANDMARK_NAMES.index("right_knee")].astype(int)
    patch = img[v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).astype(int)
    assert (np.abs(patch - np.array([0, 150, 255])).sum(-1) < 60).any()  # ... the right blue
    hidden = dataclasses.replace(person.crop)
    hidden.landmarks = dataclasses.replace(hidden.landmarks, body_confidence=np.zeros(33, np.float32))
    plain = draw_landmarks(hidden)
    assert not (np.abs(plain.astype(int) - np.array([255, 140, 0])).sum(-1) < 30).any()


def test_draw_mask(person):
    img = draw_mask(person.crop)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    m = person.crop.mask
    assert img[m < 0.01].mean() < 0.5 * person.crop.rgb[m < 0.01].mean()  # background darkened
    assert abs(float(img[m > 0.99].mean()) - float(person.crop.rgb[m > 0.99].mean())) < 60
    assert ((img == np.array([0, 200, 255], np.uint8)).all(-1)).sum() > 100  # the outline


def test_draw_body_parts_colours_parts(person):
    fit = person.as_body_fit()
    img = draw_body_parts(fit, alpha=1.0, outline=False)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert (img[person.crop.mask < 0.01] == person.crop.rgb[person.crop.mask < 0.01]).all()
    colours = np.array([PART_COLORS[n] for n in PART_NAMES], dtype=np.float64)
    colours /= np.linalg.norm(colours, axis=1, keepdims=True)
    uv = fit.camera.project(fit.landmarks3d)[0][0].numpy()
    for landmark, part in (("nose", "face"), ("left_knee", "legs")):
        u, v = uv[LANDMARK_NAMES.index(landmark)].astype(int)
        c = img[v, u].astype(np.float64)
        best = int(np.argmax(colours @ (c / np.linalg.norm(c))))  # shading scales, the hue stays
        assert PART_NAMES[best] == part, (landmark, c)
    mid_chest = ((uv[LANDMARK_NAMES.index("left_shoulder")] + uv[LANDMARK_NAMES.index("right_hip")]) / 2).astype(int)
    c = img[mid_chest[1], mid_chest[0]].astype(np.float64)
    assert PART_NAMES[int(np.argmax(colours @ (c / np.linalg.norm(c))))] == "torso"
    blended = draw_body_parts(fit, alpha=0.5)
    assert np.abs(blended.astype(int) - img.astype(int)).sum() > 0
    with pytest.raises(ValueError, match="alpha"):
        draw_body_parts(fit, alpha=1.5)
