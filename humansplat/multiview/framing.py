"""What the synthesizer is shown and where its generated views are seen from.

1. :func:`prepare_synthesizer_input`: the person re-framed for SV3D: the crop's person mask bounding
   box centred in a square whose side is ``1 / fill`` times the box's longer side, on white, resized to
   the synthesizer's size. The research test script runs ``extensions/rembg_and_center.py`` before
   sampling (humansplat/humansplat ``src/test/infer_sv3d.py`` L12-23, L63), whose default border ratio
   0.05 (L25) puts the longer side at ``size * (1 - 0.05)`` (L84-85): ``fill = 0.95``
   (:data:`~humansplat.multiview.fine_tune.FINE_TUNE_FILL`). Background white: ``infer_sv3d.py``
   L66-71 and the white renders of the training set (``src/data/human_dataset.py`` L169 takes the
   person as the pixels darker than 200/255).
   A crop and a resize of a pinhole image are exact on the camera (:meth:`Cameras.crop`,
   :meth:`Cameras.resize`), so the returned camera is the exact camera of the re-framed image.
2. :func:`orbit_view_cameras`: the generated frames share that camera's intrinsics; frame ``i`` is the
   input camera turned by ``azimuths_deg[i]`` about the fitted body's up axis through the body's
   centre (so it keeps the input camera's distance to the body and its pitch). Azimuth 90 deg puts the
   camera on the subject's left, as :meth:`Cameras.orbit` (the sign the research code's azimuths have,
   :mod:`humansplat.multiview.pipeline_sv3d`).

World = the input camera frame (OpenCV axes, up = -y), :mod:`humansplat.cameras`.
Shapes: S synthesizer image side, F frames, M body vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ..cameras import Cameras
from ..geometry import axis_rotation
from .fine_tune import FINE_TUNE_FILL

if TYPE_CHECKING:  # pragma: no cover
    from ..prior.body_fit import BodyFit
    from ..prior.person import PersonCrop

__all__ = [
    "DEFAULT_FILL",
    "SynthesizerInput",
    "orbit_view_cameras",
    "prepare_synthesizer_input",
]

DEFAULT_FILL = FINE_TUNE_FILL
"""Share of the square's side taken by the person's longer bounding-box side (0.95: border ratio 0.05)."""


@dataclass
class SynthesizerInput:
    """The re-framed person given to the synthesizer.

    Attributes:
        image: (S, S, 3) uint8, the person on white.
        mask: (S, S) float32 in [0, 1], the person mask re-framed the same way.
        camera: one-view :class:`Cameras` of ``image`` (S x S; world = the input camera frame).
        box: (x0, y0, side): the square in the crop's pixels (top-left pixel edge, side), may leave the crop.
    """

    image: np.ndarray
    mask: np.ndarray
    camera: Cameras
    box: tuple[float, float, int]


def prepare_synthesizer_input(crop: PersonCrop, size: int, fill: float = DEFAULT_FILL) -> SynthesizerInput:
    """Re-centre and scale the person of ``crop`` in a ``size`` x ``size`` square (module docstring).

    Args:
        crop: the person crop (rgb on white, mask, exact camera).
        size: S, the synthesizer's image side in pixels.
        fill: share of the side taken by the mask's longer bounding-box side, in (0, 1].

    Raises:
        ValueError: empty mask, or ``fill`` / ``size`` out of range.
    """
    from ..prior.person import crop_square

    if not 0.0 < fill <= 1.0:
        raise ValueError(f"fill must be in (0, 1], got {fill!r}")
    if int(size) < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size!r}")
    mask = np.asarray(crop.mask, dtype=np.float32)
    rows, cols = np.nonzero(mask > 0.5)
    if len(rows) == 0:
        raise ValueError("the crop's person mask is empty; nothing to show the synthesizer")
    u0, u1, v0, v1 = cols.min(), cols.max() + 1.0, rows.min(), rows.max() + 1.0  # pixel edges
    side = int(math.ceil(max(u1 - u0, v1 - v0) / fill))
    x0 = 0.5 * (u0 + u1) - 0.5 * side
    y0 = 0.5 * (v0 + v1) - 0.5 * side
    image = crop_square(np.asarray(crop.rgb), x0, y0, side, int(size), fill=255)
    new_mask = np.clip(crop_square(mask, x0, y0, side, int(size), fill=0.0), 0.0, 1.0).astype(np.float32)
    camera = crop.camera.crop(x0, y0, side, side).resize(int(size), int(size))
    return SynthesizerInput(image=image, mask=new_mask, camera=camera, box=(float(x0), float(y0), side))


def orbit_view_cameras(
    body_fit: BodyFit,
    camera: Cameras,
    azimuths_deg: Sequence[float] | torch.Tensor,
    up: torch.Tensor | None = None,
    centre: torch.Tensor | None = None,
) -> Cameras:
    """Cameras of the generated frames: ``camera`` (one view, e.g. :attr:`SynthesizerInput.camera`)
    turned about the body's up axis through its centre by each azimuth (module docstring).

    Args:
        body_fit: the fitted body (:func:`humansplat.orbit.body_orbit`: its centre and up axis, the
            same orbit as the 4-view strip and the turntable).
        camera: the input view's camera (frame 0 at azimuth 0 is exactly this camera).
        azimuths_deg: (F,) degrees, 90 = the subject's left.
        up: (3,) up axis; centre: (3,) point on it (defaults: the body orbit's).

    Returns:
        F cameras with ``camera``'s intrinsics and image size.
    """
    from ..orbit import body_orbit

    if len(camera) != 1:
        raise ValueError(f"camera must hold one view (the input's), got {len(camera)}")
    orbit = body_orbit(body_fit) if centre is None or up is None else None
    c = orbit.centre if centre is None else torch.as_tensor(centre, dtype=torch.float32).reshape(3)
    u = orbit.up if up is None else torch.as_tensor(up, dtype=torch.float32).reshape(3)
    az = torch.as_tensor(azimuths_deg, dtype=torch.float32).reshape(-1)
    # Camera turned by +a about u through c: camtoworld_a = M(a) camtoworld_0, M(a) = T(c) R(a) T(-c);
    # so viewmat_a = viewmat_0 M(a)^-1 = viewmat_0 T(c) R(-a) T(-c).
    inv = torch.zeros(len(az), 4, 4)
    rot = axis_rotation(u, -az)  # (F, 3, 3)
    inv[:, :3, :3] = rot
    inv[:, :3, 3] = c - torch.einsum("fij,j->fi", rot, c)
    inv[:, 3, 3] = 1.0
    base = camera.to("cpu")
    viewmats = base.viewmats[0] @ inv  # (4, 4) @ (F, 4, 4) -> (F, 4, 4)
    Ks = base.Ks.expand(len(az), 3, 3).clone()
    return Cameras(viewmats=viewmats, Ks=Ks, width=camera.width, height=camera.height)
