"""Exponential moving average of a model's weights (the weights a training run exports).

After every optimisation step ``ema = decay * ema + (1 - decay) * weights`` for every trainable
parameter (kept in float32 whatever the model's dtype). :meth:`EMA.applied` swaps the averaged
weights into the model for evaluation or export and puts the trained ones back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["EMA"]


class EMA:
    """Moving average of ``model``'s trainable parameters.

    Args:
        model: the (unwrapped) model; its parameters at construction start the average.
        decay: d in [0, 1); 0.999 averages about the last thousand steps.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().float().clone() for name, p in model.named_parameters() if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """``ema = d * ema + (1 - d) * weights`` for every tracked parameter."""
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].mul_(self.decay).add_(p.detach().float(), alpha=1.0 - self.decay)

    @contextmanager
    @torch.no_grad()
    def applied(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Within the block ``model`` holds the averaged weights; the trained ones come back after."""
        saved = {}
        for name, p in model.named_parameters():
            if name in self.shadow:
                saved[name] = p.detach().clone()
                p.copy_(self.shadow[name].to(p))
        try:
            yield model
        finally:
            for name, p in model.named_parameters():
                if name in saved:
                    p.copy_(saved[name])

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, object]) -> None:
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):  # type: ignore[arg-type]
            raise ValueError("EMA state does not match the model's parameters (another model preset?)")
        self.decay = float(state["decay"])  # type: ignore[arg-type]
        for k, v in shadow.items():  # type: ignore[union-attr]
            self.shadow[k].copy_(v)
