"""Pure-PyTorch Gaussian rasteriser (CPU and any device), differentiable.

``render_torch`` is the real backend: gsplat's pipeline (EWA projection, tile binning with
depth-sorted per-tile lists, front-to-back compositing) in batched PyTorch with a custom backward
(:mod:`.projection`, :mod:`.binning`, :mod:`.rasterize`). Without a gradient on the CPU, when numba
is installed, all three stages run compiled instead (:mod:`.compiled_projection`,
:mod:`.compiled_binning`, :mod:`.compiled`): the same values to float rounding, the same tile lists.
The image does not depend on the
tile size (a Gaussian's footprint box holds every pixel it can reach): the PyTorch rounds use 8x8
tiles (they evaluate every pixel of a tile: about half the pixel-Gaussian pairs of 16x16 tiles,
1.6x faster), the compiled kernel gsplat's 16x16 (it visits only each Gaussian's own pixels, and
16x16 tiles halve the binning). ``_render_dense`` is its slow reference twin: every pixel
against every visible Gaussian, differentiated by autograd; tests use it as the oracle.
Image formation matches gsplat (see :mod:`humansplat.render`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from .binning import bin_gaussians
from .compiled import composite_images_compiled
from .compiled_binning import bin_compiled
from .compiled_projection import project_compiled
from .formation import ALPHA_MAX, ALPHA_MIN, T_MIN
from .output import RenderOutput
from .projection import RasterizeMode, project_gaussians
from .rasterize import RasterOptions, needs_grad, rasterize_tiles, tiles_to_images, uses_compiled

__all__ = ["composite", "render_torch"]


def _finish(acc: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor) -> RenderOutput:
    """(C, H, W, 4) accumulated colour + depth and (C, H, W, 1) alpha -> RenderOutput."""
    bg = background.to(acc.dtype)
    rgb = acc[..., :3] + (1.0 - alpha) * bg
    depth = torch.where(alpha > 0, acc[..., 3:] / alpha.clamp_min(1e-10), torch.zeros_like(alpha))
    return RenderOutput(rgb, alpha, depth)


def render_torch(
    gaussians: Gaussians,
    cameras: Cameras,
    background: torch.Tensor,
    near: float,
    far: float,
    sh_degree: int,
    tile_size: int | None = None,
    options: RasterOptions | None = None,
    rasterize_mode: RasterizeMode = "classic",
) -> RenderOutput:
    """Rasterise with the tiled pure-PyTorch backend; shapes as :class:`humansplat.render.RenderOutput`.

    Differentiable w.r.t. every Gaussian attribute (autograd through the projection, a custom
    backward for the compositing). Works in the Gaussians' dtype (float32 or float64).
    ``tile_size`` and ``options`` (:class:`~humansplat.render.rasterize.RasterOptions`) only
    change the speed; ``rasterize_mode`` is :data:`~humansplat.render.projection.RasterizeMode`.
    """
    options = options or RasterOptions()
    inputs = (gaussians.means, gaussians.log_scales, gaussians.quats, gaussians.logit_opacities, gaussians.sh0,
              gaussians.shN, cameras.viewmats, cameras.Ks, background)
    compiled = uses_compiled(options, gaussians.device, needs_grad(*inputs))  # forward only: nothing needs a gradient
    project, binning = (project_compiled, bin_compiled) if compiled else (project_gaussians, bin_gaussians)
    proj = project(gaussians, cameras, near, far, sh_degree, rasterize_mode)
    C, N = proj.depths.shape
    H, W = cameras.height, cameras.width
    if tile_size is None:
        tile_size = 16 if compiled else 8
    bins = binning(proj.means2d.detach(), proj.radii, proj.depths.detach(), W, H, tile_size)
    screen = (proj.means2d.reshape(C * N, 2), proj.conics.reshape(C * N, 3), proj.opacities.reshape(C * N))
    if compiled:  # values joined in NumPy on one thread (PyTorch's would hand it to OpenMP threads); the
        # kernel finishes the images (background, depth) as _finish does
        values = np.concatenate([proj.colors.numpy(), proj.depths.numpy()[..., None]], axis=-1).reshape(C * N, 4)
        return RenderOutput(*composite_images_compiled(*screen, torch.from_numpy(values), bins, W, H, background=background))
    values = torch.cat([proj.colors, proj.depths[..., None]], dim=-1).reshape(C * N, 4)
    images = tiles_to_images(rasterize_tiles(*screen, values, bins, options), bins, W, H)  # (C, H, W, 5)
    return _finish(images[..., :4], images[..., 4:], background)


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


def _render_dense(
    gaussians: Gaussians,
    cameras: Cameras,
    background: torch.Tensor,
    near: float,
    far: float,
    sh_degree: int,
    pixel_chunk: int = 4096,
    rasterize_mode: RasterizeMode = "classic",
) -> RenderOutput:
    """Reference twin of :func:`render_torch`: every pixel x every visible Gaussian, autograd.

    Slow (O(pixels x Gaussians)); for tests on small scenes only.
    """
    proj = project_gaussians(gaussians, cameras, near, far, sh_degree, rasterize_mode)
    H, W = cameras.height, cameras.width
    dtype = proj.means2d.dtype
    pix = cameras.pixel_grid().to(dtype).reshape(-1, 2)  # (H*W, 2)
    accs, alphas = [], []
    for ci in range(len(cameras)):
        vis = torch.nonzero(proj.visible[ci]).squeeze(-1)
        order = torch.argsort(proj.depths[ci, vis].detach())
        idx = vis[order]
        mu = proj.means2d[ci, idx]  # (K, 2)
        con = proj.conics[ci, idx]  # (K, 3)
        opa = proj.opacities[ci, idx]  # (K,)
        vals = torch.cat([proj.colors[ci, idx], proj.depths[ci, idx, None]], dim=-1)  # (K, 4)
        out_v, out_a = [], []
        for start in range(0, pix.shape[0], pixel_chunk):
            p = pix[start : start + pixel_chunk]
            d = mu[None, :, :] - p[:, None, :]  # (P, K, 2)
            power = 0.5 * (con[None, :, 0] * d[..., 0] ** 2 + con[None, :, 2] * d[..., 1] ** 2) + con[None, :, 1] * d[..., 0] * d[..., 1]
            a = torch.clamp_max(opa[None, :] * torch.exp(-power), ALPHA_MAX)
            a = torch.where((power >= 0) & (a >= ALPHA_MIN), a, torch.zeros_like(a))
            acc, alpha = composite(a, vals)
            out_v.append(acc)
            out_a.append(alpha)
        accs.append(torch.cat(out_v).reshape(H, W, 4))
        alphas.append(torch.cat(out_a).reshape(H, W, 1))
    return _finish(torch.stack(accs), torch.stack(alphas), background)
