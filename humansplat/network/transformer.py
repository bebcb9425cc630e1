"""The latent reconstruction transformer: multi-view VAE latents + body prior -> 3D Gaussians.

Data flow (see ``docs/architecture.md`` and the method summary):

1. **Pose-conditioned latent maps.** Each of the V views (view ``input_view`` = the photo's VAE
   latent F0, the others generated latents F_1..F_N, all in the VAE's *scaled* latent space) is
   concatenated along channels with the Plücker embedding of its camera at the latent pixel
   centres: ``(d, (o - c) x d)`` with ``d`` the unit ray direction and ``o - c`` the camera centre
   relative to the body centre ``c`` (its bounding box's centre, :func:`body_center`), so the
   embedding does not depend on where the body stands in the input camera's frame.
2. **Patchify**: non-overlapping p x p patches, one linear layer (a strided convolution) to width D,
   plus a learned embedding telling the input view from generated ones.
3. **Intra-attention**: ``num_intra_layers`` pre-norm blocks (self-attention over all tokens of all
   views + MLP).
4. **Human geometric tokenizer** (:mod:`.tokenizer`): body vertices (subsampled to at most
   ``max_prior_tokens``) -> prior tokens, sampling the input view's token grid.
5. **Geometry-aware inter-attention** (:mod:`.attention`): ``num_inter_layers`` pre-norm blocks
   (window cross-attention to the prior tokens + MLP); a token sees the prior tokens projecting
   into the ``window_size x window_size`` patches around its own patch in its own view.
6. **Gaussian head** (:mod:`.gaussian_head`): each token -> (p g)^2 pixel-aligned Gaussians.

Every Gaussian of every view is returned (``V * (h g) * (w g)`` per batch item).

Shapes: B batch, V views, C latent channels, h x w latent size, Hp x Wp = h/p x w/p tokens per view,
M body vertices, K prior tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..cameras import Cameras
from ..gaussians import Gaussians
from ..orbit import body_center
from ..parts import PART_NAMES
from ..weights import UNTRAINED  # re-exported (transformer API)
from .attention import AttentionBackend, GeometryAwareInterAttention, InterAttentionImpl, SelfAttention, points_to_cells
from .gaussian_head import GaussianHead, PixelGaussians
from .provenance import Provenance
from .tokenizer import HumanGeometricTokenizer, subsample_indices

__all__ = ["LatentReconstructionTransformer", "ReconstructionOutput", "PRESETS", "UNTRAINED", "body_center"]

PRESETS: dict[str, dict] = {
    # tests: 64 px images (8x8 latents), width 32, 2 + 1 blocks; milliseconds on a CPU.
    "tiny": dict(
        patch_size=2, hidden_dim=32, num_heads=2, num_intra_layers=2, num_inter_layers=1, window_size=3,
        window_block=2, max_prior_tokens=64, part_dim=4, fourier_frequencies=2, gaussian_upsample=1,
    ),
    # CPU benchmarks / experiments: width 384, 6 + 2 blocks (~20 M parameters).
    "small": dict(
        patch_size=2, hidden_dim=384, num_heads=6, num_intra_layers=6, num_inter_layers=2, window_size=3,
        window_block=4, max_prior_tokens=2048, part_dim=16, fourier_frequencies=6, gaussian_upsample=2,
    ),
    # the paper: input + 4 views, latent 64x64 at 512 px (5 x 32 x 32 tokens), width 768, 12 + 4 blocks,
    # K_win = 3, 128 x 128 Gaussians per view (~115 M parameters).
    "base": dict(
        patch_size=2, hidden_dim=768, num_heads=12, num_intra_layers=12, num_inter_layers=4, window_size=3,
        window_block=4, max_prior_tokens=4096, part_dim=32, fourier_frequencies=6, gaussian_upsample=2,
    ),
}
"""Named configurations, each described in one line above its entry."""


@dataclass
class ReconstructionOutput(BaseOutput):
    """What :meth:`LatentReconstructionTransformer.forward` returns.

    Attributes:
        gaussians: B sets of Gaussians (world = input camera frame), ``V * Hg * Wg`` each, view-major.
        pixel_gaussians: the same Gaussians as per-view maps (B, V, Hg, Wg, ·), for losses.
    """

    gaussians: list[Gaussians]
    pixel_gaussians: PixelGaussians


class _Mlp(nn.Sequential):
    def __init__(self, dim: int, ratio: float) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))


class IntraBlock(nn.Module):
    """Pre-norm self-attention + MLP over all tokens (B, L, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, backend: AttentionBackend) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, backend)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class InterBlock(nn.Module):
    """Pre-norm window cross-attention to the prior tokens + MLP on tokens (B, V, Hp, Wp, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int, block: int) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.cross = GeometryAwareInterAttention(dim, num_heads, window_size, block)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, mlp_ratio)

    def forward(
        self,
        x: torch.Tensor,
        prior: torch.Tensor,
        key_cells: torch.Tensor,
        key_valid: torch.Tensor,
        impl: InterAttentionImpl = "window",
    ) -> torch.Tensor:
        x = x + self.cross(self.norm_q(x), self.norm_kv(prior), key_cells, key_valid, impl)
        return x + self.mlp(self.norm2(x))


class LatentReconstructionTransformer(ModelMixin, ConfigMixin):
    """HumanSplat's latent reconstruction transformer (module docstring: data flow).

    Config (defaults = the ``base`` preset, see :data:`PRESETS`):
        latent_channels: C, channels of a VAE latent (4).
        patch_size: p, latent pixels per token side.
        hidden_dim, num_heads: D and attention heads.
        num_intra_layers, num_inter_layers: self-attention blocks, then window cross-attention blocks.
        mlp_ratio: MLP hidden width / D.
        window_size: K_win, odd, patches per side of a query's window in the inter-attention.
        window_block: tile side of the window attention (speed/memory trade-off only).
        max_prior_tokens: body vertices kept as prior tokens (evenly strided subsample).
        num_parts, part_dim, fourier_frequencies: the tokenizer's part embedding and position encoding.
        gaussian_upsample: g, Gaussian-map pixels per latent pixel side.
        depth_half_range, scale_min, scale_max: the Gaussian head's ranges (metres).
        attention_backend: "auto" | "sdpa" | "xformers" for the intra-attention.
        trained: written as true by a trainer that saved trained weights; only then (and when the
            weights were actually loaded with ``from_pretrained``) is the model "trained".
        training_note: free text a trainer writes (data, iterations, resolution).
        provenance: what the weights were trained on (:class:`~humansplat.network.provenance.Provenance`
            as a dict: VAE, latent size, views, body model, data, steps, held-out scores, smoke);
            written by :meth:`mark_trained`, checked by the pipeline at load.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 4,
        patch_size: int = 2,
        hidden_dim: int = 768,
        num_heads: int = 12,
        num_intra_layers: int = 12,
        num_inter_layers: int = 4,
        mlp_ratio: float = 4.0,
        window_size: int = 3,
        window_block: int = 4,
        max_prior_tokens: int = 4096,
        num_parts: int = len(PART_NAMES),
        part_dim: int = 32,
        fourier_frequencies: int = 6,
        gaussian_upsample: int = 2,
        depth_half_range: float = 1.0,
        scale_min: float = 1e-4,
        scale_max: float = 0.05,
        attention_backend: str = "auto",
        trained: bool = False,
        training_note: str = "",
        provenance: dict | None = None,
    ) -> None:
        super().__init__()
        for name, value in dict(
            latent_channels=latent_channels, patch_size=patch_size, hidden_dim=hidden_dim, num_heads=num_heads,
            num_intra_layers=num_intra_layers, window_block=window_block, gaussian_upsample=gaussian_upsample,
            num_parts=num_parts, part_dim=part_dim,
        ).items():
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_inter_layers < 0 or fourier_frequencies < 0:
            raise ValueError(f"num_inter_layers and fourier_frequencies must be >= 0, got {num_inter_layers}, {fourier_frequencies}")
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
        if window_size < 1 or window_size % 2 == 0:
            raise ValueError(f"window_size (K_win) must be a positive odd number of patches, got {window_size}")
        if attention_backend not in ("auto", "sdpa", "xformers"):
            raise ValueError(f"attention_backend must be 'auto', 'sdpa' or 'xformers', got {attention_backend!r}")
        d = hidden_dim
        self.patch_embed = nn.Conv2d(latent_channels + 6, d, kernel_size=patch_size, stride=patch_size)
        self.view_embedding = nn.Embedding(2, d)  # 0: the input photo's view, 1: a generated view
        nn.init.normal_(self.view_embedding.weight, std=0.02)
        self.intra_blocks = nn.ModuleList(
            [IntraBlock(d, num_heads, mlp_ratio, attention_backend) for _ in range(num_intra_layers)]
        )
        self.tokenizer = HumanGeometricTokenizer(d, num_parts, part_dim, fourier_frequencies)
        self.inter_blocks = nn.ModuleList(
            [InterBlock(d, num_heads, mlp_ratio, window_size, window_block) for _ in range(num_inter_layers)]
        )
        self.norm_out = nn.LayerNorm(d)
        self.head = GaussianHead(d, patch_size * gaussian_upsample, depth_half_range, scale_min, scale_max)
        self.gradient_checkpointing = False
        self.weights_source: str | None = None  # set by from_pretrained

    # ------------------------------------------------------------------ presets and provenance
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "LatentReconstructionTransformer":
        """A randomly initialised model of a named preset (:data:`PRESETS`), config entries overridable."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "LatentReconstructionTransformer":
        """The ``tiny`` preset (tests)."""
        return cls.from_preset("tiny", **overrides)

    @classmethod
    def base(cls, **overrides) -> "LatentReconstructionTransformer":
        """The ``base`` preset (the paper's size)."""
        return cls.from_preset("base", **overrides)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs) -> "LatentReconstructionTransformer":
        """``ModelMixin.from_pretrained`` that also records where the weights came from."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        subfolder = kwargs.get("subfolder")
        model.weights_source = str(pretrained_model_name_or_path) + (f" ({subfolder})" if subfolder else "")
        return model

    @property
    def provenance_record(self) -> Provenance | None:
        """The recorded :class:`~humansplat.network.provenance.Provenance` (None if none or unreadable)."""
        data = self.config.get("provenance") if hasattr(self.config, "get") else None
        if not data:
            return None
        try:
            return Provenance.from_dict(data)
        except (ValueError, TypeError, KeyError):
            return None

    @property
    def has_trained_weights(self) -> bool:
        """True only for weights loaded by ``from_pretrained`` from a checkpoint marked ``trained``
        whose provenance records held-out scores."""
        record = self.provenance_record
        return self.weights_source is not None and bool(self.config.trained) and record is not None and record.is_trained

    @property
    def weights_status(self) -> str:
        """One line for people: where the weights came from and whether they were trained."""
        if self.weights_source is None:
            return UNTRAINED
        if not self.config.trained:
            return f"{UNTRAINED}, loaded from {self.weights_source} (its config says trained: false)"
        record = self.provenance_record
        if record is None:
            return f"{UNTRAINED}, loaded from {self.weights_source} (marked trained but records no provenance)"
        note = f"; {self.config.training_note}" if self.config.training_note else ""
        if not record.is_trained:
            return f"{UNTRAINED}, loaded from {self.weights_source} (no held-out scores recorded{note})"
        return f"trained: {self.weights_source}{note}; {record.summary()}"

    def mark_trained(self, note: str, provenance: Provenance) -> None:
        """For trainers: record in the config (saved by ``save_pretrained``) what the weights were
        trained on. They count as trained only when ``provenance.heldout`` is set."""
        if not isinstance(provenance, Provenance):
            raise TypeError(
                f"mark_trained needs a humansplat.network.provenance.Provenance, got {type(provenance).__name__}"
            )
        self.register_to_config(trained=True, training_note=str(note), provenance=provenance.to_dict())

    def compile_blocks(self, **compile_kwargs) -> None:
        """``torch.compile`` the static-shape parts in place (intra blocks, MLPs, head); the window
        attention has data-dependent shapes and stays eager."""
        for block in self.intra_blocks:
            block.compile(**compile_kwargs)
        for block in self.inter_blocks:
            block.mlp.compile(**compile_kwargs)
        self.head.compile(**compile_kwargs)

    # ------------------------------------------------------------------ forward
    def _check_inputs(self, latents, cameras, vertices, parts) -> list[Cameras]:
        cfg = self.config
        if latents.ndim != 5 or latents.shape[2] != cfg.latent_channels:
            raise ValueError(f"latents must be (B, V, {cfg.latent_channels}, h, w), got {tuple(latents.shape)}")
        b, views, _, h, w = latents.shape
        if h % cfg.patch_size or w % cfg.patch_size:
            raise ValueError(f"latent size {h}x{w} is not divisible by patch_size {cfg.patch_size}")
        cams = [cameras] if isinstance(cameras, Cameras) else list(cameras)
        if len(cams) != b:
            raise ValueError(f"{len(cams)} camera batches for a batch of {b} (pass one Cameras per batch item)")
        for c in cams:
            if len(c) != views:
                raise ValueError(f"a camera batch has {len(c)} views; the latents have {views}")
        if vertices.ndim != 3 or vertices.shape[0] != b or vertices.shape[-1] != 3 or vertices.shape[1] < 1:
            raise ValueError(f"vertices must be (B={b}, M >= 1, 3), got {tuple(vertices.shape)}")
        if parts.shape != vertices.shape[:2]:
            raise ValueError(f"parts must be (B, M) = {tuple(vertices.shape[:2])}, got {tuple(parts.shape)}")
        return cams

    def _plucker(self, cams: list[Cameras], center: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, V, 6, h, w) Plücker maps at latent pixel centres, moments about the body centre."""
        maps = []
        for cam, c in zip(cams, center):
            o, d = cam.resize(w, h).rays()  # (V, h, w, 3)
            maps.append(torch.cat([d, torch.linalg.cross(o - c, d, dim=-1)], dim=-1))
        return torch.stack(maps).permute(0, 1, 4, 2, 3)  # [B, V, h, w, 6] -> [B, V, 6, h, w]

    def _checkpointed(self, module: nn.Module, *args):
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(module, *args)
        return module(*args)

    def forward(
        self,
        latents: torch.Tensor,
        cameras: Cameras | Sequence[Cameras],
        vertices: torch.Tensor,
        parts: torch.Tensor,
        input_view: int = 0,
        inter_attention: InterAttentionImpl = "window",
        return_dict: bool = True,
    ) -> ReconstructionOutput | tuple:
        """Reconstruct Gaussians.

        Args:
            latents: (B, V, C, h, w) VAE latents (scaled space) of every view; view ``input_view`` is
                the photo's latent F0.
            cameras: the V cameras of the views (one :class:`Cameras` for B = 1, else a sequence of B),
                world = input camera frame, any image size (the latent covers the whole image).
            vertices: (B, M, 3) body vertices, metres, world frame.
            parts: (B, M) int64 part labels (:data:`PART_NAMES` indices).
            input_view: which view is the photo (its token grid feeds the tokenizer).
            inter_attention: "window" (fast) or "dense" (the masked reference; same result).

        Returns:
            :class:`ReconstructionOutput` (or ``(gaussians, pixel_gaussians)`` if not ``return_dict``).
        """
        cams = self._check_inputs(latents, cameras, vertices, parts)
        cfg = self.config
        b, views, _, h, w = latents.shape
        if not 0 <= input_view < views:
            raise ValueError(f"input_view {input_view} is not one of the {views} views")
        device, dtype = latents.device, self.dtype
        cams = [c.to(device) for c in cams]
        vertices = vertices.to(device=device, dtype=torch.float32)
        parts = parts.to(device)
        center = body_center(vertices)  # (B, 3)

        # 1-2. pose-conditioned maps -> tokens
        x = torch.cat([latents.to(dtype), self._plucker(cams, center, h, w).to(dtype)], dim=2)
        x = self.patch_embed(x.flatten(0, 1))  # [B*V, C+6, h, w] -> [B*V, D, Hp, Wp]
        d, hp, wp = x.shape[1:]
        x = x.reshape(b, views, d, hp * wp).transpose(2, 3)  # -> [B, V, Hp*Wp, D]
        kind = torch.ones(views, dtype=torch.long, device=device)
        kind[input_view] = 0
        x = x + self.view_embedding(kind)[None, :, None, :]

        # 3. intra-attention over all tokens of all views
        x = x.reshape(b, views * hp * wp, d)
        for block in self.intra_blocks:
            x = self._checkpointed(block, x)
        x = x.reshape(b, views, hp, wp, d)

        # 4. human prior tokens from the input view's token grid
        keep = subsample_indices(vertices.shape[1], cfg.max_prior_tokens, device)
        verts, vparts = vertices[:, keep], parts[:, keep]
        grid = x[:, input_view].permute(0, 3, 1, 2)  # [B, Hp, Wp, D] -> [B, D, Hp, Wp]
        prior = self.tokenizer(grid, verts, vparts, [c[input_view] for c in cams], center)

        # 5. window inter-attention: each prior token's cell in every view
        cells, valid = [], []
        for cam, v in zip(cams, verts):
            uv, z = cam.resize(wp, hp).project(v)  # token-grid pixels: one unit = one patch
            c_, ok = points_to_cells(uv, z)
            cells.append(c_)
            valid.append(ok)
        key_cells, key_valid = torch.stack(cells), torch.stack(valid)  # (B, V, K, 2), (B, V, K)
        for block in self.inter_blocks:
            x = self._checkpointed(block, x, prior, key_cells, key_valid, inter_attention)

        # 6. pixel-aligned Gaussians
        pixel = self.head(self.norm_out(x), cams, center)
        gaussians = [pixel.to_gaussians(i) for i in range(b)]
        if not return_dict:
            return gaussians, pixel
        return ReconstructionOutput(gaussians=gaussians, pixel_gaussians=pixel)
