"""Configurations of the novel-view synthesizer's components, written out so nothing must be
downloaded to build them (random weights for benchmarks, built-in scheduler/CLIP preprocessing).

Presets
-------
* ``full``: the sizes of the public weights (SV3D/SVD-XT UNet with SV3D's per-frame camera
  conditioning, Stable Diffusion 1.5's VAE, SVD-XT's CLIP ViT-H/14 image encoder).
* ``tiny``: see :mod:`humansplat.multiview.tiny` (a few MB, seconds on CPU, for tests).

The scheduler and preprocessing dictionaries are copies of SVD-XT's published
``scheduler/scheduler_config.json`` and ``feature_extractor/preprocessor_config.json`` (configs,
not weights), so the sampler does not need SVD-XT's gated repo for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "CLIP_PREPROCESSOR_CONFIG",
    "FULL_IMAGE_ENCODER_CONFIG",
    "FULL_UNET_CONFIG",
    "FULL_VAE_CONFIG",
    "SVD_XT_SCHEDULER_CONFIG",
    "full_size_parameter_counts",
    "full_size_sv3d_components",
    "make_feature_extractor",
    "make_scheduler",
]

SVD_XT_SCHEDULER_CONFIG: dict[str, Any] = {
    # EDM (Karras) sigmas in [0.002, 700], v-prediction, continuous timesteps c_noise = ln(sigma) / 4.
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "trained_betas": None,
    "use_karras_sigmas": True,
}

CLIP_PREPROCESSOR_CONFIG: dict[str, Any] = {
    # OpenAI CLIP statistics (also what SVD-XT's feature extractor uses); 224x224 input.
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "rescale_factor": 1 / 255,
    "size": {"shortest_edge": 224},
}

FULL_UNET_CONFIG: dict[str, Any] = {
    # SVD-XT's spatio-temporal UNet; added conditioning = 256 (noise aug) + 2 x 512 (polar, azimuth).
    "sample_size": 64,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": (
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ),
    "up_block_types": (
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ),
    "block_out_channels": (320, 640, 1280, 1280),
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 1280,
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "transformer_layers_per_block": 1,
    "num_attention_heads": (5, 10, 20, 20),
    "num_frames": 21,
}

FULL_VAE_CONFIG: dict[str, Any] = {
    # Stable Diffusion 1.5's AutoencoderKL (8x downsampling, 4 latent channels).
    "act_fn": "silu",
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

FULL_IMAGE_ENCODER_CONFIG: dict[str, Any] = {
    # OpenCLIP ViT-H/14 vision tower + projection to 1024 (SVD-XT's image_encoder).
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 14,
    "projection_dim": 1024,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}


def make_scheduler(config: dict[str, Any] | None = None):
    """An ``EulerDiscreteScheduler`` configured as SVD-XT's (or from ``config``)."""
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler.from_config(dict(config or SVD_XT_SCHEDULER_CONFIG))


def make_feature_extractor(size: int = 224):
    """A ``CLIPImageProcessor`` with CLIP's statistics and a ``size`` x ``size`` input (the PIL
    flavour where transformers has one: the sampler reads only its size and statistics)."""
    try:
        from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    except ImportError:  # transformers < 5
        from transformers import CLIPImageProcessor

    cfg = dict(CLIP_PREPROCESSOR_CONFIG)
    cfg["crop_size"] = {"height": size, "width": size}
    cfg["size"] = {"shortest_edge": size}
    return CLIPImageProcessor(**cfg)


def _build_models(unet_cfg: dict, vae_cfg: dict, clip_cfg: dict):
    from diffusers import AutoencoderKL
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from humansplat.multiview.unet import SV3DUNet

    unet = SV3DUNet(**unet_cfg)
    vae = AutoencoderKL(**vae_cfg)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_cfg))
    return unet, vae, image_encoder


def full_size_sv3d_components(
    dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> dict[str, Any]:
    """Full-size components with **random** weights, for speed and memory benchmarks only.

    The modules are created directly on ``device`` (fast on a GPU; about a minute and ~9 GB of RAM
    on a CPU) and cast to ``dtype`` (default float32). Random fp16 weights can overflow to NaN in
    the outputs; that does not change timings. Returns the keyword arguments of
    :class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`.
    """
    import torch

    with torch.device(device or "cpu"):
        unet, vae, image_encoder = _build_models(FULL_UNET_CONFIG, FULL_VAE_CONFIG, FULL_IMAGE_ENCODER_CONFIG)
    for module in (unet, vae, image_encoder):
        module.to(dtype=dtype or torch.float32).eval()
    return {
        "unet": unet,
        "vae": vae,
        "image_encoder": image_encoder,
        "scheduler": make_scheduler(),
        "feature_extractor": make_feature_extractor(),
    }


def full_size_parameter_counts() -> dict[str, int]:
    """Parameter counts of the full-size components, built on the meta device (no memory, ~1 s)."""
    import torch

    with torch.device("meta"):
        unet, vae, image_encoder = _build_models(FULL_UNET_CONFIG, FULL_VAE_CONFIG, FULL_IMAGE_ENCODER_CONFIG)
    return {
        name: sum(p.numel() for p in module.parameters())
        for name, module in (("unet", unet), ("vae", vae), ("image_encoder", image_encoder))
    }

