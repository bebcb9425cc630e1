"""The synthesizer in training: fine-tuning the SV3D UNet with its EDM denoising loss, and SV3D
latents for the reconstructor (``latent_source="synthesizer"``, as at inference).

Fine-tuning (``TrainConfig(target="synthesizer")``, the same :class:`~humansplat.train.trainer.Trainer`):
a sample's orbit views (views 1.., sorted by azimuth from 0, as the human fine-tune's orbit: frame 0
= the conditioning view's azimuth) are VAE-encoded into clean latents x (F, 4, h, w, scaled); the
conditioning is the input view (view 0): its CLIP image embedding and its noise-augmented,
unscaled VAE latent, exactly as :class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline` prepares
them. With σ drawn log-normally (``ln σ ~ N(P_MEAN, P_STD²)``, EDM) and ``x_σ = x + σ n``, the UNet's
v-prediction F gives the denoised ``D = x_σ / (σ² + 1) - σ F / sqrt(σ² + 1)`` (the EDM
preconditioning of Stable Video Diffusion's Euler scheduler: input scaled by ``1 / sqrt(σ² + 1)``,
``c_noise = ln(σ) / 4``); the loss is ``(σ² + 1) / σ² · mean((D - x)²)`` (EDM's weighting for
σ_data = 1).

Shapes: F orbit frames, h x w latent size, D CLIP embedding width.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import torch

__all__ = ["NOISE_AUG_STRENGTH", "P_MEAN", "P_STD", "edm_denoising_loss", "load_synthesizer_components"]

P_MEAN, P_STD = 0.7, 1.6  # log-normal σ of Stable Video Diffusion's training
NOISE_AUG_STRENGTH = 0.02  # noise on the conditioning image during fine-tuning (inference uses 1e-5)


def load_synthesizer_components(spec: str, seed: int) -> dict[str, Any]:
    """SV3D's components (``unet``, ``vae``, ``image_encoder``, ``scheduler``, ``feature_extractor``):
    ``"tiny"`` (random, :func:`humansplat.multiview.tiny.tiny_sv3d_components`) or ``"hub"``."""
    if spec == "tiny":
        from ..multiview.tiny import tiny_sv3d_components

        return dict(tiny_sv3d_components(seed))
    if spec == "hub":
        from ..hub import HubConfig
        from ..multiview.load import load_sv3d_pipeline

        return dict(load_sv3d_pipeline(HubConfig.from_env(), torch_dtype=torch.float32).components)
    raise ValueError(f"synthesizer must be 'tiny' or 'hub', got {spec!r}")


def _sv3d(trainer: Any, unet: torch.nn.Module | None = None):
    """An SV3DPipeline over the trainer's VAE and the synthesizer components (cached on the trainer)."""
    from ..multiview.pipeline_sv3d import SV3DPipeline

    if not trainer.components:
        trainer.components = load_synthesizer_components(trainer.config.synthesizer, trainer.config.seed)
    comps = trainer.components
    if unet is None:
        unet = comps.get("unet")
    for name in ("image_encoder",):
        comps[name] = comps[name].to(trainer.device).eval().requires_grad_(False)
    pipe = SV3DPipeline(
        unet=unet, vae=trainer.vae, image_encoder=comps["image_encoder"], scheduler=comps["scheduler"],
        feature_extractor=comps["feature_extractor"],
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def edm_denoising_loss(
    unet: torch.nn.Module,
    clean: torch.Tensor,
    cond_latent: torch.Tensor,
    embeds: torch.Tensor,
    camera_ids: torch.Tensor,
    sigma: torch.Tensor,
    noise: torch.Tensor,
) -> torch.Tensor:
    """EDM denoising loss of one orbit (module docstring).

    Args:
        unet: :class:`~humansplat.multiview.unet.SV3DUNet` (v-prediction).
        clean: (F, 4, h, w) clean scaled latents; cond_latent: (4, h, w) unscaled conditioning latent.
        embeds: (1, 1, D) CLIP image embedding; camera_ids: (F, 3) [noise_aug, polar, azimuth] (radians).
        sigma: () noise level; noise: (F, 4, h, w) standard normal.
    """
    noisy = clean + sigma * noise
    c_in = 1.0 / torch.sqrt(sigma**2 + 1.0)
    frames = clean.shape[0]
    cond = cond_latent[None].expand(frames, -1, -1, -1)
    x = torch.cat([noisy * c_in, cond], dim=1)[None]  # [F, 8, h, w] -> [1, F, 8, h, w]
    dtype = unet.dtype if hasattr(unet, "dtype") else clean.dtype
    out = unet(
        x.to(dtype), (torch.log(sigma) / 4.0).reshape(1).to(dtype), encoder_hidden_states=embeds.to(dtype),
        added_time_ids=camera_ids[None], return_dict=False,
    )[0][0].float()
    denoised = noisy / (sigma**2 + 1.0) - out * sigma / torch.sqrt(sigma**2 + 1.0)
    weight = (sigma**2 + 1.0) / sigma**2
    return weight * (denoised - clean).square().mean()


def synthesizer_loss(
    trainer: Any,
    indices: list[int],
    generator: torch.Generator | None,
    dataset: Any | None = None,
    model: torch.nn.Module | None = None,
) -> tuple[torch.Tensor, list[dict[str, float]], float, list[Any]]:
    """The trainer's ``compute_loss`` for ``target="synthesizer"``: mean EDM loss over the samples
    (terms ``{"edm": loss}``, PSNR nan, no renders). Without a generator (evaluation) the noise is
    drawn from a fixed seed per sample."""
    from ..multiview.pipeline_sv3d import sv3d_camera_ids

    dataset = trainer.dataset if dataset is None else dataset
    net = trainer.net if model is None else model
    pipe = _sv3d(trainer, trainer.model)
    losses, terms = [], []
    for i in indices:
        s = dataset[i].to(trainer.device)
        g = generator if generator is not None else torch.Generator().manual_seed(10_007 * (i + 1))
        frames = [v for v in range(1, s.num_views)]
        az = s.azimuths_deg[frames].cpu()
        order = torch.argsort(torch.remainder(az, 360.0))
        frames = [frames[int(k)] for k in order]
        az = torch.remainder(az[order], 360.0)
        if abs(float(az[0])) > 1e-3:
            raise ValueError(f"{s.name}: the orbit needs a view at azimuth 0 (SV3D's frame 0), got {az.tolist()}")
        clean = trainer.encode_views(s.images[frames])  # (F, 4, h, w)
        pixels = s.images[:1].permute(0, 3, 1, 2)  # [1, H, W, 3] -> [1, 3, H, W]
        with torch.no_grad():
            embeds = pipe._encode_image(pixels, trainer.device, False)
            aug = torch.randn(pixels.shape, generator=g).to(pixels)
            cond, _ = pipe._encode_vae_image(pixels, aug, NOISE_AUG_STRENGTH, False)
        ids = sv3d_camera_ids(az, torch.zeros_like(az), NOISE_AUG_STRENGTH, pipe.azimuth_sign).to(trainer.device)
        sigma = torch.exp(P_MEAN + P_STD * torch.randn((), generator=g)).to(trainer.device)
        noise = torch.randn(clean.shape, generator=g).to(clean)
        with trainer.accelerator.autocast():
            loss = edm_denoising_loss(net, clean, cond[0], embeds, ids.float(), sigma, noise)
        losses.append(loss)
        terms.append({"edm": float(loss.detach()), "sigma": float(sigma)})
    return torch.stack(losses).mean(), terms, math.nan, []


@torch.no_grad()
def synthesizer_latents(trainer: Any, sample: Any) -> torch.Tensor:
    """(V_ctx, 4, h, w) latents as at inference: the input view's VAE latent, then SV3D's samples at
    the context views' azimuths (``config.synthesizer_steps`` Euler steps, seeded per sample)."""
    ctx = sample.context.cpu()
    az = sample.azimuths_deg[ctx[1:]].cpu()
    pipe = _sv3d(trainer)
    g = torch.Generator().manual_seed(trainer.config.seed * 7919 + zlib.crc32(sample.name.encode()) % 100_003)
    mv = pipe(
        sample.images[0].cpu().numpy(), azimuths_deg=az, height=sample.images.shape[1], width=sample.images.shape[2],
        num_inference_steps=trainer.config.synthesizer_steps, generator=g, output_type="latent",
    )
    return torch.cat([mv.input_latent[None], mv.latents]).float().to(trainer.device)
