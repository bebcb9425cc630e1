"""SV3D sampler: one photo of a person -> F views of an orbit around them, as VAE latents.

Conditioning (as the public HumanSplat research code, except where noted)
-------------------------------------------------------------------------
* CLIP image embedding of the photo: ``image_embeds`` of the encoder used as a single token. The
  photo is resized to the encoder's 224 x 224 input as the research code does it
  (``src/models/sv3d_p.py`` L430-436 of humansplat/humansplat: ``x * 2 - 1``, Gaussian blur with
  sigma = (factor - 1) / 2, bilinear with ``align_corners=True``, back to [0, 1]) and normalised with
  **ImageNet** mean/std (``sv3d_p.py`` L25-26, L434-435) by default: the human fine-tune was trained
  through that code, so it saw ImageNet-normalised embeddings. SVD's own pipeline uses CLIP's
  statistics (those the encoder was trained with); ``SV3DPipeline.image_normalization = "clip"``
  selects them (see :data:`ENCODER_NORMALIZATIONS`).
* VAE latent of the photo: ``vae.encode(2x - 1).latent_dist.mode()`` of the photo plus
  ``noise_aug_strength`` Gaussian noise, **not** multiplied by the scaling factor
  (``sv3d_p.py`` L442-446; the training path divides the scaled latent by it again, L386-389),
  concatenated along channels to every frame's noisy latent. The research ``generate()`` adds no
  pixel noise; SVD's pipeline (and the research ``pipeline_sv3d.py`` L471-474) does: at the default
  1e-5 the two agree to float precision. The VAE is Stable Diffusion 1.5's ``AutoencoderKL``
  (``sv3d_p.py`` L23, L49-51), generated latents in its scaled space (``scaling_factor`` 0.18215).
* Per-frame camera: (noise aug, polar = 90 deg - elevation, azimuth relative to frame 0) in
  radians, through :class:`~humansplat.multiview.unet.SV3DUNet`'s added time ids
  (``sv3d_p.py`` L461-483; the training loader's angles: ``src/data/human_dataset.py`` L333-350,
  relative azimuth ``(a - a[0]) % 360`` in ``sv3d_p.py`` L271-276). The research ``generate()``
  without poses falls back to SV3D's original orbit (elevation 10 deg, input view last,
  L470-478); the fine-tune itself was trained with frame 0 = the input view at azimuth 0 and
  elevation 0 (``human_dataset.py`` L177-191), which is what we send.
* Classifier-free guidance: the unconditional branch zeroes both the CLIP embedding and the
  conditioning latent; the guidance scale is per frame, ``triangular`` by default as the fine-tune's
  own sampler (``src/models/sv3d_p.py`` L498-509, ``src/models/human_splat.py`` L413-424: rising
  from ``min_guidance_scale`` over the first ``F // 2`` frames to ``max_guidance_scale``, then
  falling back over the other ``F - F // 2``); ``guidance_profile="linear"`` rises over the whole
  orbit, as the research conversion script of base SV3D (``src/models/sv3d/pipeline_sv3d.py`` L530).
* EDM Euler sampling with SVD-XT's scheduler (v-prediction, Karras sigmas in [0.002, 700];
  ``sv3d_p.py`` L39-41), 25 steps by default (``src/options.py`` L9; the test script uses 20,
  ``src/test/infer_sv3d.py`` L30).
* Frames and size: the caller's. Views mode passes the fine-tune's 18 frames at 512 x 512 with its
  training orbit's azimuths (:mod:`humansplat.multiview.fine_tune`: ``src/options.py`` L174-184,
  ``src/data/human_dataset.py`` L110-118, L150-187). Called without them, the sampler falls back to
  ``default_size`` and the UNet config's ``num_frames`` and ``sample_size`` (what the tiny test
  preset relies on); the real UNet's config names SVD's frame count and size, not the fine-tune's.
* Precision: each network runs in its own dtype; :func:`~humansplat.multiview.load.load_sv3d_pipeline`
  puts the UNet in float16 on CUDA and the VAE in float32 (the research code runs the synthesizer in
  float32), so the views are decoded in float32.
* Input: the person on white (RGBA composited on white, ``infer_sv3d.py`` L66-71), re-centred with
  the longer side at 95 % of the square (:func:`humansplat.multiview.framing.prepare_synthesizer_input`).

Azimuths
--------
Our azimuths are :class:`~humansplat.cameras.Cameras`' (0 = the input camera's side, 90 = the
subject's left, camera going counter-clockwise seen from above). The fine-tune's azimuth is the
angle of its training cameras relative to the conditioning view, computed by the research data
loader as ``atan2(eye_z, eye_x)`` with ``eye = -R^T T`` from PyTorch3D ``(R, T)`` read as
world-to-camera column-vector matrices (``src/data/human_dataset.py`` L333-339): for PyTorch3D's
row-vector ``R`` this mirrors the orbit (eye = (-sin a, 0, cos a) d for a camera at PyTorch3D
azimuth a), so SV3D's azimuth grows with PyTorch3D's azimuth, which moves the camera towards the
first view's image right (PyTorch3D's +X points left), i.e. the subject's left, as ours does. Hence
``sv3d_azimuth = +our_azimuth`` (:data:`SV3D_AZIMUTH_SIGN`; ``tests/test_views_mode.py`` checks it
against those formulas). This follows from the code; it could not be checked against the weights
here (no Hub access): if generated side views come out swapped, set ``SV3DPipeline.azimuth_sign = -1``.

Shapes: F frames (views), H, W image size, h = H / 8, w = W / 8 latent size (full VAE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, EulerDiscreteScheduler
from diffusers.utils.torch_utils import randn_tensor

from humansplat.cameras import Cameras
from humansplat.errors import Deadline, check_deadline
from humansplat.multiview.unet import SV3DUNet

__all__ = [
    "ENCODER_NORMALIZATIONS",
    "SV3D_AZIMUTH_SIGN",
    "MultiviewOutput",
    "SV3DPipeline",
    "default_orbit_azimuths",
    "encoder_pixels",
    "frame_guidance_scales",
    "sv3d_camera_ids",
]

SV3D_AZIMUTH_SIGN = 1
"""SV3D azimuth = SV3D_AZIMUTH_SIGN * our azimuth (see the module docstring)."""

DEFAULT_NUM_FRAMES = 12  # only when the UNet config has no num_frames; 12 = every 30 deg

EncoderNormalization = Literal["imagenet", "clip"]
ENCODER_NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # (mean, std). "imagenet": what the research code feeds the encoder (src/models/sv3d_p.py L25-26);
    # "clip": OpenAI CLIP's statistics (SVD's pipeline, via its CLIPImageProcessor).
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
}
"""Image-encoder input statistics by name; the sampler's default is ``"imagenet"`` (module docstring)."""
DEFAULT_FOV_Y_DEG = 39.6  # field of view of the research code's renders / rays
DEFAULT_CAMERA_DISTANCE = 2.0  # orbit radius of the research code's renders (arbitrary units)


