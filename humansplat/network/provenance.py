"""Where a reconstructor's weights came from: what the trainer records, what the pipeline checks.

A trained :class:`~humansplat.network.transformer.LatentReconstructionTransformer` only makes
sense with the VAE whose latent space it was trained on, at the latent resolution and number of
views it saw, with the body model whose vertices made its prior tokens. The trainer
(:mod:`humansplat.train.trainer`) writes a :class:`Provenance` into the model's config
(``config.json`` -> ``"provenance"``) through ``mark_trained``; the pipeline
(:class:`~humansplat.network.pipeline_humansplat.HumanSplatPipeline`) compares it with its own
components at load time and with the call's inputs (:meth:`Provenance.differences`), and refuses a
mismatch with a message saying what differs.

Only a run whose held-out scores are recorded (``heldout``) counts as trained; a run marked
``smoke`` (a random tiny VAE, a CPU smoke configuration) is never picked by ``mode="auto"``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

__all__ = ["HeldoutScores", "Provenance", "VaeInfo", "vae_info"]

FINGERPRINT_VALUES = 8
"""How many weights of the VAE encoder's first convolution identify it (:func:`vae_info`)."""


@dataclass
class VaeInfo:
    """The VAE whose latent space a reconstructor was trained in.

    Attributes:
        repo: Hub repo id or folder it came from (``"tiny-random(seed=0)"`` for the test VAE).
        revision: Hub revision, or None.
        scaling_factor: ``vae.config.scaling_factor`` (latents are ``mode() * scaling_factor``).
        latent_channels: C of a latent.
        downsample: image pixels per latent pixel side (8 for Stable Diffusion's VAE).
        fingerprint: the first :data:`FINGERPRINT_VALUES` weights of ``encoder.conv_in`` and their
            RMS (floats), compared with a relative tolerance of 1e-2 (so float16/bfloat16 copies of
            the same weights match, another VAE does not).
    """

    repo: str
    revision: str | None
    scaling_factor: float
    latent_channels: int
    downsample: int
    fingerprint: list[float] = field(default_factory=list)

    def differences(self, other: VaeInfo) -> list[str]:
        """What differs from ``other`` (the pipeline's VAE), one phrase each (empty: the same)."""
        out = []
        if not math.isclose(self.scaling_factor, other.scaling_factor, rel_tol=1e-6):
            out.append(f"VAE scaling factor {self.scaling_factor} (trained) vs {other.scaling_factor} (pipeline)")
        if (self.latent_channels, self.downsample) != (other.latent_channels, other.downsample):
            out.append(
                f"VAE latent channels/downsampling {self.latent_channels}/{self.downsample} (trained) vs "
                f"{other.latent_channels}/{other.downsample} (pipeline)"
            )
        if self.fingerprint and other.fingerprint:
            a, b = torch.tensor(self.fingerprint), torch.tensor(other.fingerprint)
            if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-2, atol=1e-3 * float(a.abs().max())):
                out.append(
                    f"VAE weights: trained with {self.repo}"
                    + (f"@{self.revision}" if self.revision else "")
                    + f", the pipeline's VAE ({other.repo}) has other weights"
                )
        return out


def vae_info(vae: Any, repo: str, revision: str | None = None) -> VaeInfo:
    """:class:`VaeInfo` of a diffusers ``AutoencoderKL`` (any dtype or device)."""
    weight = vae.encoder.conv_in.weight.detach().float().flatten().cpu()
    rms = float(weight.square().mean().sqrt())
    return VaeInfo(
        repo=str(repo),
        revision=revision,
        scaling_factor=float(vae.config.scaling_factor),
        latent_channels=int(vae.config.latent_channels),
        downsample=2 ** (len(vae.config.block_out_channels) - 1),
        fingerprint=[float(v) for v in weight[:FINGERPRINT_VALUES]] + [rms],
    )


@dataclass
class HeldoutScores:
    """Scores of the final weights on subjects never trained on (means over subjects and views).

    Attributes:
        psnr: dB; ssim: in [-1, 1]; iou: rendered alpha > 0.5 vs mask > 0.5.
        subjects: how many held-out samples; step: the optimisation step evaluated.
        by_group: view group (``"input"``, ``"context"``, ``"novel"``) -> metric -> value.
    """

    psnr: float
    ssim: float
    iou: float
    subjects: int
    step: int
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Provenance:
    """What a reconstructor was trained on and how (module docstring).

    Attributes:
        vae: the VAE of its latent space.
        image_size: S, training views were S x S pixels; latent_size: S / downsample.
        num_views: V, views the reconstructor saw per sample (the photo's latent first).
        body_model: name of the body model of the prior tokens (``"anny"``, ``"smplx"``; ``"unknown"``
            for folders whose body.npz does not say).
        body_vertices: M, vertices of that body model.
        data: one line naming the training data; num_subjects: samples trained on.
        steps: optimisation steps; config: the training configuration's name.
        smoke: a smoke run (random tiny VAE or a smoke configuration): loadable by hand, never by ``auto``.
        heldout: held-out scores, None if never evaluated (then the weights are not called trained).
    """

    vae: VaeInfo
    image_size: int
    latent_size: int
    num_views: int
    body_model: str
    body_vertices: int
    data: str
    num_subjects: int
    steps: int
    config: str
    smoke: bool
    heldout: HeldoutScores | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (what ``config.json`` stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`; raises ValueError naming missing entries."""
        missing = [f.name for f in fields(cls) if f.name not in data and f.name != "heldout"]
        if missing:
            raise ValueError(f"reconstructor provenance lacks {missing}; retrain with humansplat.train")
        kw = dict(data)
        kw["vae"] = VaeInfo(**kw["vae"])
        kw["heldout"] = HeldoutScores(**kw["heldout"]) if kw.get("heldout") else None
        return cls(**{f.name: kw.get(f.name) for f in fields(cls)})

    @property
    def is_trained(self) -> bool:
        """True when held-out scores were recorded."""
        return self.heldout is not None

    def differences(
        self,
        vae: VaeInfo | None = None,
        latent_size: int | None = None,
        num_views: int | None = None,
        body_model: str | None = None,
    ) -> list[str]:
        """What differs between this training record and a pipeline's components or a call's inputs
        (arguments left None are not checked); one phrase each, empty when everything matches."""
        out = self.vae.differences(vae) if vae is not None else []
        if latent_size is not None and int(latent_size) != self.latent_size:
            out.append(
                f"latent resolution {self.latent_size} (trained at {self.image_size} px) vs {latent_size} (pipeline)"
            )
        if num_views is not None and int(num_views) != self.num_views:
            out.append(f"number of views {self.num_views} (trained) vs {num_views} (this call)")
        if body_model is not None and "unknown" not in (self.body_model, body_model) and body_model != self.body_model:
            out.append(f"body model {self.body_model!r} (trained) vs {body_model!r} (this fit)")
        return out

    def summary(self) -> str:
        """One line for people (``weights_status``)."""
        scores = (
            f"held-out PSNR {self.heldout.psnr:.2f} dB, SSIM {self.heldout.ssim:.3f}, IoU {self.heldout.iou:.3f} "
            f"on {self.heldout.subjects} subjects"
            if self.heldout
            else "no held-out scores"
        )
        smoke = "SMOKE RUN, " if self.smoke else ""
        return (
            f"{smoke}config {self.config!r}, {self.steps} steps on {self.num_subjects} subjects ({self.data}), "
            f"{self.image_size} px, {self.num_views} views, VAE {self.vae.repo}, body {self.body_model}; {scores}"
        )
