"""Human geometric tokenizer: exact bilinear sampling at projected vertices (+0.5 pixel centres)."""

from __future__ import annotations

import math

import pytest
import torch

from humansplat.cameras import Cameras
from humansplat.network.tokenizer import (
    HumanGeometricTokenizer,
    fourier_encode,
    sample_token_features,
    subsample_indices,
)

W, H = 48, 32  # image pixels
WP, HP = 6, 4  # token grid: 8 x 8 image pixels per token


def _grid(seed=0):
    return torch.randn(1, 5, HP, WP, generator=torch.Generator().manual_seed(seed))


def _point_through(camera: Cameras, u: float, v: float, distance: float = 2.3) -> torch.Tensor:
    """The world point at ``distance`` along the ray through image pixel position (u, v)."""
    o, d = camera.rays(torch.tensor([[u, v]]))
    return o[0] + distance * d[0]  # (1, 3)


def test_vertex_on_a_token_centre_samples_exactly_that_token():
    camera = Cameras.from_fov(40.0, W, H)
    grid = _grid()
    row, col = 2, 3
    u, v = (col + 0.5) * W / WP, (row + 0.5) * H / HP  # centre of token (2, 3) in image pixels
    vertex = _point_through(camera, u, v)
    feats = HumanGeometricTokenizer.sample(grid, vertex[None], [camera])
    torch.testing.assert_close(feats[0, 0], grid[0, :, row, col], rtol=0, atol=1e-5)


def test_sampling_is_bilinear_between_token_centres_and_zero_outside():
    grid = _grid(1)
    uv = torch.tensor(
        [
            [[0.5 * W / WP, 0.5 * H / HP],  # centre of token (0, 0)
             [1.0 * W / WP, 0.5 * H / HP],  # half-way between tokens (0, 0) and (0, 1)
             [2.5 * W / WP, 1.0 * H / HP],  # half-way between tokens (0, 2) and (1, 2)
             [-3.0 * W / WP, 1.5 * H / HP],  # far outside the image
             [W * 1.0, 0.5 * H / HP]]  # on the image's right edge: half the last token's value
        ]
    )
    out = sample_token_features(grid, uv, W, H)[0]
    g = grid[0]
    torch.testing.assert_close(out[0], g[:, 0, 0])
    torch.testing.assert_close(out[1], 0.5 * (g[:, 0, 0] + g[:, 0, 1]))
    torch.testing.assert_close(out[2], 0.5 * (g[:, 0, 2] + g[:, 1, 2]))
    assert torch.count_nonzero(out[3]) == 0
    torch.testing.assert_close(out[4], 0.5 * g[:, 0, WP - 1])


def test_sampling_ignores_the_camera_image_size():
    """The same vertex sampled through the camera at 48x32 or resized to 480x320 gives one value."""
    camera = Cameras.from_fov(40.0, W, H)
    vertex = _point_through(camera, 17.3, 9.1)
    grid = _grid(2)
    a = HumanGeometricTokenizer.sample(grid, vertex[None], [camera])
    b = HumanGeometricTokenizer.sample(grid, vertex[None], [camera.resize(10 * W, 10 * H)])
    torch.testing.assert_close(a, b)


def test_fourier_encoding_values():
    p = torch.tensor([[0.5, 0.25, -1.0]])
    enc = fourier_encode(p, 2)
    assert enc.shape == (1, 3 + 12)
    torch.testing.assert_close(enc[0, :3], p[0])
    # sin(pi * 0.5) = 1, sin(2 pi * 0.25) = 1, cos(pi * -1) = -1
    assert math.isclose(float(enc[0, 3]), 1.0, abs_tol=1e-6)
    assert math.isclose(float(enc[0, 3 + 3 + 1]), 1.0, abs_tol=1e-6)
    assert math.isclose(float(enc[0, 3 + 6 + 2]), -1.0, abs_tol=1e-6)


def test_subsample_indices():
    assert subsample_indices(5, 10).tolist() == [0, 1, 2, 3, 4]
    idx = subsample_indices(1000, 64)
    assert idx.numel() == 64 and idx[0] == 0 and idx[-1] == 999
    assert torch.unique(idx).numel() == 64


def test_tokenizer_forward_shapes_and_part_check():
    torch.manual_seed(0)
    tok = HumanGeometricTokenizer(dim=5, num_parts=7, part_dim=3, num_frequencies=2)
    camera = Cameras.from_fov(40.0, W, H)
    verts = torch.cat([_point_through(camera, 10.0, 10.0), _point_through(camera, 30.0, 20.0)])[None]
    parts = torch.tensor([[0, 6]])
    out = tok(_grid(), verts, parts, [camera], verts.mean(1))
    assert out.shape == (1, 2, 5) and torch.isfinite(out).all()
    # a different part label changes the token
    out2 = tok(_grid(), verts, torch.tensor([[1, 6]]), [camera], verts.mean(1))
    assert not torch.allclose(out[0, 0], out2[0, 0]) and torch.allclose(out[0, 1], out2[0, 1])
    with pytest.raises(ValueError, match=r"part labels must lie in \[0, 7\), got \[0, 9\]"):
        tok(_grid(), verts, torch.tensor([[0, 9]]), [camera], verts.mean(1))
