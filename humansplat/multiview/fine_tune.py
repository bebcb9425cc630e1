"""How the human fine-tune of SV3D (``paulpanwang/GenHuman3D``) was trained, so views mode samples it alike.

Every value is read from the official code (repository humansplat/humansplat, the commit of
2024-12-13; file and lines cited at each value). None comes from the UNet's config, which for the SVD
family names 21 or 25 frames at 576 px or more.

Azimuths of the training orbit
------------------------------
The data loader (``src/data/human_dataset.py``) renders each subject from 36 cameras (L111) and
takes ``V = 18`` of them (``src/options.py`` L180, ``sv3d_24``): a random first render, then every
``36 // V = 2``-th render after it, wrapping past the last (L114-118). Two angles belong to each view:

* **labels**: the loader calls render ``i`` ``np.linspace(-180, 180, 36)[i]`` (L151, L175), a step of
  360/35 deg because both ends are included, and makes them relative to the first view,
  ``(a - a0) % 360`` (L177-187). View ``k`` (no wrap) is therefore labelled ``k * 2 * 360 / 35``:
  0, 20.571, 41.143, ..., 349.714 deg.
* **even**: ``k * 2 * 360 / 36 = 20 k`` deg, the angles if the 36 renders were 10 deg apart.

SV3D itself was conditioned on the angles of the renders' own cameras (``_get_pose`` of the cameras
file, L171 and L333-350, fed through ``src/models/sv3d_p.py`` L269-276). Those cameras are PyTorch3D
cameras (``R``, ``T``, NDC ``focal_length``/``principal_point``/``image-size``, L318-331), and the loader's
``linspace(-180, 180, n)`` is the orbit of PyTorch3D's own rendering recipe, so the renders most likely
sit at the labels (first and last render both at 180 deg): the labels are what the UNet saw, and they
are the default (``"labels"``). ``"even"`` is kept for the other reading. The cameras of the generated
views (``framing.orbit_view_cameras``) always use the azimuths fed to the sampler.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "FINE_TUNE_AZIMUTHS",
    "FINE_TUNE_FILL",
    "FINE_TUNE_GUIDANCE_PROFILE",
    "FINE_TUNE_NUM_FRAMES",
    "FINE_TUNE_SIZE",
    "RENDERS_PER_SUBJECT",
    "AzimuthKind",
    "fine_tune_azimuths",
]

FINE_TUNE_NUM_FRAMES = 18
"""Views per training sample, frame 0 the input (``src/options.py`` L174-184: ``sv3d_24``,
``num_views=18``, ``num_input_views=1``; ``load_sorted_images=True`` keeps the orbit in order)."""

FINE_TUNE_SIZE = 512
"""Image side in pixels the fine-tune was trained at (``src/options.py`` L177-178)."""

FINE_TUNE_FILL = 0.95
"""Share of the square taken by the person's longer side: ``extensions/rembg_and_center.py`` L25
(``--border_ratio 0.05``) and L84-85 (``desired_size = size * (1 - border_ratio)``)."""

FINE_TUNE_GUIDANCE_PROFILE: Literal["triangular"] = "triangular"
"""Per-frame guidance of the fine-tune's own sampler: up from the min scale over the first ``F // 2``
frames, then down (``src/models/sv3d_p.py`` L498-509, ``src/models/human_splat.py`` L413-424)."""

RENDERS_PER_SUBJECT = 36
"""Renders per training subject (``src/data/human_dataset.py`` L111)."""

AzimuthKind = Literal["labels", "even"]
FINE_TUNE_AZIMUTHS: AzimuthKind = "labels"
"""The azimuths views mode feeds by default (module docstring)."""


def fine_tune_azimuths(num_frames: int = FINE_TUNE_NUM_FRAMES, kind: AzimuthKind = FINE_TUNE_AZIMUTHS) -> list[float]:
    """(F,) azimuths in degrees of the training orbit's views, frame 0 = 0 (module docstring).

    Args:
        num_frames: F, 2 to 36 (the loader steps ``36 // F`` renders at a time).
        kind: ``"labels"`` (step ``(36 // F) * 360 / 35``) or ``"even"`` (step ``(36 // F) * 10``).

    Raises:
        ValueError: ``num_frames`` outside 2-36 or an unknown ``kind`` (the message quotes it).
    """
    if not 2 <= int(num_frames) <= RENDERS_PER_SUBJECT:
        raise ValueError(
            f"num_frames must be from 2 to {RENDERS_PER_SUBJECT} (the fine-tune's orbit has 36 renders), got {num_frames!r}"
        )
    interval = RENDERS_PER_SUBJECT // int(num_frames)
    if kind == "labels":
        step = interval * 360.0 / (RENDERS_PER_SUBJECT - 1)  # np.linspace(-180, 180, 36): both ends included
    elif kind == "even":
        step = interval * 360.0 / RENDERS_PER_SUBJECT
    else:
        raise ValueError(f"azimuth kind must be 'labels' or 'even', got {kind!r}")
    return [k * step for k in range(int(num_frames))]
