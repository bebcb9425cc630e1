"""Pure-PyTorch Gaussian rasteriser (CPU and any device), differentiable through autograd.

Reference implementation: every pixel against every visible Gaussian, in chunks of pixels.
Image formation matches gsplat (see :mod:`humansplat.render`).
"""

from __future__ import annotations

import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from . import RenderOutput
from .projection import project_gaussians

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4


def composite(alphas: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Front-to-back compositing with gsplat's skipping and early stop.

    Args:
        alphas: (P, K) per-pixel alphas of K depth-sorted Gaussians (already clamped, 0 = skipped).
        values: (P, K, D) or (K, D) per-Gaussian values (colour, depth, ...).

    Returns:
        accumulated: (P, D) = sum_k w_k values_k; alpha: (P,) = sum_k w_k, with
        w_k = alpha_k * prod_{j<k}(1 - alpha_j), stopped before transmittance drops to <= 1e-4.
    """
    one_minus = 1.0 - alphas
    trans_incl = torch.cumprod(one_minus, dim=-1)
    trans_excl = torch.cat([torch.ones_like(trans_incl[:, :1]), trans_incl[:, :-1]], dim=-1)
    keep = (trans_incl > T_MIN).to(alphas.dtype).detach()
    weights = alphas * trans_excl * keep
    if values.ndim == 2:
        acc = weights @ values
    else:
        acc = torch.einsum("pk,pkd->pd", weights, values)
    return acc, weights.sum(dim=-1)


def render_torch(
    gaussians: Gaussians,
    cameras: Cameras,
    background: torch.Tensor,
    near: float,
    far: float,
    sh_degree: int,
    pixel_chunk: int = 4096,
) -> RenderOutput:
    """Rasterise with pure PyTorch; shapes as :class:`humansplat.render.RenderOutput`."""
    proj = project_gaussians(gaussians, cameras, near, far, sh_degree)
    H, W = cameras.height, cameras.width
    pix = cameras.pixel_grid().reshape(-1, 2)  # (H*W, 2)
    rgbs, alphas, depths = [], [], []
    for ci in range(len(cameras)):
        vis = torch.nonzero(proj.radii[ci] > 0).squeeze(-1)
        order = torch.argsort(proj.depths[ci, vis].detach())
        idx = vis[order]
        mu = proj.means2d[ci, idx]  # (K, 2)
        con = proj.conics[ci, idx]  # (K, 3)
        opa = proj.opacities[idx]  # (K,)
        vals = torch.cat([proj.colors[ci, idx], proj.depths[ci, idx, None]], dim=-1)  # (K, 4)
        out_v, out_a = [], []
        for start in range(0, pix.shape[0], pixel_chunk):
            p = pix[start : start + pixel_chunk]
            d = p[:, None, :] - mu[None, :, :]  # (P, K, 2)
            power = 0.5 * (con[None, :, 0] * d[..., 0] ** 2 + con[None, :, 2] * d[..., 1] ** 2) + con[None, :, 1] * d[..., 0] * d[..., 1]
            a = torch.clamp_max(opa[None, :] * torch.exp(-power), ALPHA_MAX)
            a = torch.where((power >= 0) & (a >= ALPHA_MIN), a, torch.zeros_like(a))
            acc, alpha = composite(a, vals)
            out_v.append(acc)
            out_a.append(alpha)
        acc = torch.cat(out_v).reshape(H, W, 4) if out_v else pix.new_zeros(H, W, 4)
        alpha = torch.cat(out_a).reshape(H, W, 1) if out_a else pix.new_zeros(H, W, 1)
        rgbs.append(acc[..., :3] + (1.0 - alpha) * background)
        alphas.append(alpha)
        depths.append(torch.where(alpha > 0, acc[..., 3:] / alpha.clamp_min(1e-10), torch.zeros_like(alpha)))
    return RenderOutput(torch.stack(rgbs), torch.stack(alphas), torch.stack(depths))
