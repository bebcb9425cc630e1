"""HumanSplat's network pipeline: fitted body + photo -> SV3D views (latents) -> Gaussians.

:class:`HumanSplatPipeline` is a diffusers ``DiffusionPipeline`` whose components are the novel-view
synthesizer's (``unet``, ``vae``, ``image_encoder``, ``scheduler``, ``feature_extractor``: see
:class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`) plus ``reconstructor``
(:class:`~humansplat.network.transformer.LatentReconstructionTransformer`). One
``from_pretrained(folder_or_repo)`` loads them all; ``save_pretrained`` writes them all;
:meth:`HumanSplatPipeline.from_hub` assembles them from :mod:`humansplat.hub`'s locations.

**Weights.** No trained reconstruction weights were ever published (only the human fine-tuned SV3D
UNet was). The pipeline therefore refuses to present output unless its reconstructor was loaded
with ``from_pretrained`` from a checkpoint whose config says ``trained: true`` and records its
provenance with held-out scores (written by :mod:`humansplat.train` through ``mark_trained()``, see
:mod:`humansplat.network.provenance`), and every other network was loaded from a checkpoint too;
otherwise ``__call__`` raises :class:`~humansplat.errors.WeightsUnavailableError` saying so. Loading
(and ``__call__``) refuses a reconstructor trained with another VAE, latent size, number of views
or body model, saying what differs; :func:`network_status` (``mode="auto"``) never picks a smoke run. Tests and
benchmarks pass ``allow_untrained=True``; the output's ``weights`` then says ``random (untrained)``.

**Cameras.** The generated views' cameras are an orbit about the fitted body's up axis through its
centre ``c`` (bounding-box centre of its vertices, input camera frame, metres) at the distance of
``c`` from the input camera, with the input crop's vertical field of view
(:func:`humansplat.orbit.body_orbit_cameras`): for an upright body the frame at azimuth 0 is the
input camera moved sideways so that ``c`` sits at its image centre, which is what SV3D assumes of its
conditioning view (the person centred in the crop). The photo's own latent uses the crop's exact
camera. (SV3D's ``MultiviewOutput.cameras`` assume the subject on the optical axis at a nominal
distance; they are not used here.)

Shapes: F orbit frames, V = 1 + N views given to the reconstructor, H x W view size, h x w latents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, EulerDiscreteScheduler

from ..cameras import Cameras
from ..errors import Deadline, InputError, WeightsUnavailableError, check_deadline
from ..gaussians import Gaussians
from ..hub import SYNTHESIZER_WEIGHTS, HubConfig, fetch
from ..multiview.pipeline_sv3d import SV3DPipeline
from ..multiview.unet import SV3DUNet
from ..orbit import body_orbit_cameras
from ..prior.body_fit import BodyFit
from ..weights import UNTRAINED, origin
from .provenance import Provenance, vae_info
from .transformer import LatentReconstructionTransformer

__all__ = ["HumanSplatPipeline", "HumanSplatOutput", "body_orbit_cameras", "network_status", "NO_TRAINED_WEIGHTS"]

NO_TRAINED_WEIGHTS = (
    "No trained HumanSplat reconstruction weights exist publicly: the authors released only the human "
    "fine-tuned SV3D UNet (paulpanwang/GenHuman3D), never the latent reconstruction transformer's checkpoint."
)

NETWORKS = ("image_encoder", "unet", "vae", "reconstructor")
"""Components with weights (the scheduler and feature extractor are configs)."""


@dataclass
class HumanSplatOutput:
    """What :meth:`HumanSplatPipeline.__call__` returns.

    Attributes:
        gaussians: all views' pixel-aligned Gaussians, world = input camera frame (metres).
        views: (N, H, W, 3) uint8 generated views given to the reconstructor (decoded for people;
            reconstruction itself used their latents), or (0, H, W, 3) when not decoded.
        view_cameras: the N cameras of ``views``.
        azimuths_deg: (N,) azimuths of ``views`` (0 = the input side, 90 = the subject's left).
        latents: (V, 4, h, w) scaled latents the reconstructor saw: the photo's first, then the views'.
        latent_cameras: the V cameras of ``latents`` (the crop's camera first).
        weights: component -> what ran (``"random (untrained)"``, a path or a Hub repo).
        timings: stage -> seconds ("synthesize", "decode", "reconstruct").
    """

    gaussians: Gaussians
    views: np.ndarray
    view_cameras: Cameras
    azimuths_deg: torch.Tensor
    latents: torch.Tensor
    latent_cameras: Cameras
    weights: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def network_status(config: HubConfig | None = None) -> tuple[bool, str]:
    """Whether the full network pipeline can run here without downloading anything: (ok, message).

    Checks ``$HUMANSPLAT_WEIGHTS`` / the Hugging Face cache only (never the network) for a
    reconstructor checkpoint marked ``trained`` and the SV3D components. Never raises.
    """
    import json

    from ..hub import is_available

    try:
        config = config or HubConfig.from_env()
        try:
            folder = fetch("reconstructor", config, local_files_only=True)
        except WeightsUnavailableError as exc:
            return False, f"{NO_TRAINED_WEIGHTS} {exc}"
        cfg_file = folder / LatentReconstructionTransformer.config_name
        cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
        if not cfg.get("trained", False):
            return False, f"the reconstructor checkpoint at {folder} is not marked trained (config.json: trained false)"
        try:
            record = Provenance.from_dict(cfg.get("provenance") or {})
        except (ValueError, TypeError, KeyError) as exc:
            return False, f"the reconstructor checkpoint at {folder} records no usable provenance ({exc})"
        if record.smoke:
            return False, f"the reconstructor checkpoint at {folder} is a smoke run ({record.summary()}); auto never uses it"
        if not record.is_trained:
            return False, f"the reconstructor checkpoint at {folder} records no held-out scores: not a finished training run"
        for name in SYNTHESIZER_WEIGHTS:
            ok, message = is_available(name, config)
            if not ok:
                return False, message
    except Exception as exc:  # noqa: BLE001 - a status probe must not break its caller
        return False, f"checking the network weights failed: {type(exc).__name__}: {exc}"
    device = "a CUDA GPU" if torch.cuda.is_available() else "the CPU (SV3D takes tens of minutes there)"
    return True, f"trained reconstructor at {folder}; SV3D weights found; runs on {device}"


class HumanSplatPipeline(DiffusionPipeline):
    """Photo + fitted body -> 3D Gaussians with SV3D and the latent reconstruction transformer.

    Components:
        unet, vae, image_encoder, scheduler, feature_extractor: the SV3D sampler's
            (:class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`).
        reconstructor: :class:`~humansplat.network.transformer.LatentReconstructionTransformer`.

    ``enable_model_cpu_offload()`` (needs ``accelerate``), ``.to(device, dtype)`` and
    ``from_pretrained(..., torch_dtype=torch.float16 | torch.bfloat16)`` are inherited from diffusers;
    :meth:`compile_reconstructor` applies ``torch.compile``.
    """

    model_cpu_offload_seq = "image_encoder->unet->vae->reconstructor"

    def __init__(
        self,
        unet: SV3DUNet,
        vae: AutoencoderKL,
        image_encoder: Any,
        scheduler: EulerDiscreteScheduler,
        feature_extractor: Any,
        reconstructor: LatentReconstructionTransformer,
    ) -> None:
        super().__init__()
        self.register_modules(
            unet=unet,
            vae=vae,
            image_encoder=image_encoder,
            scheduler=scheduler,
            feature_extractor=feature_extractor,
            reconstructor=reconstructor,
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any = None, **kwargs: Any) -> "HumanSplatPipeline":
        """diffusers' ``from_pretrained`` for a folder or Hub repo holding every component
        (``model_index.json`` + one subfolder per component); without a path, :meth:`from_hub`."""
        if pretrained_model_name_or_path is None:
            allowed = {"config", "torch_dtype", "device", "local_files_only"}
            return cls.from_hub(**{k: v for k, v in kwargs.items() if k in allowed})
        pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        pipe.check_provenance()
        return pipe

    @classmethod
    def from_hub(
        cls,
        config: HubConfig | None = None,
        *,
        torch_dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        local_files_only: bool | None = None,
    ) -> "HumanSplatPipeline":
        """All components from :mod:`humansplat.hub` (``$HUMANSPLAT_WEIGHTS`` or the Hub/cache);
        ``config`` defaults to ``HubConfig.from_env()`` (honours ``HUMANSPLAT_RECONSTRUCTOR_REPO``).

        Raises:
            WeightsUnavailableError: a component cannot be fetched; for the reconstructor (no public
                weights) the message says where to put a trained checkpoint.
        """
        from ..multiview.load import load_sv3d_pipeline

        config = config or HubConfig.from_env()
        # the reconstructor first: without it nothing else is worth downloading
        folder = fetch("reconstructor", config, local_files_only=local_files_only)
        sv3d = load_sv3d_pipeline(config, torch_dtype=torch_dtype, device=None, local_files_only=local_files_only)
        dtype = torch_dtype or sv3d.unet.dtype
        try:
            reconstructor = LatentReconstructionTransformer.from_pretrained(folder, torch_dtype=dtype)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise WeightsUnavailableError(
                f"Could not load the reconstructor from {folder}: {type(exc).__name__}: {str(exc)[:400]}"
            ) from exc
        pipe = cls(reconstructor=reconstructor, **sv3d.components)
        pipe.check_provenance()
        if device is not None:
            pipe.to(device)
        return pipe

    @property
    def synthesizer(self) -> SV3DPipeline:
        """An :class:`SV3DPipeline` sharing this pipeline's modules (and its offload hooks)."""
        pipe = SV3DPipeline(
            unet=self.unet,
            vae=self.vae,
            image_encoder=self.image_encoder,
            scheduler=self.scheduler,
            feature_extractor=self.feature_extractor,
        )
        pipe.set_progress_bar_config(**getattr(self, "_progress_bar_config", {}))
        return pipe

    def compile_reconstructor(self, **compile_kwargs) -> None:
        """``torch.compile`` the reconstructor's static-shape blocks in place (see
        :meth:`LatentReconstructionTransformer.compile_blocks`)."""
        self.reconstructor.compile_blocks(**compile_kwargs)

    # ------------------------------------------------------------------ weights
    def weights_report(self) -> dict[str, str]:
        """Component -> what its weights are (``"random (untrained)"``, ``"loaded: <path>"``, ``"trained: ..."``)."""
        report = {name: origin(getattr(self, name)) for name in NETWORKS if name != "reconstructor"}
        report["reconstructor"] = self.reconstructor.weights_status
        return report

    def check_weights(self) -> None:
        """Raise :class:`WeightsUnavailableError` unless every network has real weights and the
        reconstructor's are trained (the message says what is missing and what to do)."""
        report = self.weights_report()
        random = [name for name, what in report.items() if name != "reconstructor" and what == UNTRAINED]
        problems = []
        if not self.reconstructor.has_trained_weights:
            problems.append(f"{NO_TRAINED_WEIGHTS} This pipeline's reconstructor is {report['reconstructor']}.")
        if random:
            problems.append(f"These components have random weights: {', '.join(random)}.")
        if problems:
            raise WeightsUnavailableError(
                " ".join(problems)
                + " To reconstruct with the network, train the reconstructor (python -m humansplat.train, which "
                "records its provenance and held-out scores: docs/training.md), put it in $HUMANSPLAT_WEIGHTS/reconstructor/ or name its Hub repo with "
                "HUMANSPLAT_RECONSTRUCTOR_REPO=owner/name[:subfolder], and load with HumanSplatPipeline.from_hub() "
                "or from_pretrained(); or reconstruct in mode='prior', which needs no network weights. "
                "(allow_untrained=True runs random weights for tests and benchmarks only: the output is noise.)"
            )

    def provenance_differences(
        self, num_views: int | None = None, latent_size: int | None = None, body_model: str | None = None
    ) -> list[str]:
        """What differs between the reconstructor's recorded training (its
        :class:`~humansplat.network.provenance.Provenance`) and this pipeline's VAE, the latent
        size, number of views and body model of a call (None: not checked). Empty without a record."""
        record = self.reconstructor.provenance_record
        if record is None:
            return []
        source = getattr(self.vae.config, "_name_or_path", "") or "this pipeline's VAE"
        return record.differences(vae_info(self.vae, source), latent_size, num_views, body_model)

    def check_provenance(
        self, num_views: int | None = None, latent_size: int | None = None, body_model: str | None = None
    ) -> None:
        """Raise :class:`WeightsUnavailableError` saying what differs when the reconstructor was
        trained with another VAE, latent size, number of views or body model (see
        :meth:`provenance_differences`); called by ``from_pretrained``/``from_hub`` and ``__call__``."""
        diffs = self.provenance_differences(num_views, latent_size, body_model)
        if diffs:
            raise WeightsUnavailableError(
                f"The reconstructor ({self.reconstructor.weights_source or 'in memory'}) does not match this "
                f"pipeline: {'; '.join(diffs)}. Load it with the VAE and settings it was trained with "
                "(config.json -> provenance), or retrain it for these (python -m humansplat.train)."
            )

    # ------------------------------------------------------------------ steps
    def check_inputs(self, body_fit: BodyFit, view_azimuths: torch.Tensor, orbit_azimuths: torch.Tensor) -> None:
        """Raise ``InputError`` / ``ValueError`` quoting the bad value."""
        if not isinstance(body_fit, BodyFit):
            raise InputError(f"body_fit must be a humansplat.prior.body_fit.BodyFit, got {type(body_fit).__name__}")
        verts = torch.as_tensor(body_fit.vertices)
        if verts.ndim != 2 or verts.shape[-1] != 3 or verts.shape[0] < 1 or not bool(torch.isfinite(verts).all()):
            raise InputError(f"body_fit.vertices must be a finite (M, 3) array with M >= 1, got {tuple(verts.shape)}")
        if tuple(body_fit.parts.shape) != tuple(verts.shape[:1]):
            raise InputError(f"body_fit.parts must be (M,) = ({verts.shape[0]},), got {tuple(body_fit.parts.shape)}")
        if len(body_fit.camera) != 1:
            raise InputError(f"body_fit.camera must hold the one input camera, got {len(body_fit.camera)}")
        missing = [float(a) for a in view_azimuths if not bool((_angle_diff(orbit_azimuths, a) < 1e-3).any())]
        if missing:
            raise ValueError(
                f"view_azimuths {missing} are not on the generated orbit {orbit_azimuths.tolist()}; "
                f"pass orbit_azimuths that contain them (or num_frames a multiple of 4 for 0/90/180/270)"
            )

    def prepare_latents(self, input_latent: torch.Tensor, orbit_latents: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """(V, 4, h, w): the photo's latent first, then the chosen orbit frames'."""
        return torch.cat([input_latent[None].to(orbit_latents), orbit_latents[frames]])

    def gaussians_from_latents(
        self,
        latents: torch.Tensor,
        cameras: Cameras,
        body_fit: BodyFit,
    ) -> Gaussians:
        """Run the reconstructor on (V, 4, h, w) latents with their V cameras (view 0 = the photo)."""
        device = self._execution_device
        verts = torch.as_tensor(body_fit.vertices, dtype=torch.float32, device=device)[None]
        parts = torch.as_tensor(body_fit.parts, dtype=torch.long, device=device)[None]
        out = self.reconstructor(
            latents[None].to(device=device, dtype=self.reconstructor.dtype), cameras.to(device), verts, parts
        )
        return out.gaussians[0]

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        body_fit: BodyFit,
        generator: torch.Generator | None = None,
        num_inference_steps: int = 25,
        num_frames: int = 12,
        orbit_azimuths: Sequence[float] | None = None,
        view_azimuths: Sequence[float] = (0.0, 90.0, 180.0, 270.0),
        height: int | None = None,
        width: int | None = None,
        min_guidance_scale: float = 1.0,
        max_guidance_scale: float = 2.5,
        decode_views: bool = True,
        allow_untrained: bool = False,
        deadline: Deadline | None = None,
        **sv3d_kwargs: Any,
    ) -> HumanSplatOutput:
        """Reconstruct the person of ``body_fit`` (its crop is the photo given to SV3D).

        Args:
            body_fit: the fitted body (vertices, parts, the crop and its camera).
            generator: the only source of randomness (SV3D's noise).
            num_inference_steps: SV3D Euler steps.
            num_frames: frames of the generated orbit (evenly spaced from azimuth 0; the fine-tune
                was trained on 12-18 of 36 views, so a full orbit is closer to it than 4 frames).
            orbit_azimuths: explicit orbit azimuths instead (degrees, the first 0 = the input view).
            view_azimuths: which orbit frames the reconstructor sees besides the photo (degrees).
            height, width: SV3D's image size (default the UNet's: 576 for SV3D, 512 for the fine-tune).
            min_guidance_scale, max_guidance_scale: SV3D's per-frame guidance range.
            decode_views: decode the chosen views to uint8 images for people (reconstruction uses latents).
            allow_untrained: run even with random / untrained weights (tests, benchmarks only).
            deadline: checked before every sampler step and every later step; past it the call stops
                with :class:`~humansplat.errors.TimeLimitError` (None: no limit).
            sv3d_kwargs: passed on to :meth:`SV3DPipeline.__call__` (e.g. ``elevation_deg``).

        Raises:
            WeightsUnavailableError: untrained or random weights and not ``allow_untrained``.
            TimeLimitError: ``deadline`` passed.
        """
        # 0. weights first: refuse before spending minutes on the synthesizer
        weights = self.weights_report()
        if not allow_untrained:
            self.check_weights()

        # 1. inputs
        from ..multiview.pipeline_sv3d import default_orbit_azimuths

        if orbit_azimuths is None:
            orbit_azimuths = default_orbit_azimuths(num_frames)
        orbit_az = torch.as_tensor(orbit_azimuths, dtype=torch.float32).reshape(-1)
        view_az = torch.as_tensor(list(view_azimuths), dtype=torch.float32).reshape(-1)
        self.check_inputs(body_fit, view_az, orbit_az)
        if not allow_untrained:
            sv3d = self.synthesizer
            self.check_provenance(
                num_views=1 + len(view_az), latent_size=int(height or sv3d.default_view_size()) // sv3d.vae_scale_factor,
                body_model=body_fit.backend,
            )
        frames = torch.stack([_angle_diff(orbit_az, a).argmin() for a in view_az])
        timings: dict[str, float] = {}

        # 2. SV3D orbit in latent space
        synthesizer = self.synthesizer
        start = time.perf_counter()
        mv = synthesizer(
            body_fit.crop.rgb,
            num_inference_steps=num_inference_steps,
            azimuths_deg=orbit_az,
            height=height,
            width=width,
            min_guidance_scale=min_guidance_scale,
            max_guidance_scale=max_guidance_scale,
            generator=generator,
            output_type="latent",
            deadline=deadline,
            **sv3d_kwargs,
        )
        timings["synthesize"] = time.perf_counter() - start
        h_img, w_img = (n * synthesizer.vae_scale_factor for n in mv.latents.shape[-2:])

        # 3. cameras: the crop's exact camera for the photo, an orbit around the body for the views
        view_cams = body_orbit_cameras(body_fit, orbit_az[frames], mv.elevations_deg.cpu()[frames], w_img, h_img)
        latent_cams = Cameras.cat([body_fit.camera.resize(w_img, h_img), view_cams])
        frames = frames.to(mv.latents.device)
        latents = self.prepare_latents(mv.input_latent, mv.latents, frames)

        # 4. decode the chosen views for people
        check_deadline(deadline, "decoding the generated views")
        start = time.perf_counter()
        if decode_views:
            views = synthesizer.decode_latents(mv.latents[frames], len(frames))
        else:
            views = np.zeros((0, h_img, w_img, 3), dtype=np.uint8)
        timings["decode"] = time.perf_counter() - start

        # 5. latent reconstruction
        check_deadline(deadline, "the latent reconstruction")
        start = time.perf_counter()
        gaussians = self.gaussians_from_latents(latents, latent_cams, body_fit)
        timings["reconstruct"] = time.perf_counter() - start
        self.maybe_free_model_hooks()
        return HumanSplatOutput(
            gaussians=gaussians,
            views=views,
            view_cameras=view_cams,
            azimuths_deg=orbit_az[frames.cpu()],
            latents=latents,
            latent_cameras=latent_cams,
            weights=weights,
            timings=timings,
        )


def _angle_diff(a: torch.Tensor, b: float | torch.Tensor) -> torch.Tensor:
    """|a - b| on the circle, degrees in [0, 180]."""
    return torch.remainder(a - b + 180.0, 360.0).sub(180.0).abs()
