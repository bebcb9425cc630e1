"""The bust's cut: a photo that ends above the feet gives a body that ends in a level, closed cap.

Prior mode builds the person over the photo's mask only, so a head-and-shoulders or half-body photo
gives a bust or an upper body, never invented legs. Its front (visible) layer ends on the photo's
bottom edge. Were every layer to end there, the cut would lie on the plane through the camera and
that edge (closed by the silhouette walls of :mod:`.walls`), which for a camera above the chest (a
selfie, a portrait) slants down and back: on the evaluation's portrait of the jacket subject the back
of the bust would hang 6.5 cm (median over the columns, 11.5 cm at most) below its front, on real
portraits 4-6 cm.

:func:`level_cut` makes the cut level instead. In every image column whose mask reaches the photo's
bottom edge (:func:`photo_bottom_row`), the cut is the plane perpendicular to the body's up axis
(:func:`humansplat.orbit.body_up_axis`) :data:`CUT_BELOW_M` below the front's lowest point in that
column, where the photo ends (smoothed over :data:`CUT_SMOOTH_COLUMNS` columns). Back and far points
below it move along their rays onto it: the back layer's last rows become the cap, closed like the
rest of that layer (the walls of :mod:`.walls` fill its steps), and the silhouette walls at the bottom
edge join the front to it. The front keeps all the photo shows, and everything moved lies behind the
front along the input camera's rays: the input view does not change.

Shapes: S geometry-grid side (pixels); maps are (S, S); depths are camera z in metres.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cameras import Cameras
from ..prior.person import PersonCrop

__all__ = ["CUT_BELOW_M", "CUT_SMOOTH_COLUMNS", "EDGE_REACH_PX", "level_cut", "photo_bottom_row"]

CUT_BELOW_M = 0.01
"""The cap lies this far (metres) below the front's lowest point in its column: a little below where the
photo ends, so that the front's last row stays whole."""
EDGE_REACH_PX = 2.0
"""A column reaches the photo's bottom edge when its lowest mask pixel is within this many grid pixels of it."""
CUT_SMOOTH_COLUMNS = 5
"""Width (columns) of the running median of the cut's height across the columns: the mask's edge does not
make it jagged."""


def photo_bottom_row(crop: PersonCrop, size: int, mask: np.ndarray) -> float | None:
    """The photo's bottom edge as a row (pixel edge) of a grid of side ``size`` over ``crop``, or None
    when the person is not cut off at the bottom. From the crop's square in the photo (``box``,
    ``photo_size``); a crop that does not say where it lies in its photo ends at the lowest row of
    ``mask`` (S, S) bool."""
    if "bottom" not in crop.cut_off:
        return None
    _, y0, side = crop.box
    height = crop.photo_size[1]
    if side > 0 and height > 0:
        return (height - y0) * size / side
    rows = np.nonzero(mask.any(axis=1))[0]
    return float(rows[-1] + 1) if len(rows) else None


def _running_median(values: np.ndarray, width: int) -> np.ndarray:
    """(M,) running median of ``values`` (M,) over ``width`` neighbours (fewer at the ends)."""
    half = width // 2
    return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))])


def level_cut(
    camera: Cameras,
    mask: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    far: np.ndarray,
    bottom_row: float | None,
    up: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    """(back, far) (S, S) ending on the level cut below the photo's bottom edge (module docstring).

    Args:
        camera: the grid's camera (S x S).
        mask: (S, S) bool, the person.
        front, back, far: (S, S) camera depths of the layers (metres).
        bottom_row: the photo's bottom edge (:func:`photo_bottom_row`); None: nothing is cut.
        up: (3,) the body's up axis in the world frame.
    """
    if bottom_row is None:
        return back, far
    S = mask.shape[0]
    lowest = np.where(mask.any(axis=0), S - 1 - np.argmax(mask[::-1], axis=0), -1)
    cols = np.nonzero((lowest >= 0) & (lowest + 1 >= bottom_row - EDGE_REACH_PX))[0]
    if len(cols) == 0:
        return back, far
    origins, dirs = camera.rays()
    o, d = origins[0].double().numpy(), dirs[0].double().numpy()  # (S, S, 3) each
    up_np = up.double().numpy()
    forward = camera.viewmats[0, 2, :3].double().numpy()
    along = d @ forward  # camera depth per unit of ray length
    rise = d @ up_np  # height gained per unit of ray length (< 0: the ray descends)
    # the height of the front's lowest point in each column, the cut a little below it
    r = lowest[cols]
    t_front = front[r, cols] / along[r, cols]
    h_front = ((o[r, cols] + t_front[:, None] * d[r, cols]) @ up_np)
    h_cut = np.full(S, np.nan)
    h_cut[cols] = _running_median(h_front, CUT_SMOOTH_COLUMNS) - CUT_BELOW_M
    with np.errstate(invalid="ignore", divide="ignore"):
        t_plane = (h_cut[None, :] - o @ up_np) / rise
        z_plane = np.where((rise < 0) & (t_plane > 0), t_plane * along, np.inf)
    cut = mask & np.isfinite(z_plane)
    focal = float(camera.Ks[0, 0, 0])
    floor = front + 0.5 * front / focal  # at least half a pixel footprint behind the front
    back = np.where(cut & (back > z_plane), np.maximum(z_plane, floor), back)
    far = np.where(cut & (far > z_plane), np.maximum(z_plane, back), far)
    return back, far
