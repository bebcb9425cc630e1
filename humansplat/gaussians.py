"""Gaussians: the 3D Gaussian Splatting scene that travels between stages.

Storage follows the original 3DGS code so that ``.ply`` files open in standard viewers:
scales are stored as **log** (metres), opacities as **logit**, rotations as unit quaternions in
**(w, x, y, z)** order (gsplat's order), colours as spherical-harmonics coefficients: ``sh0`` is the
DC band, ``rgb = 0.5 + SH_C0 * sh0``; ``shN`` holds the higher bands (degree 1..3), possibly empty.
All activations and their inverses live in this module (``Gaussians.from_activated`` and the
properties), nowhere else. Means are in the world frame (see :mod:`humansplat.cameras`).

Shapes: N Gaussians, K = (degree + 1)^2 - 1 higher SH coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import torch

__all__ = ["Gaussians", "SH_C0", "rgb_to_sh0", "sh0_to_rgb"]

SH_C0 = 0.28209479177387814


def rgb_to_sh0(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (..., 3) -> SH DC coefficients (..., 3)."""
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: torch.Tensor) -> torch.Tensor:
    """SH DC coefficients (..., 3) -> RGB (..., 3) (not clamped)."""
    return sh0 * SH_C0 + 0.5


@dataclass
class Gaussians:
    """N 3D Gaussians in the world frame.

    Attributes:
        means: (N, 3) float32, metres, world frame.
        log_scales: (N, 3) float32, log of the standard deviations along the local axes (metres).
        quats: (N, 4) float32, rotation as a quaternion (w, x, y, z); need not be normalised
            (renderers normalise), ``normalized_quats()`` returns unit quaternions.
        logit_opacities: (N,) float32, logit of the opacity in (0, 1).
        sh0: (N, 3) float32, SH DC band (``rgb = 0.5 + SH_C0 * sh0``).
        shN: (N, K, 3) float32, higher SH bands, K in {0, 3, 8, 15}.
    """

    means: torch.Tensor
    log_scales: torch.Tensor
    quats: torch.Tensor
    logit_opacities: torch.Tensor
    sh0: torch.Tensor
    shN: torch.Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {
            "means": (n, 3),
            "log_scales": (n, 3),
            "quats": (n, 4),
            "logit_opacities": (n,),
            "sh0": (n, 3),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"Gaussians.{name} must have shape {shape}, got {got}")
        if self.shN.ndim != 3 or self.shN.shape[0] != n or self.shN.shape[2] != 3:
            raise ValueError(f"Gaussians.shN must have shape (N, K, 3), got {tuple(self.shN.shape)}")
        if self.shN.shape[1] not in (0, 3, 8, 15):
            raise ValueError(f"Gaussians.shN has {self.shN.shape[1]} coefficients; expected 0, 3, 8 or 15")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_activated(
        cls,
        means: torch.Tensor,
        scales: torch.Tensor,
        quats: torch.Tensor,
        opacities: torch.Tensor,
        rgb: torch.Tensor,
        shN: torch.Tensor | None = None,
        eps: float = 1e-6,
    ) -> "Gaussians":
        """Build from activated values: scales (N, 3) metres > 0, opacities (N,) in (0, 1),
        rgb (N, 3) in [0, 1]. Values are clamped away from the activations' poles by ``eps``."""
        n = means.shape[0]
        opac = opacities.reshape(n).clamp(eps, 1.0 - eps)
        if shN is None:
            shN = means.new_zeros(n, 0, 3)
        return cls(
            means=means,
            log_scales=torch.log(scales.clamp_min(eps)),
            quats=quats,
            logit_opacities=torch.log(opac) - torch.log1p(-opac),
            sh0=rgb_to_sh0(rgb),
            shN=shN,
        )

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> "Gaussians":
        z = torch.zeros(0, 3, device=device)
        return cls(z, z.clone(), torch.zeros(0, 4, device=device), torch.zeros(0, device=device), z.clone(),
                   torch.zeros(0, 0, 3, device=device))

    # ------------------------------------------------------------------ activations
    @property
    def scales(self) -> torch.Tensor:
        """(N, 3) standard deviations in metres."""
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> torch.Tensor:
        """(N,) opacities in (0, 1)."""
        return torch.sigmoid(self.logit_opacities)

    @property
    def rgb(self) -> torch.Tensor:
        """(N, 3) view-independent colour (SH DC band only), clamped to [0, 1]."""
        return sh0_to_rgb(self.sh0).clamp(0.0, 1.0)

    @property
    def sh_degree(self) -> int:
        return {0: 0, 3: 1, 8: 2, 15: 3}[self.shN.shape[1]]

    @property
    def sh(self) -> torch.Tensor:
        """(N, (degree+1)^2, 3) all SH coefficients, DC first."""
        return torch.cat([self.sh0[:, None, :], self.shN], dim=1)

    def normalized_quats(self) -> torch.Tensor:
        """(N, 4) unit quaternions (w, x, y, z)."""
        return torch.nn.functional.normalize(self.quats, dim=-1)

    # ------------------------------------------------------------------ container ops
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def device(self) -> torch.device:
        return self.means.device

    def _map(self, fn) -> "Gaussians":
        return Gaussians(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Gaussians":
        return self._map(lambda t: t.to(device=device, dtype=dtype))

    def detach(self) -> "Gaussians":
        return self._map(lambda t: t.detach())

    def clone(self) -> "Gaussians":
        return self._map(lambda t: t.clone())

    def __getitem__(self, index: torch.Tensor | slice) -> "Gaussians":
        """Select Gaussians by boolean mask (N,), index tensor or slice."""
        return self._map(lambda t: t[index])

    def select(self, mask: torch.Tensor) -> "Gaussians":
        """The Gaussians where the boolean ``mask`` (N,) is true."""
        if mask.dtype != torch.bool or mask.shape != (len(self),):
            raise ValueError(f"select needs a boolean mask of shape ({len(self)},), got {mask.dtype} {tuple(mask.shape)}")
        return self[mask]

    def prune(self, min_opacity: float = 1.0 / 255.0) -> "Gaussians":
        """Drop Gaussians whose opacity is below ``min_opacity`` (they cannot change a pixel)."""
        return self.select(self.opacities >= min_opacity)

    @staticmethod
    def cat(items: Sequence["Gaussians"]) -> "Gaussians":
        """Concatenate Gaussians; higher SH bands are zero-padded to the largest degree."""
        items = list(items)
        if not items:
            raise ValueError("Gaussians.cat needs at least one set")
        k = max(g.shN.shape[1] for g in items)
        padded = []
        for g in items:
            if g.shN.shape[1] < k:
                pad = g.shN.new_zeros(len(g), k - g.shN.shape[1], 3)
                g = replace(g, shN=torch.cat([g.shN, pad], dim=1))
            padded.append(g)
        return Gaussians(**{f.name: torch.cat([getattr(g, f.name) for g in padded]) for f in fields(Gaussians)})

    def bounding_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(min (3,), max (3,)) of the means in metres."""
        if len(self) == 0:
            raise ValueError("bounding_box of an empty Gaussians set")
        return self.means.min(dim=0).values, self.means.max(dim=0).values

    def center_and_radius(self) -> tuple[torch.Tensor, float]:
        """Centre of the bounding box (3,) and half its diagonal (metres): framing for orbits."""
        lo, hi = self.bounding_box()
        return (lo + hi) / 2, float((hi - lo).norm() / 2)
