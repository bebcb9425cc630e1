"""SV3D's spatio-temporal UNet: Stable Video Diffusion's UNet with per-frame camera conditioning.

Stock ``UNetSpatioTemporalConditionModel`` (SVD) adds one embedding of three *per-video* numbers
(fps, motion bucket, noise augmentation) to the time embedding. SV3D replaces them with three
*per-frame* values, each of shape (B, F):

* noise augmentation of the conditioning image (1e-5 at inference),
* polar angle in radians (90 deg - elevation),
* azimuth in radians in [0, 2 pi), relative to the conditioning view (frame 0 for the human fine-tune).

The noise augmentation goes through ``add_time_proj`` (sinusoidal, ``addition_time_embed_dim``
wide = 256), each angle through ``add_angle_proj`` (sinusoidal, ``angle_embed_dim`` wide = 512;
both cos first, no frequency shift); the concatenation (256 + 512 + 512 = 1280) passes the
``add_embedding`` MLP and is added to the time embedding **after** that is repeated over frames.
``add_time_proj`` and ``add_angle_proj`` have no weights, so the checkpoint's keys are exactly the
stock UNet's (names as in diffusers and the public HumanSplat research code); loading is strict.

Shapes: B batch (videos), F frames (views), C channels, h, w latent height and width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import Timesteps

# DiffusionPipeline.from_pretrained finds a custom component's loading method by looking up base
# classes by name in the component's module: ModelMixin must be importable from here.
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401
from diffusers.models.unets.unet_spatio_temporal_condition import (
    UNetSpatioTemporalConditionModel,
    UNetSpatioTemporalConditionOutput,
)

from humansplat.errors import WeightsUnavailableError

__all__ = ["CheckpointMismatchError", "SV3DUNet", "stack_added_time_ids"]


class CheckpointMismatchError(WeightsUnavailableError):
    """A checkpoint's tensors do not match the model (missing, unexpected or mis-shaped keys)."""


