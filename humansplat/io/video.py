"""Write frames as a browser-playable H.264 ``.mp4`` (imageio's ffmpeg plugin, bundled ffmpeg).

Browsers play H.264 only in 4:2:0 chroma (``yuv420p``), which needs even width and height: an
odd size is **padded** by one row/column repeating the last one (never cropped, so no content is
lost). ``-movflags +faststart`` puts the index first so a browser can start before the download
ends.

Shapes: T frames of H x W pixels, RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["to_uint8_frames", "write_video"]


def to_uint8_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Validate frames and return a (T, H, W, 3) uint8 array.

    Accepts a (T, H, W, 3) array or a sequence of (H, W, 3) arrays (uint8, or floats in [0, 1]
    which are scaled and rounded; torch tensors are converted). Grey (H, W) and RGBA frames are
    turned into RGB.

    Raises:
        InputError: no frames, frames of different sizes, or a frame shape that is not an image.
    """
    if hasattr(frames, "detach"):  # a torch tensor
        frames = frames.detach().cpu().numpy()
    if isinstance(frames, np.ndarray):
        if frames.ndim not in (3, 4):
            raise InputError(f"frames must be (T, H, W, 3) or a list of (H, W, 3) images, got shape {frames.shape}")
        items = list(frames)
    else:
        items = [np.asarray(f.detach().cpu().numpy() if hasattr(f, "detach") else f) for f in frames]
    if not items:
        raise InputError("write_video needs at least one frame, got none")
    out = []
    for i, f in enumerate(items):
        f = np.asarray(f)
        if f.ndim == 2:
            f = np.repeat(f[..., None], 3, axis=-1)
        if f.ndim != 3 or f.shape[-1] not in (1, 3, 4):
            raise InputError(f"frame {i} has shape {f.shape}; expected (H, W, 3)")
        if f.shape[-1] == 1:
            f = np.repeat(f, 3, axis=-1)
        f = f[..., :3]
        if f.dtype != np.uint8:
            if not np.issubdtype(f.dtype, np.floating):
                raise InputError(f"frame {i} has dtype {f.dtype}; expected uint8 or floats in [0, 1]")
            f = np.round(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)
        if out and f.shape != out[0].shape:
            raise InputError(f"frame {i} is {f.shape[1]}x{f.shape[0]} but frame 0 is {out[0].shape[1]}x{out[0].shape[0]}; "
                             "all frames must have one size")
        out.append(f)
    return np.stack(out)


def write_video(frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: float = 24, quality: int = 8) -> Path:
    """Encode frames into an H.264 ``.mp4`` a browser can play; returns the path.

    Args:
        frames: (T, H, W, 3) uint8 array or a list of (H, W, 3) frames (see :func:`to_uint8_frames`).
        path: output file (``.mp4``); its folder must exist.
        fps: frames per second (> 0).
        quality: imageio's 0-10 quality scale (10 best, larger files).

    Odd widths or heights are padded by one pixel (edge repeated) to the even size H.264 4:2:0 needs.

    Raises:
        InputError: bad frames or fps (see :func:`to_uint8_frames`).
    """
    import imageio.v2 as imageio

    if not fps or fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    video = to_uint8_frames(frames)
    _, h, w, _ = video.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        video = np.pad(video, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    writer = imageio.get_writer(
        str(path),
        format="FFMPEG",
        mode="I",
        fps=fps,
        codec="libx264",
        quality=quality,
        pixelformat="yuv420p",
        macro_block_size=1,  # we made the size even; do not let imageio resize
        ffmpeg_params=["-movflags", "+faststart"],
        ffmpeg_log_level="error",
    )
    try:
        for frame in video:
            writer.append_data(frame)
    finally:
        writer.close()
    return path
