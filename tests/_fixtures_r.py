"""Shared helpers of the renderer/io tests (owner: R)."""

from __future__ import annotations

import torch

from humansplat.gaussians import Gaussians


def make_gaussians(n: int, k: int = 0, seed: int = 0, dtype: torch.dtype = torch.float32) -> Gaussians:
    """``n`` random Gaussians (standard-normal means, small scales) with ``k`` higher SH coefficients."""
    g = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=g, dtype=dtype),
        log_scales=torch.randn(n, 3, generator=g, dtype=dtype) - 4,
        quats=torch.randn(n, 4, generator=g, dtype=dtype),
        logit_opacities=torch.randn(n, generator=g, dtype=dtype),
        sh0=torch.randn(n, 3, generator=g, dtype=dtype),
        shN=torch.randn(n, k, 3, generator=g, dtype=dtype),
    )


def fields(g: Gaussians) -> list[torch.Tensor]:
    """The six stored tensors, in dataclass order."""
    return [g.means, g.log_scales, g.quats, g.logit_opacities, g.sh0, g.shN]
