"""What every render backend returns (re-exported as :class:`humansplat.render.RenderOutput`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RenderOutput"]


@dataclass
class RenderOutput:
    """What :func:`humansplat.render.render` returns (channel-last, like gsplat).

    Attributes:
        rgb: (C, H, W, 3) colour composited over the background, in [0, 1] for colours in [0, 1].
        alpha: (C, H, W, 1) accumulated opacity in [0, 1].
        depth: (C, H, W, 1) expected camera depth (metres) = sum(w_i z_i) / alpha; 0 where alpha is 0.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