@dataclass
class MultiviewOutput:
    """The synthesizer's result for one photo.

    Attributes:
        latents: (F, 4, h, w) float32, generated views in the VAE's *scaled* latent space
            (multiply by ``1 / vae.config.scaling_factor`` before ``vae.decode``), on the
            pipeline's device. Frame 0 is the input view.
        images: (F, H, W, 3) uint8 decoded views, or None for ``output_type="latent"``.
        cameras: :class:`Cameras` of the F views (orbit around ``(0, 0, camera_distance)`` in the
            input camera's frame; frame 0 at azimuth 0 is the input camera when its elevation is 0).
        input_latent: (4, h, w) float32, the photo's VAE latent (mode, no noise), *scaled*.
        azimuths_deg: (F,) float32, our convention (0 = input view, 90 = the subject's left).
        elevations_deg: (F,) float32, positive looks down.
    """

    latents: torch.Tensor
    images: np.ndarray | None
    cameras: Cameras
    input_latent: torch.Tensor
    azimuths_deg: torch.Tensor
    elevations_deg: torch.Tensor


def default_orbit_azimuths(num_frames: int, require_orthogonal: bool = True) -> list[float]:
    """``num_frames`` azimuths evenly spaced over 360 deg from 0 (the input view). With
    ``require_orthogonal`` (default) ``num_frames`` must be a multiple of 4 so the orbit holds the 4
    orthogonal views (0, 90, 180, 270)."""
    if num_frames < 1 or (require_orthogonal and (num_frames < 4 or num_frames % 4)):
        raise ValueError(
            f"the default orbit needs num_frames to be a multiple of 4 (so it contains the front, sides "
            f"and back), got {num_frames}; pass azimuths_deg explicitly for other orbits"
        )
    return [i * 360.0 / num_frames for i in range(num_frames)]