def stack_added_time_ids(added_time_ids: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """(B, F, 3) tensor of [noise_aug, polar_rad, azimuth_rad] from a (B, F, 3) tensor or a sequence
    of three (B, F) tensors (the research code's list form)."""
    if isinstance(added_time_ids, torch.Tensor):
        ids = added_time_ids
    else:
        parts = list(added_time_ids)
        if len(parts) != 3:
            raise ValueError(f"added_time_ids needs 3 tensors (noise_aug, polar, azimuth), got {len(parts)}")
        ids = torch.stack([torch.as_tensor(p) for p in parts], dim=-1)
    if ids.ndim != 3 or ids.shape[-1] != 3:
        raise ValueError(
            f"added_time_ids must be (B, F, 3) [noise_aug, polar_rad, azimuth_rad], got {tuple(ids.shape)}"
        )
    return ids


class SV3DUNet(UNetSpatioTemporalConditionModel):
    """SVD's spatio-temporal UNet with SV3D's per-frame (noise aug, polar, azimuth) conditioning.

    The constructor is the config (``register_to_config``); the defaults are the public weights'
    sizes except ``projection_class_embeddings_input_dim``, which must equal
    ``addition_time_embed_dim + 2 * angle_embed_dim`` (1280 for the full model).

    Args (beyond :class:`UNetSpatioTemporalConditionModel`'s):
        angle_embed_dim: width of each angle's sinusoidal embedding (default
            ``2 * addition_time_embed_dim``, 512 in SV3D).
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "DownBlockSpatioTemporal",
        ),
        up_block_types: tuple[str, ...] = (
            "UpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 1280,
        layers_per_block: int | tuple[int, ...] = 2,
        cross_attention_dim: int | tuple[int, ...] = 1024,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 21,
        angle_embed_dim: int | None = None,
    ):
        angle_dim = 2 * addition_time_embed_dim if angle_embed_dim is None else int(angle_embed_dim)
        expected = addition_time_embed_dim + 2 * angle_dim
        if projection_class_embeddings_input_dim != expected:
            raise ValueError(
                f"projection_class_embeddings_input_dim={projection_class_embeddings_input_dim} must be "
                f"addition_time_embed_dim + 2 * angle_embed_dim = {addition_time_embed_dim} + 2 * {angle_dim} "
                f"= {expected} (SV3D embeds noise aug, polar and azimuth per frame)"
            )
        if addition_time_embed_dim % 2 or angle_dim % 2:
            raise ValueError(
                f"sinusoidal widths must be even, got addition_time_embed_dim={addition_time_embed_dim}, "
                f"angle_embed_dim={angle_dim}"
            )
        super().__init__(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
            layers_per_block=layers_per_block,
            cross_attention_dim=cross_attention_dim,
            transformer_layers_per_block=transformer_layers_per_block,
            num_attention_heads=num_attention_heads,
            num_frames=num_frames,
        )
        # cos first, no shift (as add_time_proj); weightless, so absent from checkpoints.
        self.add_angle_proj = Timesteps(angle_dim, flip_sin_to_cos=True, downscale_freq_shift=0)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, strict: bool = True, **kwargs: Any):
        """``ModelMixin.from_pretrained`` that, with ``strict`` (default), raises
        :class:`CheckpointMismatchError` listing missing, unexpected and mis-shaped keys instead of
        warning and leaving random weights. Loads diffusers folders incl. ``variant="fp16"``
        (``diffusion_pytorch_model.fp16.safetensors``)."""
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        if strict:
            problems = []
            for key in ("missing_keys", "unexpected_keys", "mismatched_keys"):
                found = sorted(map(str, info.get(key) or []))
                if found:
                    shown = ", ".join(found[:8]) + (f", ... ({len(found)} in all)" if len(found) > 8 else "")
                    problems.append(f"{key.replace('_', ' ')}: {shown}")
            if problems:
                raise CheckpointMismatchError(
                    f"The UNet checkpoint at {pretrained_model_name_or_path!s} does not match {cls.__name__} "
                    f"(config: block_out_channels={tuple(model.config.block_out_channels)}, "
                    f"in_channels={model.config.in_channels}): "
                    + "; ".join(problems)
                    + ". Check that the folder holds an SV3D/SVD spatio-temporal UNet and its own config.json."
                )
        return (model, info) if want_info else model

    # ------------------------------------------------------------------ forward
    def camera_embedding(self, added_time_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(B, F, 3) [noise_aug, polar_rad, azimuth_rad] -> (B*F, time_embed_dim) added embedding."""
        ids = added_time_ids.flatten(0, 1)  # [B, F, 3] -> [B*F, 3]
        aug = self.add_time_proj(ids[:, 0])  # [B*F, addition_time_embed_dim]
        polar = self.add_angle_proj(ids[:, 1])  # [B*F, angle_embed_dim]
        azimuth = self.add_angle_proj(ids[:, 2])  # [B*F, angle_embed_dim]
        time_embeds = torch.cat([aug, polar, azimuth], dim=-1).to(dtype)
        return self.add_embedding(time_embeds)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor | Sequence[torch.Tensor],
        image_only_indicator: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> UNetSpatioTemporalConditionOutput | tuple:
        """Predict the denoiser output for every frame.

        Args:
            sample: (B, F, C_in, h, w) noisy latents (scaled for the sigma) concatenated with the
                conditioning latent along channels.
            timestep: scalar or (B,) tensor (for the EDM scheduler: c_noise = ln(sigma) / 4).
            encoder_hidden_states: (B, 1, cross_attention_dim) CLIP image embedding.
            added_time_ids: (B, F, 3) [noise_aug, polar_rad, azimuth_rad] or three (B, F) tensors.
            image_only_indicator: (B, F); 1 disables temporal mixing for that video (each frame is
                then denoised independently). Default zeros (temporal layers active).

        Returns:
            ``UNetSpatioTemporalConditionOutput(sample=(B, F, C_out, h, w))`` or a 1-tuple.
        """
        batch_size, num_frames = sample.shape[:2]
        ids = stack_added_time_ids(added_time_ids).to(sample.device)
        if ids.shape[:2] != (batch_size, num_frames):
            raise ValueError(
                f"added_time_ids has shape {tuple(ids.shape)} but sample has B={batch_size}, F={num_frames}"
            )

        # 1. time: one embedding per video, then one camera embedding per frame
        timesteps = timestep
        if not torch.is_tensor(timesteps):
            dtype = torch.float64 if isinstance(timestep, float) else torch.int64
            if sample.device.type == "mps":  # pragma: no cover - no float64 on mps
                dtype = torch.float32 if isinstance(timestep, float) else torch.int32
            timesteps = torch.tensor([timesteps], dtype=dtype, device=sample.device)
        elif timesteps.ndim == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps.expand(batch_size)
        t_emb = self.time_proj(timesteps).to(dtype=sample.dtype)  # Timesteps returns float32
        emb = self.time_embedding(t_emb)  # [B, D]
        # emb: [B, D] -> [B*F, D], then + per-frame camera embedding [B*F, D]
        emb = emb.repeat_interleave(num_frames, dim=0, output_size=batch_size * num_frames)
        emb = emb + self.camera_embedding(ids, emb.dtype)

        # sample: [B, F, C, h, w] -> [B*F, C, h, w]
        sample = sample.flatten(0, 1)
        # encoder_hidden_states: [B, 1, D] -> [B*F, 1, D]
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(
            num_frames, dim=0, output_size=encoder_hidden_states.shape[0] * num_frames
        )
        if image_only_indicator is None:
            image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)
        else:
            image_only_indicator = image_only_indicator.to(device=sample.device, dtype=sample.dtype)
            if tuple(image_only_indicator.shape) != (batch_size, num_frames):
                raise ValueError(
                    f"image_only_indicator must be (B, F) = ({batch_size}, {num_frames}), "
                    f"got {tuple(image_only_indicator.shape)}"
                )

        # 2. pre-process
        up_factor = 2**self.num_upsamplers
        forward_upsample_size = any(s % up_factor != 0 for s in sample.shape[-2:])
        upsample_size = None
        sample = self.conv_in(sample)

        def block_kwargs(block: torch.nn.Module) -> dict[str, Any]:
            kwargs: dict[str, Any] = {"temb": emb, "image_only_indicator": image_only_indicator}
            if getattr(block, "has_cross_attention", False):
                kwargs["encoder_hidden_states"] = encoder_hidden_states
            return kwargs

        # 3. down
        down_block_res_samples: tuple[torch.Tensor, ...] = (sample,)
        for block in self.down_blocks:
            sample, res_samples = block(hidden_states=sample, **block_kwargs(block))
            down_block_res_samples += res_samples

        # 4. mid
        sample = self.mid_block(hidden_states=sample, **block_kwargs(self.mid_block))

        # 5. up
        for i, block in enumerate(self.up_blocks):
            res_samples = down_block_res_samples[-len(block.resnets) :]
            down_block_res_samples = down_block_res_samples[: -len(block.resnets)]
            if i < len(self.up_blocks) - 1 and forward_upsample_size:
                upsample_size = down_block_res_samples[-1].shape[2:]
            sample = block(
                hidden_states=sample,
                res_hidden_states_tuple=res_samples,
                upsample_size=upsample_size,
                **block_kwargs(block),
            )

        # 6. post-process
        sample = self.conv_out(self.conv_act(self.conv_norm_out(sample)))

        # 7. [B*F, C, h, w] -> [B, F, C, h, w]
        sample = sample.reshape(batch_size, num_frames, *sample.shape[1:])
        if not return_dict:
            return (sample,)
        return UNetSpatioTemporalConditionOutput(sample=sample)
