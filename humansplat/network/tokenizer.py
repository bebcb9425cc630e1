"""Human geometric tokenizer: body vertices -> human prior tokens H.

Each (kept) body vertex becomes one token built from

* the **feature sampled at its projection into the input view**: the vertex is projected with the
  input view's :class:`~humansplat.cameras.Cameras` and the input view's token grid (D, Hp, Wp) is
  sampled bilinearly there (``grid_sample``, ``align_corners=False``, zeros outside the image). The
  token grid covers the image exactly, so image pixel coordinate ``u in [0, W]`` maps to the
  normalised coordinate ``2 u / W - 1`` whatever the grid resolution: the centre of token column
  ``j`` (image ``u = (j + 0.5) W / Wp``) lands on ``2 (j + 0.5) / Wp - 1``, exactly the centre of grid
  pixel ``j`` under ``align_corners=False`` (our +0.5 pixel-centre convention);
* a **Fourier encoding of its 3D position** relative to the body's centre (metres, world frame):
  ``[p, sin(2^f pi p), cos(2^f pi p)]`` for f = 0..F-1 (periods 2 m down to 2^(2-F) m);
* an **embedding of its semantic part** (:data:`humansplat.parts.PART_NAMES`).

The three are concatenated and mapped by a 2-layer MLP to the model width D.

Shapes: B batch, M body vertices, K kept vertices (tokens), D width, Hp x Wp token grid.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cameras import Cameras

__all__ = ["HumanGeometricTokenizer", "sample_token_features", "fourier_encode", "subsample_indices"]


def sample_token_features(grid: torch.Tensor, uv: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Bilinearly sample a feature grid covering a ``width`` x ``height`` image at pixel positions.

    Args:
        grid: (B, D, Hp, Wp) features; the grid spans the whole image.
        uv: (B, K, 2) continuous image pixel coordinates (pixel centres at +0.5).
        width, height: image size in pixels that ``uv`` refers to.

    Returns:
        (B, K, D) features; zero outside the image (bilinear falloff within half a grid pixel of
        its border).
    """
    if grid.ndim != 4 or uv.ndim != 3 or uv.shape[-1] != 2 or uv.shape[0] != grid.shape[0]:
        raise ValueError(f"grid must be (B, D, Hp, Wp) and uv (B, K, 2), got {tuple(grid.shape)}, {tuple(uv.shape)}")
    scale = uv.new_tensor([2.0 / width, 2.0 / height])
    norm = (uv * scale - 1.0).to(grid.dtype)  # align_corners=False: -1 / +1 are the image's outer edges
    out = F.grid_sample(grid, norm[:, :, None, :], mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[..., 0].transpose(1, 2)  # [B, D, K, 1] -> [B, K, D]


def fourier_encode(points: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """(..., 3) metres -> (..., 3 + 6 F): ``[p, sin(2^f pi p), cos(2^f pi p)]``, f = 0..F-1."""
    freqs = (2.0 ** torch.arange(num_frequencies, device=points.device, dtype=points.dtype)) * math.pi
    angles = points[..., None, :] * freqs[:, None]  # (..., F, 3)
    return torch.cat([points, angles.sin().flatten(-2), angles.cos().flatten(-2)], dim=-1)


def subsample_indices(num_vertices: int, max_tokens: int, device: torch.device | None = None) -> torch.Tensor:
    """Deterministic, evenly strided vertex indices: all of them when ``num_vertices <= max_tokens``.

    Body-model vertex orders are spatially coherent per part, so a stride keeps every part covered.
    """
    if max_tokens <= 0 or num_vertices <= max_tokens:
        return torch.arange(num_vertices, device=device)
    return torch.linspace(0, num_vertices - 1, max_tokens, device=device).round().long()


class HumanGeometricTokenizer(nn.Module):
    """Body vertices + input-view token grid -> prior tokens (B, K, D).

    Args:
        dim: token width D (the sampled features have width D too).
        num_parts: number of semantic part labels (``len(PART_NAMES)``).
        part_dim: width of the part embedding.
        num_frequencies: F of the Fourier position encoding.
    """

    def __init__(self, dim: int, num_parts: int, part_dim: int = 32, num_frequencies: int = 6) -> None:
        super().__init__()
        self.num_parts = num_parts
        self.num_frequencies = num_frequencies
        self.feature_norm = nn.LayerNorm(dim)
        self.part_embedding = nn.Embedding(num_parts, part_dim)
        in_dim = dim + 3 + 6 * num_frequencies + part_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))

    @staticmethod
    def sample(grid: torch.Tensor, vertices: torch.Tensor, cameras: Sequence[Cameras]) -> torch.Tensor:
        """Features of the input view's token grid at each vertex's projection.

        Args:
            grid: (B, D, Hp, Wp) input-view tokens.
            vertices: (B, K, 3) world points (metres).
            cameras: B one-view cameras of the input view (any image size).

        Returns:
            (B, K, D).
        """
        uvs = []
        for b, cam in enumerate(cameras):
            cam = cam.to(vertices.device)
            # sample on the grid's own resolution: identical normalised coordinates, smaller numbers
            uv, _ = cam.resize(grid.shape[-1], grid.shape[-2]).project(vertices[b].float())
            uvs.append(uv[0])
        return sample_token_features(grid, torch.stack(uvs), grid.shape[-1], grid.shape[-2])

    def forward(
        self,
        grid: torch.Tensor,
        vertices: torch.Tensor,
        parts: torch.Tensor,
        cameras: Sequence[Cameras],
        center: torch.Tensor,
    ) -> torch.Tensor:
        """Prior tokens.

        Args:
            grid: (B, D, Hp, Wp) input-view tokens.
            vertices: (B, K, 3) kept body vertices, metres, world frame.
            parts: (B, K) int64 labels in [0, num_parts).
            cameras: B one-view input cameras.
            center: (B, 3) body centre (metres); positions are encoded relative to it.

        Returns:
            (B, K, D) prior tokens.
        """
        if parts.shape != vertices.shape[:2]:
            raise ValueError(f"parts must be (B, K) = {tuple(vertices.shape[:2])}, got {tuple(parts.shape)}")
        if parts.numel() and (int(parts.min()) < 0 or int(parts.max()) >= self.num_parts):
            raise ValueError(
                f"part labels must lie in [0, {self.num_parts}), got [{int(parts.min())}, {int(parts.max())}]"
            )
        feats = self.sample(grid, vertices, cameras)
        pos = fourier_encode((vertices - center[:, None, :]).float(), self.num_frequencies).to(grid.dtype)
        x = torch.cat([self.feature_norm(feats), pos, self.part_embedding(parts)], dim=-1)
        return self.mlp(x)

