"""H.264 mp4 writing (humansplat.io.video)."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest

from humansplat.errors import InputError
from humansplat.io.video import to_uint8_frames, write_video


def _read(path):
    reader = imageio.get_reader(str(path))
    try:
        return reader.get_meta_data(), [f for f in reader]
    finally:
        reader.close()


def test_video_reopens_with_the_right_frames_size_codec_and_faststart(tmp_path):
    t = np.linspace(0, 1, 32)
    frames = np.stack([np.broadcast_to((np.outer(t, t)[..., None] * 255 * (i + 1) / 6), (32, 32, 3)) for i in range(6)])
    path = write_video(frames.astype(np.uint8), tmp_path / "turntable.mp4", fps=12)
    meta, read = _read(path)
    assert len(read) == 6 and read[0].shape == (32, 32, 3)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p") and meta["fps"] == 12
    raw = path.read_bytes()
    assert raw.index(b"moov") < raw.index(b"mdat")  # +faststart: the index comes first
    # Lossy, but close: the brightest frame is brighter than the darkest.
    assert read[-1].mean() > read[0].mean() + 50


def test_odd_sizes_are_padded_to_even_and_lists_of_float_frames_work(tmp_path):
    frames = [np.full((21, 33, 3), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)]
    path = write_video(frames, tmp_path / "odd.mp4", fps=24)
    _, read = _read(path)
    assert len(read) == 3 and read[0].shape == (22, 34, 3)
    assert abs(float(read[1].mean()) - 128) < 6


def test_clear_errors_for_bad_frames(tmp_path):
    with pytest.raises(InputError, match="at least one frame"):
        write_video([], tmp_path / "x.mp4")
    with pytest.raises(InputError, match="frame 1 is 8x6 but frame 0 is 8x8"):
        write_video([np.zeros((8, 8, 3), np.uint8), np.zeros((6, 8, 3), np.uint8)], tmp_path / "x.mp4")
    with pytest.raises(InputError, match=r"frame 0 has shape \(8, 8, 5\)"):
        to_uint8_frames([np.zeros((8, 8, 5), np.uint8)])
    with pytest.raises(InputError, match="fps must be positive"):
        write_video(np.zeros((1, 8, 8, 3), np.uint8), tmp_path / "x.mp4", fps=0)
