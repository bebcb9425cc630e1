"""Resampling of crop-sized maps onto the square grids of prior mode (geometry, visible and back grids).

Maps are (S, S) or (S, S, C) float arrays over a grid's pixels; a grid of any side covers the same
square crop (pixel edges kept).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["DEPTH_JUMP_M", "resize_depth", "resize_image", "resize_nearest"]

DEPTH_JUMP_M = 0.03
"""Depth spread (metres) over a 3 x 3 neighbourhood beyond which a depth map is resampled by the nearest
pixel, not interpolated: a step between two body parts, not a slope."""


def resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) or (H, W) float array -> (size, size, ...) by area averaging (or bilinear upsampling)."""
    t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)
    chw = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    mode = "area" if size <= t.shape[0] else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    out = torch.nn.functional.interpolate(chw, size=(size, size), mode=mode, **kw)[0]
    return (out.permute(1, 2, 0) if t.ndim == 3 else out[0]).numpy()


def resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    """(H, W) array -> (size, size) by picking the pixel under each new pixel centre."""
    h = img.shape[0]
    idx = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
    return img[idx][:, idx]


def resize_depth(depth: np.ndarray, size: int, jump_m: float = DEPTH_JUMP_M) -> np.ndarray:
    """(S, S) depth map (metres) -> (size, size): bilinear on smooth surfaces, nearest across depth jumps
    of more than ``jump_m`` (bilinear there would leave "flying" points between a near and a far part)."""
    from scipy.ndimage import maximum_filter, minimum_filter

    if size == depth.shape[0]:
        return depth
    smooth = resize_image(depth, size)
    spread = maximum_filter(depth, size=3) - minimum_filter(depth, size=3)
    jumpy = resize_nearest(spread, size) > jump_m
    return np.where(jumpy, resize_nearest(depth, size), smooth)