def frame_guidance_scales(
    num_frames: int, min_scale: float, max_scale: float, profile: Literal["linear", "triangular"] = "triangular"
) -> torch.Tensor:
    """(F,) classifier-free guidance scale per frame: ``triangular`` (default; the fine-tune's sampler,
    ``src/models/sv3d_p.py`` L498-509: ``F // 2`` values from ``min_scale`` up to ``max_scale``, then
    ``F - F // 2`` from ``max_scale`` down to ``min_scale``) or ``linear`` from ``min_scale`` (frame 0)
    to ``max_scale`` (last frame)."""
    if profile == "linear":
        return torch.linspace(min_scale, max_scale, num_frames)
    if profile == "triangular":
        half = num_frames // 2
        return torch.cat(
            [torch.linspace(min_scale, max_scale, half), torch.linspace(max_scale, min_scale, num_frames - half)]
        )
    raise ValueError(f"guidance_profile must be 'linear' or 'triangular', got {profile!r}")


def sv3d_camera_ids(
    azimuths_deg: torch.Tensor, elevations_deg: torch.Tensor, noise_aug_strength: float, azimuth_sign: int = 1
) -> torch.Tensor:
    """(F, 3) SV3D added time ids [noise_aug, polar_rad, azimuth_rad] from our (F,) angles in degrees:
    polar = 90 - elevation, azimuth = (sign * azimuth) mod 360, both in radians."""
    polar = torch.deg2rad(90.0 - elevations_deg.double())
    azimuth = torch.deg2rad(torch.remainder(azimuth_sign * azimuths_deg.double(), 360.0))
    aug = torch.full_like(polar, float(noise_aug_strength))
    return torch.stack([aug, polar, azimuth], dim=-1).float()


def _to_unit_rgb(image: Any) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] from a PIL image, an (H, W, 3|4) array (uint8 or float in
    [0, 1]), a (3|4, H, W) / (1, 3|4, H, W) tensor in [0, 1], or an object with an ``rgb`` array
    (``Photo``, ``PersonCrop``). Alpha is composited on white (the fine-tune's background)."""
    if hasattr(image, "rgb") and not isinstance(image, (np.ndarray, torch.Tensor)):
        image = image.rgb
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL
        image = np.array(image.convert("RGBA") if "A" in image.mode else image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"image array must be (H, W, 3|4), got {image.shape}")
        tensor = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None]
        tensor = tensor.float() / 255.0 if image.dtype == np.uint8 else tensor.float()
    elif isinstance(image, torch.Tensor):
        tensor = image[None] if image.ndim == 3 else image
        if tensor.ndim != 4 or tensor.shape[0] != 1 or tensor.shape[1] not in (3, 4):
            raise ValueError(f"image tensor must be (3|4, H, W) or (1, 3|4, H, W), got {tuple(image.shape)}")
        tensor = tensor.float()
    else:
        raise TypeError(
            f"image must be a PIL image, a numpy array, a torch tensor or a Photo/PersonCrop, got {type(image).__name__}"
        )
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise ValueError(f"image values must be in [0, 1] (or uint8), got range [{lo:.3g}, {hi:.3g}]")
    if tensor.shape[1] == 4:
        rgb, alpha = tensor[:, :3], tensor[:, 3:]
        tensor = rgb * alpha + (1.0 - alpha)
    return tensor.clamp(0.0, 1.0)


