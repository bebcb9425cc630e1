"""gsplat backend: :func:`gsplat.rasterization` (CUDA) behind our :class:`RenderOutput`.

gsplat is optional (``pip install -r requirements-gpu.txt`` on a CUDA machine); it is imported
inside the function. Its image formation is what the torch backend reproduces (same projection,
footprint, compositing, ``"RGB+ED"`` expected depth), so the two agree to float precision.
"""

from __future__ import annotations

import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from .output import RenderOutput
from .projection import RasterizeMode

__all__ = ["render_gsplat"]


def render_gsplat(
    gaussians: Gaussians,
    cameras: Cameras,
    background: torch.Tensor,
    near: float,
    far: float,
    sh_degree: int,
    rasterize_mode: RasterizeMode = "classic",
) -> RenderOutput:
    """Rasterise with gsplat; shapes as :class:`humansplat.render.RenderOutput`.

    Args:
        gaussians: N Gaussians on a CUDA device.
        cameras: C cameras (moved to the Gaussians' device).
        background: (3,) RGB behind the Gaussians.
        near, far: depth culling planes in metres.
        sh_degree: SH degree to evaluate (<= the Gaussians' degree).
        rasterize_mode: ``"classic"`` or ``"antialiased"`` (:data:`~humansplat.render.projection.RasterizeMode`).

    Raises:
        ImportError: gsplat is not installed (with what to do).
        ValueError: the Gaussians are not on a CUDA device.
    """
    try:
        from gsplat import rasterization
    except ImportError as exc:
        raise ImportError(
            "render backend 'gsplat' needs the gsplat package (CUDA only): install it with "
            "`pip install -r requirements-gpu.txt` on a machine with a CUDA build of torch, "
            "or use backend='torch'"
        ) from exc
    if gaussians.device.type != "cuda":
        raise ValueError(
            f"render backend 'gsplat' needs the Gaussians on a CUDA device, got {gaussians.device}; "
            "move them with gaussians.to('cuda') or use backend='torch'"
        )
    device = gaussians.device
    C = len(cameras)
    sh = gaussians.sh[:, : (sh_degree + 1) ** 2].float()  # (N, K, 3)
    colors, alphas, _ = rasterization(
        means=gaussians.means.float(),
        quats=gaussians.quats.float(),  # gsplat normalises (w, x, y, z)
        scales=gaussians.scales.float(),
        opacities=gaussians.opacities.float(),
        colors=sh,
        viewmats=cameras.viewmats.to(device=device, dtype=torch.float32),
        Ks=cameras.Ks.to(device=device, dtype=torch.float32),
        width=cameras.width,
        height=cameras.height,
        near_plane=near,
        far_plane=far,
        sh_degree=sh_degree,
        packed=False,
        backgrounds=background.to(device=device, dtype=torch.float32).reshape(1, 3).expand(C, 3).contiguous(),
        render_mode="RGB+ED",
        rasterize_mode=rasterize_mode,
    )
    # colors: (C, H, W, 4) = RGB over the background + expected depth (sum w z / alpha).
    rgb = colors[..., :3]
    depth = torch.where(alphas > 0, colors[..., 3:4], torch.zeros_like(alphas))
    return RenderOutput(rgb, alphas, depth)
