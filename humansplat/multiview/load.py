"""Build the SV3D sampler from real weights (a local folder or the Hugging Face Hub).

Each component comes from :func:`humansplat.hub.fetch` (``$HUMANSPLAT_WEIGHTS/<component>/`` or
the Hub/cache, see :mod:`humansplat.hub`); every failure is a
:class:`~humansplat.errors.WeightsUnavailableError` saying what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from humansplat.errors import WeightsUnavailableError
from humansplat.hub import HubConfig, fetch
from humansplat.weights import weight_variant

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from humansplat.multiview.pipeline_sv3d import SV3DPipeline

__all__ = ["ENV_MEMORY", "default_precision", "load_sv3d_pipeline", "memory_from_env"]

ENV_MEMORY = "HUMANSPLAT_SV3D_MEMORY"
"""Memory savers of the views-mode synthesizer, comma-separated: ``cpu_offload`` (model CPU offload, needs
``accelerate``), ``vae_slicing``; ``low`` = both (a 12-16 GB card). Unset: neither (fastest)."""


def memory_from_env() -> dict[str, bool]:
    """``{"cpu_offload": bool, "vae_slicing": bool}`` from ``$HUMANSPLAT_SV3D_MEMORY``.

    Raises:
        ValueError: an unknown word (the message quotes it and lists the known ones).
    """
    import os

    words = {w.strip().lower() for w in os.environ.get(ENV_MEMORY, "").split(",") if w.strip()}
    if "low" in words:
        words = (words - {"low"}) | {"cpu_offload", "vae_slicing"}
    unknown = sorted(words - {"cpu_offload", "vae_slicing"})
    if unknown:
        raise ValueError(f"{ENV_MEMORY}={os.environ[ENV_MEMORY]!r}: unknown {unknown}; use cpu_offload, vae_slicing or low")
    return {"cpu_offload": "cpu_offload" in words, "vae_slicing": "vae_slicing" in words}

def default_precision(device: torch.device | str | None = None) -> tuple[torch.device, torch.dtype]:
    """Where the networks will run and the dtype to load the UNet and the image encoder in: ``device``
    (default CUDA when available, else CPU) and float16 on CUDA (the published ``fp16`` variants),
    float32 on CPU (half precision is slow or unsupported there). The VAE has its own dtype
    (:func:`load_sv3d_pipeline`'s ``vae_dtype``, float32 by default)."""
    import torch

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return dev, (torch.float16 if dev.type == "cuda" else torch.float32)


def load_sv3d_pipeline(
    config: HubConfig | None = None,
    *,
    torch_dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    local_files_only: bool | None = None,
    builtin_configs: bool = True,
    attention: Literal["auto", "sdpa", "xformers"] = "auto",
    cpu_offload: bool | None = None,
    vae_slicing: bool | None = None,
    vae_dtype: torch.dtype | None = None,
) -> SV3DPipeline:
    """The human fine-tuned SV3D sampler with its real weights.

    Args:
        config: where each component lives (default :meth:`humansplat.hub.HubConfig.from_env`: the
            defaults with the ``HUMANSPLAT_REVISION_<COMPONENT>`` pins, as the report names them).
        torch_dtype: dtype of the UNet and the image encoder (default :func:`default_precision`:
            float16 when the networks will run on CUDA, i.e. ``device`` is CUDA or, with no
            ``device``, CUDA is available; float32 elsewhere; bfloat16 works).
        vae_dtype: dtype of the VAE, which encodes the photo and decodes the views (default
            float32: the research code runs the synthesizer in float32, ``src/models/sv3d_p.py``
            L49-51 loads the VAE without a dtype, so in float32), while the UNet, where the time
            goes, runs in ``torch_dtype``; the VAE's 84 M parameters cost little memory next to the
            UNet's 1.5 G.
        device: where to put the pipeline (default: stay on the CPU, the caller moves it).
        local_files_only: never download (also implied by ``HF_HUB_OFFLINE=1``).
        builtin_configs: use the built-in copies of SVD-XT's scheduler and CLIP preprocessing
            configs instead of fetching them (they are configs, not weights).
        attention, cpu_offload, vae_slicing: :meth:`SV3DPipeline.configure_memory` (xFormers when
            installed and on CUDA, else PyTorch SDPA; model CPU offload and VAE slicing to fit a
            12 GB card). ``None``: from ``$HUMANSPLAT_SV3D_MEMORY`` (:func:`memory_from_env`).

    Raises:
        WeightsUnavailableError: a component could not be fetched or does not match its class.
    """
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from humansplat.multiview.configs import make_feature_extractor, make_scheduler

    config = config if config is not None else HubConfig.from_env()
    from humansplat.multiview.pipeline_sv3d import SV3DPipeline
    from humansplat.multiview.unet import SV3DUNet

    env = memory_from_env()
    cpu_offload = env["cpu_offload"] if cpu_offload is None else cpu_offload
    vae_slicing = env["vae_slicing"] if vae_slicing is None else vae_slicing
    run_device, auto_dtype = default_precision(device)
    torch_dtype = torch_dtype or auto_dtype

    def folder(name: str) -> Path:
        return fetch(name, config, local_files_only=local_files_only)

    def load(name: str, loader):
        path = folder(name)
        files = config.component(name)
        variant = weight_variant(path, files.variant if files else None)
        try:
            return loader(path, variant)
        except WeightsUnavailableError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise WeightsUnavailableError(
                f"Could not load the {name} component from {path}: {type(exc).__name__}: {str(exc)[:400]}"
            ) from exc

    unet = load("unet", lambda p, v: SV3DUNet.from_pretrained(p, variant=v, torch_dtype=torch_dtype))
    vae_dtype = vae_dtype or torch.float32
    vae = load("vae", lambda p, v: AutoencoderKL.from_pretrained(p, variant=v, torch_dtype=vae_dtype))
    image_encoder = load(
        "image_encoder", lambda p, v: CLIPVisionModelWithProjection.from_pretrained(p, variant=v, dtype=torch_dtype)
    )
    if builtin_configs:
        scheduler, feature_extractor = make_scheduler(), make_feature_extractor()
    else:
        scheduler = load("scheduler", lambda p, v: EulerDiscreteScheduler.from_pretrained(p))
        feature_extractor = load("feature_extractor", lambda p, v: CLIPImageProcessor.from_pretrained(p))
    pipe = SV3DPipeline(
        unet=unet, vae=vae, image_encoder=image_encoder, scheduler=scheduler, feature_extractor=feature_extractor
    )
    if device is not None and not cpu_offload:
        pipe.to(device)
    pipe.configure_memory(attention=attention, cpu_offload=cpu_offload, vae_slicing=vae_slicing, device=run_device)
    return pipe
