"""``tiny`` preset of the novel-view synthesizer: random components of a few MB that run in seconds
on a CPU (32x32 images, 2-4 frames, 2 steps), for tests and examples. Same classes and code paths
as the full model; only the sizes differ (VAE downsampling 4 instead of 8: 32x32 -> 8x8 latents).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "TINY_IMAGE_ENCODER_CONFIG",
    "TINY_IMAGE_SIZE",
    "TINY_UNET_CONFIG",
    "TINY_VAE_CONFIG",
    "save_tiny_weights",
    "tiny_sv3d_components",
]

TINY_IMAGE_SIZE = 32

TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 8,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
    "up_block_types": ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
    "block_out_channels": (32, 64),
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 40,  # 8 + 2 * 16
    "layers_per_block": 1,
    "cross_attention_dim": 32,
    "num_attention_heads": (2, 4),
    "num_frames": 4,
}

TINY_VAE_CONFIG: dict[str, Any] = {
    "block_out_channels": (32, 32, 64),
    "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 1,
    "norm_num_groups": 32,
    "sample_size": TINY_IMAGE_SIZE,
    "scaling_factor": 0.18215,
}

TINY_IMAGE_ENCODER_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_channels": 3,
    "image_size": TINY_IMAGE_SIZE,
    "patch_size": 4,
    "projection_dim": 32,  # = the UNet's cross_attention_dim
    "hidden_act": "gelu",
}


def tiny_sv3d_components(seed: int = 0) -> dict[str, Any]:
    """Seeded random tiny components (keyword arguments of ``SV3DPipeline``); ~1.5 MB, < 1 s.

    The global RNG is left untouched (weights come from a forked RNG seeded with ``seed``).
    """
    import torch

    from humansplat.multiview.configs import _build_models, make_feature_extractor, make_scheduler

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet, vae, image_encoder = _build_models(TINY_UNET_CONFIG, TINY_VAE_CONFIG, TINY_IMAGE_ENCODER_CONFIG)
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "image_encoder": image_encoder.eval(),
        "scheduler": make_scheduler(),
        "feature_extractor": make_feature_extractor(TINY_IMAGE_SIZE),
    }


def save_tiny_weights(folder: str | Path, seed: int = 0) -> Path:
    """The tiny components saved as a weights folder in the GenHuman3D layout (``unet/`` as the fp16
    variant, ``vae/``, ``image_encoder/``, ``scheduler/``, ``feature_extractor/``): point
    ``$HUMANSPLAT_WEIGHTS`` at it to simulate the synthesizer's weights offline. Returns ``folder``."""
    folder = Path(folder)
    parts = tiny_sv3d_components(seed=seed)
    parts["unet"].half().save_pretrained(folder / "unet", variant="fp16")
    for name in ("vae", "image_encoder", "scheduler", "feature_extractor"):
        parts[name].save_pretrained(folder / name)
    return folder
