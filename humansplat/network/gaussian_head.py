"""Gaussian head: output tokens -> pixel-aligned 3D Gaussians.

Each output token covers p x p latent pixels of its view; the head (a LayerNorm and one linear layer,
i.e. a 1x1 convolution per Gaussian pixel after a pixel shuffle) turns it into ``(p g)^2`` Gaussians,
one per pixel of the view's **Gaussian map** of ``(h g) x (w g)`` pixels (latent ``h x w`` upsampled by
``g = gaussian_upsample``; the research code's 128 x 128 per view at 512 px is g = 2). Each Gaussian
sits on the ray through the centre of its Gaussian-map pixel (:meth:`Cameras.rays` of the view's
cameras resized to the map), so the map is pixel-aligned.

Raw channels (12 per Gaussian) and their activations (the only place they are defined):

==========  ====  ==========================================================================
name        ch.   activation, range, unit
==========  ====  ==========================================================================
depth       1     distance along the unit ray ``t = t_body + depth_half_range * tanh(x)``
                  metres, where ``t_body`` is the distance from the view's camera centre to the
                  body centre: within +-``depth_half_range`` of the body's distance.
scale       3     ``scale_min + (scale_max - scale_min) * sigmoid(x)``, metres (std. deviation)
rotation    4     ``normalize(x)``, unit quaternion (w, x, y, z); the bias starts at (1, 0, 0, 0)
opacity     1     ``sigmoid(x)``, in (0, 1)
rgb         3     ``sigmoid(x)``, colour in (0, 1) (stored as the SH DC band by ``Gaussians``)
==========  ====  ==========================================================================

The output layer's bias is initialised so that an untrained head gives Gaussians on the body's
distance, ``init_scale`` metres wide, ``init_opacity`` opaque and grey.

Shapes: B batch, V views, Hp x Wp tokens per view, Hg x Wg Gaussian map per view, D width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..cameras import Cameras
from ..gaussians import Gaussians

__all__ = ["GaussianHead", "PixelGaussians", "RAW_CHANNELS"]

RAW_CHANNELS: dict[str, int] = {"depth": 1, "scale": 3, "rotation": 4, "opacity": 1, "rgb": 3}
"""Raw channels per Gaussian, in this order."""


@dataclass
class PixelGaussians:
    """Activated pixel-aligned Gaussian maps of every view (float32, world frame).

    Attributes:
        means: (B, V, Hg, Wg, 3) metres.
        scales: (B, V, Hg, Wg, 3) metres.
        quats: (B, V, Hg, Wg, 4) unit (w, x, y, z).
        opacities: (B, V, Hg, Wg) in (0, 1).
        rgb: (B, V, Hg, Wg, 3) in (0, 1).
        depths: (B, V, Hg, Wg) distance along each pixel's unit ray (metres).
    """

    means: torch.Tensor
    scales: torch.Tensor
    quats: torch.Tensor
    opacities: torch.Tensor
    rgb: torch.Tensor
    depths: torch.Tensor

    def to_gaussians(self, index: int) -> Gaussians:
        """All views' Gaussians of batch item ``index`` (V * Hg * Wg of them, view-major order)."""
        return Gaussians.from_activated(
            means=self.means[index].reshape(-1, 3),
            scales=self.scales[index].reshape(-1, 3),
            quats=self.quats[index].reshape(-1, 4),
            opacities=self.opacities[index].reshape(-1),
            rgb=self.rgb[index].reshape(-1, 3),
        )


class GaussianHead(nn.Module):
    """Tokens (B, V, Hp, Wp, D) -> :class:`PixelGaussians` on each view's Gaussian map.

    Args:
        dim: token width D.
        pixels_per_token: p * g, the Gaussian-map pixels per token side.
        depth_half_range: metres either side of the body's distance a Gaussian may be placed.
        scale_min, scale_max: range of the Gaussians' standard deviations (metres).
        init_scale, init_opacity: what an untrained head outputs (bias initialisation).
    """

    def __init__(
        self,
        dim: int,
        pixels_per_token: int,
        depth_half_range: float = 1.0,
        scale_min: float = 1e-4,
        scale_max: float = 0.05,
        init_scale: float = 0.01,
        init_opacity: float = 0.1,
    ) -> None:
        super().__init__()
        if not 0 < scale_min < init_scale < scale_max:
            raise ValueError(f"need 0 < scale_min < init_scale < scale_max, got {scale_min}, {init_scale}, {scale_max}")
        if not 0 < init_opacity < 1:
            raise ValueError(f"init_opacity must lie in (0, 1), got {init_opacity}")
        self.pixels_per_token = pixels_per_token
        self.depth_half_range = depth_half_range
        self.scale_min, self.scale_max = scale_min, scale_max
        self.channels = sum(RAW_CHANNELS.values())
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, pixels_per_token * pixels_per_token * self.channels)
        nn.init.normal_(self.proj.weight, std=0.02 / math.sqrt(dim / 64))
        bias = torch.zeros(self.channels)
        frac = (init_scale - scale_min) / (scale_max - scale_min)
        bias[1:4] = math.log(frac / (1 - frac))
        bias[4] = 1.0  # quaternion w
        bias[8] = math.log(init_opacity / (1 - init_opacity))
        with torch.no_grad():
            self.proj.bias.copy_(bias.repeat(pixels_per_token * pixels_per_token))

    def forward(self, tokens: torch.Tensor, cameras: list[Cameras], center: torch.Tensor) -> PixelGaussians:
        """
        Args:
            tokens: (B, V, Hp, Wp, D) output tokens.
            cameras: B camera batches of V views each (any image size; resized to the map here).
            center: (B, 3) body centre, metres, world frame.
        """
        b, views, hp, wp, _ = tokens.shape
        s = self.pixels_per_token
        hg, wg = hp * s, wp * s
        raw = self.proj(self.norm(tokens)).float()
        # [B, V, Hp, Wp, s*s*C] -> [B, V, Hp, s, Wp, s, C] -> [B, V, Hg, Wg, C]
        raw = raw.reshape(b, views, hp, wp, s, s, self.channels).permute(0, 1, 2, 4, 3, 5, 6)
        raw = raw.reshape(b, views, hg, wg, self.channels)
        x_depth, x_scale, x_rot, x_opac, x_rgb = raw.split(list(RAW_CHANNELS.values()), dim=-1)

        origins, dirs = [], []
        for cam in cameras:
            o, d = cam.to(tokens.device).resize(wg, hg).rays()  # (V, Hg, Wg, 3) each
            origins.append(o)
            dirs.append(d)
        origins, dirs = torch.stack(origins), torch.stack(dirs)  # (B, V, Hg, Wg, 3)
        t_body = (center[:, None, :] - origins[:, :, 0, 0, :]).norm(dim=-1)  # (B, V)
        depths = t_body[:, :, None, None] + self.depth_half_range * torch.tanh(x_depth[..., 0])
        return PixelGaussians(
            means=origins + depths[..., None] * dirs,
            scales=self.scale_min + (self.scale_max - self.scale_min) * torch.sigmoid(x_scale),
            quats=F.normalize(x_rot, dim=-1),
            opacities=torch.sigmoid(x_opac[..., 0]),
            rgb=torch.sigmoid(x_rgb),
            depths=depths,
        )
