"""Parametric body models behind one small interface (:class:`BodyModel`).

Backends:

* ``"anny"`` (default): anny (Apache-2.0), whose package ships all its data; always available.
* ``"smplx"``: SMPL-X through the ``smplx`` package, only when the environment variable
  ``HUMANSPLAT_SMPLX_DIR`` points at model files you obtained yourself (we never download them).

``get_body_model(name)`` loads a backend once per process (thread-safe) and returns the shared,
read-only instance. Frames, units and parameters: :mod:`.base`.
"""

from __future__ import annotations

import threading

# re-exported: the body models' rotation helpers live in humansplat.geometry
from ...geometry import axis_angle_to_matrix, matrix_to_axis_angle
from .base import (
    HINGE_GROUPS,
    LANDMARK_NAMES,
    POSE_GROUPS,
    BodyModel,
    BodyOutput,
    BodyParams,
    default_pose_limits,
)

__all__ = [
    "BACKENDS",
    "HINGE_GROUPS",
    "LANDMARK_NAMES",
    "POSE_GROUPS",
    "BodyModel",
    "BodyOutput",
    "BodyParams",
    "axis_angle_to_matrix",
    "default_pose_limits",
    "get_body_model",
    "matrix_to_axis_angle",
]

BACKENDS: tuple[str, ...] = ("anny", "smplx")

_CACHE: dict[str, BodyModel] = {}
_LOCK = threading.Lock()


def get_body_model(name: str = "anny") -> BodyModel:
    """The body model ``name`` ("anny" or "smplx"), loaded once per process.

    Raises:
        ValueError: unknown backend name.
        humansplat.errors.WeightsUnavailableError: "smplx" without model files (the message says
            how to provide them).
    """
    key = str(name).lower()
    if key not in BACKENDS:
        raise ValueError(f"unknown body model {name!r}; choose one of {', '.join(BACKENDS)}")
    model = _CACHE.get(key)
    if model is not None:
        return model
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            if key == "anny":
                from .anny_model import AnnyBody

                model = AnnyBody()
            else:
                from .smplx_model import SmplxBody

                model = SmplxBody()
            _CACHE[key] = model
    return model
