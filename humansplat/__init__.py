"""HumanSplat: single-image human Gaussian Splatting with structure priors.

The public entry points, importable from the package (loaded on first use: importing ``humansplat``
stays light; heavy modules such as mediapipe, anny, diffusers and gradio load when needed)::

    from humansplat import reconstruct
    result = reconstruct("photo.jpg", mode="auto")   # humansplat.api.reconstruct -> Result
    result.save("out/")

* :func:`reconstruct`, :func:`iter_reconstruct`, :func:`check_options`, :func:`network_status` (:mod:`humansplat.api`)
* :class:`Result` (:mod:`humansplat.result`), :class:`Gaussians`, :class:`Cameras`, :class:`BodyFit`
* :func:`load_photo`, :func:`detect_person`, :func:`fit_body` (the structure prior's stages)
* :func:`gaussians_from_prior` (prior mode); rendering: :func:`humansplat.render.render`
* :class:`InputError`, :class:`WeightsUnavailableError`, :class:`TimeLimitError`, :class:`Deadline`
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "reconstruct": "humansplat.api",
    "iter_reconstruct": "humansplat.api",
    "check_options": "humansplat.api",
    "network_status": "humansplat.api",
    "Result": "humansplat.result",
    "Gaussians": "humansplat.gaussians",
    "Cameras": "humansplat.cameras",
    "BodyFit": "humansplat.prior.body_fit",
    "load_photo": "humansplat.io.images",
    "detect_person": "humansplat.prior.person",
    "fit_body": "humansplat.prior.fit",
    "gaussians_from_prior": "humansplat.prior_mode.build",
    "InputError": "humansplat.errors",
    "WeightsUnavailableError": "humansplat.errors",
    "TimeLimitError": "humansplat.errors",
    "Deadline": "humansplat.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Lazy exports (PEP 562): ``humansplat.reconstruct`` is the function of :mod:`humansplat.api`."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'humansplat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