def _input_size(feature_extractor: Any) -> tuple[int, int]:
    """(height, width) of the CLIP encoder's input from a CLIPImageProcessor's ``crop_size``."""
    size = feature_extractor.crop_size
    if isinstance(size, dict):
        return int(size["height"]), int(size["width"])
    if hasattr(size, "height"):
        return int(size.height), int(size.width)
    return int(size), int(size)


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased bicubic resize of (B, 3, H, W) images in [0, 1]."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    resized = torch.nn.functional.interpolate(
        image, size=(height, width), mode="bicubic", align_corners=False, antialias=True
    )
    return resized.clamp(0.0, 1.0)


def _gaussian_kernel1d(sigma: float, size: int) -> torch.Tensor:
    """(size,) normalised Gaussian weights centred on the middle tap (``size`` odd)."""
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _blur_then_bilinear(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The research code's resize to the encoder input (``src/models/sv3d/pipeline_sv3d.py`` L626-659):
    a separable Gaussian blur with sigma = max((factor - 1) / 2, 0.001) per axis and an odd kernel of
    ``max(4 sigma, 3)`` taps (reflect padding), then bilinear with ``align_corners=True``.
    (B, C, H, W) float32 in any range -> (B, C, height, width)."""
    _, c, h, w = image.shape
    x = image.float()
    for axis, factor in ((2, h / height), (3, w / width)):
        sigma = max((factor - 1.0) / 2.0, 0.001)
        size = int(max(4.0 * sigma, 3))
        size += 1 - size % 2  # odd
        k = _gaussian_kernel1d(sigma, size).to(x)
        pad = (size - 1) // 2
        if axis == 2:  # along H: kernel (size, 1)
            x = torch.nn.functional.pad(x, (0, 0, pad, size - 1 - pad), mode="reflect")
            x = torch.nn.functional.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)
        else:  # along W: kernel (1, size)
            x = torch.nn.functional.pad(x, (pad, size - 1 - pad, 0, 0), mode="reflect")
            x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    return torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)


def encoder_pixels(
    image: torch.Tensor, height: int = 224, width: int = 224, normalization: EncoderNormalization = "imagenet"
) -> torch.Tensor:
    """The image encoder's input for (B, 3, H, W) images in [0, 1]: resized as the research code does
    (in [-1, 1], :func:`_blur_then_bilinear`, back to [0, 1]) and normalised with the statistics of
    ``normalization`` (:data:`ENCODER_NORMALIZATIONS`). Returns (B, 3, height, width) float32."""
    if normalization not in ENCODER_NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {sorted(ENCODER_NORMALIZATIONS)}, got {normalization!r}")
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in ENCODER_NORMALIZATIONS[normalization])
    x = _blur_then_bilinear(image.float() * 2.0 - 1.0, height, width) * 0.5 + 0.5
    return (x - mean.to(x.device)) / std.to(x.device)


class SV3DPipeline(DiffusionPipeline):
    """Orbit views of a person from one photo with SV3D (the human fine-tune), in latent space.

    Components (registered, saved and loaded like any diffusers pipeline):
        unet: :class:`~humansplat.multiview.unet.SV3DUNet`.
        vae: ``AutoencoderKL`` (Stable Diffusion 1.5's in the real model).
        image_encoder: ``transformers.CLIPVisionModelWithProjection`` (SVD-XT's ViT-H/14).
        scheduler: ``EulerDiscreteScheduler`` configured as SVD-XT's (EDM, v-prediction).
        feature_extractor: ``transformers.CLIPImageProcessor`` (input size and CLIP statistics).

    ``enable_model_cpu_offload()`` (needs ``accelerate``) and ``.to(device, dtype)`` are inherited.
    Each network runs in its own dtype (inputs are cast to it), so e.g. a float16 UNet with a float32
    VAE works (``pipe.vae.to(torch.float32)``); SD 1.5's VAE is fine in float16 and bfloat16.
    """

    model_cpu_offload_seq = "image_encoder->unet->vae"
    _callback_tensor_inputs: ClassVar[list[str]] = ["latents"]
    azimuth_sign: int = SV3D_AZIMUTH_SIGN
    image_normalization: EncoderNormalization = "imagenet"  # the research code's (module docstring)
    default_size: int | None = None  # view size when none is asked for (None: the UNet config's; views mode asks 512)

    def __init__(
        self,
        unet: SV3DUNet,
        vae: AutoencoderKL,
        image_encoder: Any,
        scheduler: EulerDiscreteScheduler,
        feature_extractor: Any,
    ):
        super().__init__()
        self.register_modules(
            unet=unet, vae=vae, image_encoder=image_encoder, scheduler=scheduler, feature_extractor=feature_extractor
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    # ------------------------------------------------------------------ memory
    def configure_memory(
        self,
        attention: Literal["auto", "sdpa", "xformers"] = "auto",
        cpu_offload: bool = False,
        vae_slicing: bool = False,
        device: torch.device | str | None = None,
    ) -> str:
        """Attention kernels and memory savers; returns the attention backend in use.

        Args:
            attention: ``"xformers"`` (memory-efficient attention; needs the package and CUDA),
                ``"sdpa"`` (PyTorch's scaled-dot-product attention, diffusers' default on torch 2),
                ``"auto"`` (xFormers when installed and the UNet runs on CUDA, else SDPA).
            cpu_offload: keep each network on the CPU until it runs (``enable_model_cpu_offload``,
                needs ``accelerate`` and CUDA): with float16 the 1.5 B UNet then peaks near its own
                size, so the sampler fits a 12 GB card.
            vae_slicing: encode/decode one image at a time.
            device: the CUDA device for offloading (default ``cuda``).
        """
        import importlib.util

        if attention not in ("auto", "sdpa", "xformers"):
            raise ValueError(f"attention must be 'auto', 'sdpa' or 'xformers', got {attention!r}")
        on_cuda = (torch.device(device).type == "cuda") if device is not None else self.unet.device.type == "cuda"
        has_xformers = importlib.util.find_spec("xformers") is not None
        if attention == "xformers" and not (has_xformers and on_cuda):
            raise ValueError(
                "attention='xformers' needs the xformers package and a CUDA device "
                f"(installed: {has_xformers}, CUDA: {on_cuda}); use attention='sdpa' or 'auto'"
            )
        backend = "sdpa"
        if attention in ("auto", "xformers") and has_xformers and on_cuda:
            self.enable_xformers_memory_efficient_attention()
            backend = "xformers"
        else:
            from diffusers.models.attention_processor import AttnProcessor2_0

            self.unet.set_attn_processor(AttnProcessor2_0())
        if vae_slicing:
            self.vae.enable_slicing()
        if cpu_offload:
            if not on_cuda:
                raise ValueError("cpu_offload needs a CUDA device (it moves each network there when it runs)")
            self.enable_model_cpu_offload(device=device or "cuda")
        self.attention_backend = backend
        return backend

    # ------------------------------------------------------------------ steps
    def check_inputs(
        self,
        height: int,
        width: int,
        azimuths_deg: torch.Tensor,
        elevations_deg: torch.Tensor,
        num_inference_steps: int,
        noise_aug_strength: float,
        decode_chunk_size: int,
        output_type: str,
    ) -> None:
        """Raise ``ValueError`` quoting the bad value."""
        if height <= 0 or width <= 0 or height % self.vae_scale_factor or width % self.vae_scale_factor:
            raise ValueError(
                f"height and width must be positive multiples of {self.vae_scale_factor} (the VAE's downsampling), "
                f"got {height}x{width}"
            )
        if azimuths_deg.ndim != 1 or len(azimuths_deg) < 1:
            raise ValueError(f"azimuths_deg must be a non-empty 1D sequence, got shape {tuple(azimuths_deg.shape)}")
        if abs(math.remainder(float(azimuths_deg[0]), 360.0)) > 1e-4:
            raise ValueError(
                f"azimuths_deg[0] must be 0 (frame 0 is the input view, as the human fine-tune was trained), "
                f"got {float(azimuths_deg[0])}"
            )
        if elevations_deg.shape != azimuths_deg.shape:
            raise ValueError(
                f"elevation_deg must be a number or one value per frame ({len(azimuths_deg)}), "
                f"got {tuple(elevations_deg.shape)}"
            )
        if bool((elevations_deg.abs() >= 90).any()):
            raise ValueError(f"elevations must be in (-90, 90) degrees, got {elevations_deg.tolist()}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if not (noise_aug_strength >= 0.0 and math.isfinite(noise_aug_strength)):
            raise ValueError(f"noise_aug_strength must be >= 0, got {noise_aug_strength}")
        if decode_chunk_size < 1:
            raise ValueError(f"decode_chunk_size must be >= 1, got {decode_chunk_size}")
        if output_type not in ("np", "latent"):
            raise ValueError(f"output_type must be 'np' or 'latent', got {output_type!r}")

    def _encode_image(self, image: torch.Tensor, device: torch.device, do_cfg: bool) -> torch.Tensor:
        """(1, 3, H, W) in [0, 1] -> CLIP image embedding (1|2, 1, D); zeros first when ``do_cfg``."""
        size = getattr(getattr(self.image_encoder, "config", None), "image_size", None)  # the encoder's own input
        ch, cw = (int(size), int(size)) if size else _input_size(self.feature_extractor)
        pixels = encoder_pixels(image.float().cpu(), ch, cw, self.image_normalization)
        dtype = next(self.image_encoder.parameters()).dtype
        embeds = self.image_encoder(pixel_values=pixels.to(device=device, dtype=dtype)).image_embeds
        embeds = embeds.unsqueeze(1)  # [1, D] -> [1, 1, D]
        if do_cfg:
            embeds = torch.cat([torch.zeros_like(embeds), embeds])
        return embeds

    def _encode_vae_image(
        self, image: torch.Tensor, noise: torch.Tensor, noise_aug_strength: float, do_cfg: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the conditioning latent (1|2, 4, h, w), unscaled, of ``2 * image - 1`` plus
        ``noise_aug_strength * noise`` (zeros first when ``do_cfg``), and the photo's own latent
        (1, 4, h, w) without noise, *scaled*, float32."""
        x = image * 2.0 - 1.0
        batch = torch.cat([x, x + noise_aug_strength * noise]) if noise_aug_strength > 0 else x
        modes = self.vae.encode(batch.to(self.vae.dtype)).latent_dist.mode().float()
        clean, cond = modes[:1], modes[-1:]
        input_latent = clean * self.vae.config.scaling_factor
        if do_cfg:
            cond = torch.cat([torch.zeros_like(cond), cond])
        return cond, input_latent

    def prepare_latents(
        self,
        num_frames: int,
        height: int,
        width: int,
        device: torch.device,
        generator: torch.Generator | None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(1, F, 4, h, w) float32 initial noise times the scheduler's initial sigma."""
        channels = self.vae.config.latent_channels
        shape = (1, num_frames, channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        else:
            latents = latents.reshape(shape).to(device=device, dtype=torch.float32)
        return latents * self.scheduler.init_noise_sigma

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int) -> np.ndarray:
        """(F, 4, h, w) scaled latents -> (F, H, W, 3) uint8 images, ``decode_chunk_size`` at a time."""
        frames = []
        for chunk in latents.split(decode_chunk_size):
            decoded = self.vae.decode((chunk / self.vae.config.scaling_factor).to(self.vae.dtype)).sample
            frames.append(decoded.float())
        images = (torch.cat(frames) / 2.0 + 0.5).clamp(0.0, 1.0)  # [F, 3, H, W] in [0, 1]
        return (images.permute(0, 2, 3, 1) * 255.0).round().to(torch.uint8).cpu().numpy()

    # ------------------------------------------------------------------ helpers
    def default_num_frames(self) -> int:
        """The UNet config's ``num_frames`` (what the weights were configured with), else 12."""
        return int(getattr(self.unet.config, "num_frames", 0) or DEFAULT_NUM_FRAMES)

    def default_view_size(self) -> int:
        """``default_size``, else the UNet config's ``sample_size`` in pixels, else 512."""
        if self.default_size:
            return int(self.default_size)
        sample_size = self.unet.config.sample_size
        if isinstance(sample_size, (list, tuple)):
            sample_size = sample_size[0]
        return int(sample_size) * self.vae_scale_factor if sample_size else 512

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        num_frames: int | None = None,
        num_inference_steps: int = 25,
        azimuths_deg: Sequence[float] | torch.Tensor | None = None,
        elevation_deg: float | Sequence[float] | torch.Tensor = 0.0,
        height: int | None = None,
        width: int | None = None,
        min_guidance_scale: float = 1.0,
        max_guidance_scale: float = 2.5,
        guidance_profile: Literal["linear", "triangular"] = "triangular",
        noise_aug_strength: float = 1e-5,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: Literal["np", "latent"] = "np",
        decode_chunk_size: int | None = None,
        camera_distance: float = DEFAULT_CAMERA_DISTANCE,
        fov_y_deg: float = DEFAULT_FOV_Y_DEG,
        callback_on_step_end: Callable[[SV3DPipeline, int, torch.Tensor, dict], dict] | None = None,
        deadline: Deadline | None = None,
    ) -> MultiviewOutput:
        """Generate F views of an orbit around the person in ``image``.

        Args:
            image: the photo (a square person crop on white works best): PIL image, (H, W, 3|4)
                array (uint8 or float in [0, 1]), (3|4, H, W) tensor in [0, 1], or a
                ``Photo``/``PersonCrop``. Resized to ``height`` x ``width``; must be about square.
            num_frames: F; default ``len(azimuths_deg)``, else the UNet config's ``num_frames``.
            num_inference_steps: Euler steps (20-25 is the research code's setting).
            azimuths_deg: (F,) azimuths in our convention, ``azimuths_deg[0] == 0`` (the input view);
                default: ``F`` evenly spaced from 0 (F a multiple of 4: the 4 orthogonal views are in).
            elevation_deg: one elevation for all frames, or (F,); the fine-tune saw 0 only.
            height, width: image size (default ``self.default_size`` when set, else
                ``unet.config.sample_size`` x the VAE's downsampling).
            min_guidance_scale, max_guidance_scale: per-frame guidance range (1 = no guidance).
            guidance_profile: ``"triangular"`` (peak mid-orbit, the fine-tune's) or ``"linear"`` over frames.
            noise_aug_strength: noise added to the conditioning image (and its camera id).
            generator: the only source of randomness (noise augmentation, then initial latents).
            latents: optional initial noise (1|F-shaped, F * 4 * h * w values), before sigma scaling.
            output_type: ``"np"`` decodes uint8 images, ``"latent"`` skips decoding (images None).
            decode_chunk_size: frames per VAE decode (default all).
            camera_distance: orbit radius, in the units the cameras should use.
            fov_y_deg: vertical field of view of the returned cameras.
            callback_on_step_end: ``f(pipe, step, t, {"latents": ...}) -> dict`` after each step
                (may return a replacement ``"latents"``).
            deadline: checked before every step; past it sampling stops with
                :class:`~humansplat.errors.TimeLimitError` (None: no limit).

        Returns:
            :class:`MultiviewOutput`.
        """
        # 0. defaults
        height = height or self.default_view_size()
        width = width or self.default_view_size()
        if azimuths_deg is None:
            if num_frames is None:  # the UNet's own frame count (any count: evenly spaced from 0)
                azimuths_deg = default_orbit_azimuths(self.default_num_frames(), require_orthogonal=False)
            else:
                azimuths_deg = default_orbit_azimuths(num_frames)
        az = torch.as_tensor(azimuths_deg, dtype=torch.float32).reshape(-1)
        if num_frames is not None and num_frames != len(az):
            raise ValueError(f"num_frames={num_frames} but {len(az)} azimuths were given")
        num_frames = len(az)
        el = torch.as_tensor(elevation_deg, dtype=torch.float32).reshape(-1)
        el = el.expand(num_frames).clone() if el.numel() == 1 else el
        decode_chunk_size = decode_chunk_size or num_frames

        # 1. check inputs
        self.check_inputs(
            height, width, az, el, num_inference_steps, noise_aug_strength, decode_chunk_size, output_type
        )
        pixels = _to_unit_rgb(image)
        h0, w0 = pixels.shape[-2:]
        if abs(h0 / w0 - height / width) > 0.02 * (height / width):
            raise ValueError(
                f"image is {w0}x{h0} but the views are {width}x{height}: crop the person to that aspect first "
                f"(e.g. humansplat.prior.person.detect_person) instead of stretching"
            )

        # 2. call parameters
        device = self._execution_device
        scales = frame_guidance_scales(num_frames, min_guidance_scale, max_guidance_scale, guidance_profile)
        do_cfg = bool((scales > 1.0).any())

        # 3. CLIP image embedding
        embeds = self._encode_image(pixels, device, do_cfg)
        unet_dtype = self.unet.dtype

        # 4. VAE conditioning latent (noise augmented, unscaled) and the photo's own latent (scaled)
        pixels = _resize(pixels, height, width).to(device)
        aug_noise = randn_tensor(pixels.shape, generator=generator, device=device, dtype=torch.float32)
        cond_latent, input_latent = self._encode_vae_image(pixels, aug_noise, noise_aug_strength, do_cfg)
        # [B', 4, h, w] -> [B', F, 4, h, w]
        cond_latents = cond_latent.unsqueeze(1).expand(-1, num_frames, -1, -1, -1).to(unet_dtype)

        # 5. per-frame camera ids (B', F, 3)
        ids = sv3d_camera_ids(az, el, noise_aug_strength, self.azimuth_sign).to(device)
        ids = ids.unsqueeze(0).expand(cond_latents.shape[0], -1, -1)

        # 6. timesteps
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps

        # 7. initial latents (1, F, 4, h, w) float32
        latents = self.prepare_latents(num_frames, height, width, device, generator, latents)

        # 8. guidance scale per frame: (F,) -> (1, F, 1, 1, 1)
        guidance = scales.to(device=device, dtype=torch.float32).view(1, num_frames, 1, 1, 1)

        # 9. denoising loop
        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                check_deadline(deadline, "multi-view sampling")
                model_input = torch.cat([latents] * 2) if do_cfg else latents
                model_input = self.scheduler.scale_model_input(model_input, t)
                model_input = torch.cat([model_input.to(unet_dtype), cond_latents], dim=2)  # [B', F, 8, h, w]
                model_output = self.unet(
                    model_input, t, encoder_hidden_states=embeds.to(unet_dtype), added_time_ids=ids, return_dict=False
                )[0].float()
                if do_cfg:
                    uncond, cond = model_output.chunk(2)
                    model_output = uncond + guidance * (cond - uncond)
                latents = self.scheduler.step(model_output, t, latents).prev_sample.float()
                if callback_on_step_end is not None:
                    outputs = callback_on_step_end(self, i, t, {"latents": latents}) or {}
                    latents = outputs.pop("latents", latents)
                progress_bar.update()

        # 10. decode
        latents = latents[0]  # [1, F, 4, h, w] -> [F, 4, h, w]
        images = self.decode_latents(latents, decode_chunk_size) if output_type == "np" else None
        self.maybe_free_model_hooks()

        # 11. cameras of the orbit (input camera frame; frame 0 = the input camera at elevation 0)
        cameras = Cameras.orbit(
            center=(0.0, 0.0, float(camera_distance)),
            radius=float(camera_distance),
            azimuths_deg=az,
            elevations_deg=el,
            fov_y_deg=fov_y_deg,
            width=width,
            height=height,
        )
        return MultiviewOutput(
            latents=latents,
            images=images,
            cameras=cameras,
            input_latent=input_latent[0],
            azimuths_deg=az,
            elevations_deg=el,
        )
