"""Differentiable Gaussian rendering: one function, two backends.

``render(gaussians, cameras)`` rasterises 3D Gaussians into C views and is differentiable with
respect to every Gaussian attribute. Backends:

* ``"gsplat"``: :func:`gsplat.rasterization` (CUDA only; the ``gpu`` extra).
* ``"torch"``: our own pure-PyTorch rasteriser (CPU, Apple, or CUDA without gsplat). It follows
  gsplat's image formation exactly: EWA projection with the 0.3 px low-pass added to the 2D
  covariance, near/far culling on the mean's camera depth, gsplat's opacity-aware footprint
  (every pixel where alpha reaches 1/255), tile binning with depth-sorted per-tile lists,
  front-to-back alpha compositing with ``alpha = min(0.999, opacity * exp(-power))``, skip below
  1/255, stop when the transmittance would fall to 1e-4, pixel centres at +0.5. Gradients come
  from a custom backward (no per-pixel graph is kept). Float32 or float64, as the Gaussians.
* ``"auto"`` (default): gsplat when the tensors are on CUDA and gsplat imports, else torch.

``rasterize_mode`` (both backends, gsplat's option of the same name): ``"classic"`` (default) keeps each
Gaussian's opacity after the 0.3 px low-pass; ``"antialiased"`` multiplies it by
``sqrt(det(S) / det(S + 0.3 I))`` (S the projected 2D covariance), as anti-aliased viewers do, so
sub-pixel Gaussians fade instead of growing to the low-pass's size.
"""

from __future__ import annotations

from typing import Literal

import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from .output import RenderOutput
from .projection import RasterizeMode

__all__ = ["Backend", "RasterizeMode", "RenderOutput", "gsplat_available", "render"]

Backend = Literal["auto", "torch", "gsplat"]


def gsplat_available() -> bool:
    """True when gsplat imports and CUDA is available."""
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except (ImportError, OSError, RuntimeError):  # not installed, or its CUDA library fails to load
        return False
    return True


def render(
    gaussians: Gaussians,
    cameras: Cameras,
    background: torch.Tensor | float | tuple[float, float, float] | None = None,
    backend: Backend = "auto",
    near: float = 0.01,
    far: float = 1e10,
    sh_degree: int | None = None,
    rasterize_mode: RasterizeMode = "classic",
) -> RenderOutput:
    """Render ``gaussians`` into every camera of ``cameras``.

    Args:
        gaussians: N Gaussians (world frame).
        cameras: C cameras (one image size).
        background: RGB (3,) or a scalar in [0, 1]; default black (0). White is ``1.0``.
        backend: ``"auto"``, ``"torch"`` or ``"gsplat"`` (see the module docstring).
        near, far: Gaussians whose mean has camera depth outside (near, far) metres are culled.
        sh_degree: SH degree to evaluate (default: all bands the Gaussians carry).
        rasterize_mode: ``"classic"`` (default) or ``"antialiased"`` (opacity compensated for the
            0.3 px^2 low-pass; see the module docstring).

    Returns:
        :class:`RenderOutput` with (C, H, W, ·) tensors on the Gaussians' device.
    """
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}; use 'classic' or 'antialiased'")
    device = gaussians.device
    cameras = cameras.to(device)
    if background is None:
        background = 0.0
    bg = torch.as_tensor(background, dtype=torch.float32, device=device).reshape(-1).expand(3)
    degree = gaussians.sh_degree if sh_degree is None else min(int(sh_degree), gaussians.sh_degree)
    if backend == "auto":
        backend = "gsplat" if device.type == "cuda" and gsplat_available() else "torch"
    # the backends load on first use (gsplat's CUDA library only when asked for)
    if backend == "gsplat":
        from .gsplat_backend import render_gsplat

        return render_gsplat(gaussians, cameras, bg, near, far, degree, rasterize_mode)
    if backend == "torch":
        from .torch_backend import render_torch

        return render_torch(gaussians, cameras, bg, near, far, degree, rasterize_mode=rasterize_mode)
    raise ValueError(f"unknown render backend {backend!r}; use 'auto', 'torch' or 'gsplat'")
