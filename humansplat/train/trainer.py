"""Training loop of the latent reconstruction transformer (METHOD.md, "Training recipe").

One step: the context views' ground-truth images are encoded by the frozen VAE (teacher forcing:
the paper trains the reconstructor on latents of real views, not on SV3D's samples), the
transformer turns them (+ cameras + body vertices) into Gaussians, which are rendered into every
view of the sample and compared with the ground truth by
:func:`humansplat.train.losses.training_loss` (``L_rec + λ_h L_hier``).

Optimisation as the paper: AdamW (β = 0.9/0.95, weight decay 0.05 on weight matrices, none on
norms and biases), linear warm-up then cosine decay, gradient-norm clipping; optional fp16/bf16
autocast (CUDA only; the renderer and the losses stay float32) and gradient checkpointing.
Randomness (initial weights, sample order) comes from ``config.seed`` through generators; global
RNGs are left alone.

Output folder (``Trainer.save``)::

    OUT/reconstructor/            save_pretrained of the transformer; config.json has trained: true and
                                  a training_note, so HumanSplatPipeline accepts it
                                  (HUMANSPLAT_WEIGHTS=OUT finds it)
    OUT/training.json             config, data, steps, final loss and the loss history
    OUT/trainer_state.pt          optimiser, schedule and sampler state (``Trainer.load_state`` resumes)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from .data import DEFAULT_CONTEXT_AZIMUTHS, FolderDataset, MultiViewSample, SyntheticPeople
from .losses import PerceptualFn, TrainingTerms, training_loss

__all__ = ["TRAIN_PRESETS", "StepLog", "TrainConfig", "TrainResult", "Trainer", "cosine_with_warmup", "param_groups"]

MixedPrecision = Literal["no", "fp16", "bf16"]


@dataclass
class TrainConfig:
    """Everything a training run needs, section by section (presets: :data:`TRAIN_PRESETS`)."""

    name: str = "custom"
    # --- model
    model_preset: str = "tiny"  # LatentReconstructionTransformer preset (network.transformer.PRESETS)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # config entries replacing the preset's
    vae: str = "tiny"  # "tiny" (N1's random tiny VAE, 4x), "hub" (SD 1.5's, via humansplat.hub) or a folder
    # --- data
    data: str = "synthetic"  # "synthetic" (SyntheticPeople) or a FolderDataset root
    num_samples: int = 2  # synthetic people
    image_size: int = 32  # S: views are S x S pixels
    context_azimuths: tuple[float, ...] = DEFAULT_CONTEXT_AZIMUTHS  # orbit views the reconstructor sees
    extra_views: int = 2  # supervised-only orbit views per synthetic sample
    # --- optimisation
    steps: int = 20
    batch_size: int = 1
    lr: float = 2e-3  # peak learning rate
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05  # on weight matrices; norms and biases get none
    warmup_steps: int = 2
    min_lr_ratio: float = 0.1  # the cosine ends at min_lr_ratio * lr
    grad_clip: float = 1.0  # max gradient norm; 0 = no clipping
    mixed_precision: MixedPrecision = "no"  # autocast dtype on CUDA; ignored (noted) on other devices
    gradient_checkpointing: bool = False
    # --- loss
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # λ_i (rgb), λ_m (mask), λ_p (perceptual)
    hierarchical_weight: float = 1.0  # λ_h of the part loss; 0 = off
    part_region: Literal["box", "mask"] = "box"  # region of each part's loss (losses.hierarchical_loss)
    # --- bookkeeping
    seed: int = 0
    log_every: int = 1
    save_every: int = 0  # also save every N steps (0 = at the end only)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "num_samples", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.warmup_steps < 0 or self.save_every < 0 or self.grad_clip < 0:
            raise ValueError(
                f"need lr > 0, warmup_steps >= 0, save_every >= 0, grad_clip >= 0; got {self.lr}, {self.warmup_steps}, "
                f"{self.save_every}, {self.grad_clip}"
            )
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        self.context_azimuths = tuple(float(a) for a in self.context_azimuths)
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.loss_weights = tuple(float(w) for w in self.loss_weights)  # type: ignore[assignment]

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """A named preset (:data:`TRAIN_PRESETS`) with fields replaced by ``overrides``."""
        if name not in TRAIN_PRESETS:
            raise ValueError(f"unknown training preset {name!r}; choose one of {sorted(TRAIN_PRESETS)}")
        return replace(TRAIN_PRESETS[name], **overrides)


TRAIN_PRESETS: dict[str, TrainConfig] = {
    # tests and smoke runs: 2 synthetic people at 32 px, the tiny transformer with 2x Gaussian maps and
    # scales up to 0.2 m (at 32 px a pixel is ~6 cm); about a second a step on a busy 2-core CPU.
    "tiny": TrainConfig(name="tiny", model_overrides={"gaussian_upsample": 2, "scale_max": 0.2}, lr=5e-3),
    # a CPU demonstration: 32 people at 64 px, a wider tiny model with 2x Gaussian maps; tens of minutes.
    "small": TrainConfig(
        name="small",
        model_overrides={"hidden_dim": 64, "num_intra_layers": 4, "gaussian_upsample": 2, "scale_max": 0.1},
        num_samples=32,
        image_size=64,
        extra_views=3,
        steps=2000,
        lr=2e-3,
        warmup_steps=100,
    ),
    # the paper's first stage: the base transformer at 256 px on real renders (data=FOLDER, vae="hub"),
    # lr 4e-4 with 2000 warm-up steps, 80K iterations, mixed precision and gradient checkpointing.
    "base": TrainConfig(
        name="base",
        model_preset="base",
        vae="hub",
        image_size=256,
        extra_views=4,
        steps=80_000,
        batch_size=4,
        lr=4e-4,
        warmup_steps=2000,
        min_lr_ratio=0.0,
        mixed_precision="bf16",
        gradient_checkpointing=True,
    ),
}
"""Named training configurations, each described in one line above its entry."""


@dataclass
class StepLog:
    """What one optimisation step reports (floats, for logs and ``training.json``)."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    psnr: float  # dB, rendered vs ground-truth views, mean over views
    seconds: float
    terms: dict[str, float] = field(default_factory=dict)  # TrainingTerms.as_floats(), batch mean

    def line(self, total_steps: int) -> str:
        rec = self.terms.get("rec/total", float("nan"))
        hier = self.terms.get("hier/total", float("nan"))
        return (
            f"step {self.step:>6}/{total_steps}  loss {self.loss:.4f}  rec {rec:.4f}  hier {hier:.4f}  "
            f"psnr {self.psnr:5.2f} dB  lr {self.lr:.2e}  |g| {self.grad_norm:.3f}  {self.seconds:.2f} s"
        )


@dataclass
class TrainResult:
    """What :meth:`Trainer.train` returns."""

    history: list[StepLog]
    steps: int
    seconds: float
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


def cosine_with_warmup(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """Learning-rate factor at ``step`` (0-based): linear from 1/(warmup+1) to 1 over ``warmup_steps``,
    then a cosine from 1 down to ``min_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on parameters with >= 2 dimensions (weight matrices, convolution
    kernels, embeddings); none on 1-D ones (LayerNorm weights and biases, all biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]


def _load_vae(spec: str, seed: int):
    """The frozen VAE: ``"tiny"``, ``"hub"`` or a folder with an AutoencoderKL."""
    if spec == "tiny":
        from ..multiview.tiny import tiny_sv3d_components

        return tiny_sv3d_components(seed)["vae"]
    from diffusers import AutoencoderKL

    if spec == "hub":
        from ..hub import HubConfig, fetch

        folder = fetch("vae", HubConfig.from_env())
    else:
        folder = Path(spec)
        if not (folder / "config.json").is_file() and (folder / "vae" / "config.json").is_file():
            folder = folder / "vae"
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"vae={spec!r}: no AutoencoderKL config.json there; use 'tiny', 'hub' or a VAE folder"
            )
    variant = "fp16" if any(".fp16." in p.name for p in folder.iterdir()) else None
    return AutoencoderKL.from_pretrained(folder, variant=variant, torch_dtype=torch.float32)


class Trainer:
    """Trains a :class:`~humansplat.network.transformer.LatentReconstructionTransformer`.

    Args:
        config: the run's :class:`TrainConfig`.
        model: the transformer to train (default: a new one of ``config.model_preset``, initialised
            from ``config.seed``; pass ``from_pretrained(...)`` to continue from a checkpoint).
        vae: the frozen ``AutoencoderKL`` encoding the views (default from ``config.vae``).
        dataset: samples (:class:`~humansplat.train.data.MultiViewSample`); default from ``config.data``.
        lpips_fn: perceptual distance (see :mod:`humansplat.train.losses`); None skips the term.
        device: where to train (default: CUDA when available, else the CPU).
    """

    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module | None = None,
        vae: torch.nn.Module | None = None,
        dataset: Any | None = None,
        lpips_fn: PerceptualFn | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        from ..network.transformer import LatentReconstructionTransformer

        self.config = config
        self.device = (
            torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.notes: list[str] = []
        if model is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                model = LatentReconstructionTransformer.from_preset(config.model_preset, **config.model_overrides)
        self.model = model.to(self.device).train()
        if config.gradient_checkpointing:
            self.model.enable_gradient_checkpointing()
        self.vae = (
            (vae if vae is not None else _load_vae(config.vae, config.seed))
            .to(self.device)
            .eval()
            .requires_grad_(False)
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.dataset = dataset if dataset is not None else self._default_dataset()
        self.lpips_fn = lpips_fn
        if lpips_fn is None and config.loss_weights[2] > 0:
            self.notes.append("perceptual (LPIPS) term skipped: no lpips_fn given")
        self._check_sizes()

        self.amp_dtype = None
        if config.mixed_precision != "no":
            if self.device.type == "cuda":
                self.amp_dtype = torch.float16 if config.mixed_precision == "fp16" else torch.bfloat16
            else:
                self.notes.append(
                    f"mixed_precision={config.mixed_precision!r} ignored on {self.device.type}: autocast runs on CUDA only"
                )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, config.weight_decay), lr=config.lr, betas=config.betas
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: cosine_with_warmup(s, config.warmup_steps, config.steps, config.min_lr_ratio)
        )
        self.generator = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.history: list[StepLog] = []
        self._order: list[int] = []
        self._latents: dict[int, torch.Tensor] = {}

    # ------------------------------------------------------------------ setup
    def _default_dataset(self):
        cfg = self.config
        if cfg.data == "synthetic":
            return SyntheticPeople(
                cfg.num_samples, cfg.image_size, cfg.context_azimuths, cfg.extra_views, seed=cfg.seed
            )
        return FolderDataset(cfg.data, image_size=cfg.image_size, context_azimuths=cfg.context_azimuths)

    def _check_sizes(self) -> None:
        S = self.config.image_size
        per_token = self.vae_scale_factor * self.model.config.patch_size
        if S % per_token:
            raise ValueError(
                f"image_size {S} must be a multiple of {per_token} (VAE downsampling {self.vae_scale_factor} x patch size "
                f"{self.model.config.patch_size})"
            )

    def describe_data(self) -> str:
        describe = getattr(self.dataset, "describe", None)
        return describe() if callable(describe) else f"{type(self.dataset).__name__} of {len(self.dataset)} samples"

    # ------------------------------------------------------------------ data
    def _next_indices(self) -> list[int]:
        out = []
        while len(out) < self.config.batch_size:
            if not self._order:
                self._order = torch.randperm(len(self.dataset), generator=self.generator).tolist()
            out.append(self._order.pop(0))
        return out

    @torch.no_grad()
    def encode_views(self, images: torch.Tensor) -> torch.Tensor:
        """(V, H, W, 3) colours in [0, 1] -> (V, 4, h, w) VAE latents, scaled space (as
        :class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`'s latents: ``mode() * scaling_factor``)."""
        x = (
            images.permute(0, 3, 1, 2).to(device=self.device, dtype=self.vae.dtype) * 2.0 - 1.0
        )  # [V, H, W, 3] -> [V, 3, H, W]
        return self.vae.encode(x).latent_dist.mode().float() * self.vae.config.scaling_factor

    def _latents_of(self, index: int, sample: MultiViewSample) -> torch.Tensor:
        if index not in self._latents:
            self._latents[index] = self.encode_views(sample.images[sample.context.cpu()])
        return self._latents[index]

    # ------------------------------------------------------------------ one step
    def compute_loss(self, indices: list[int]) -> tuple[torch.Tensor, list[TrainingTerms], float]:
        """Forward + render + loss for the samples ``indices``: (mean loss, terms per sample, mean PSNR)."""
        from ..render import render

        samples = [self.dataset[i].to(self.device) for i in indices]
        counts = {len(s.vertices) for s in samples}
        if len(counts) != 1:
            raise ValueError(
                f"samples of one batch need the same number of body vertices, got {sorted(counts)}; use batch_size=1"
            )
        latents = torch.stack([self._latents_of(i, s) for i, s in zip(indices, samples)])  # (B, V_ctx, 4, h, w)
        cams = [s.cameras[s.context] for s in samples]
        verts = torch.stack([s.vertices for s in samples])
        parts = torch.stack([s.parts for s in samples])
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out = self.model(latents, cams, verts, parts)
        cfg = self.config
        totals, terms, psnrs = [], [], []
        with torch.autocast(self.device.type, enabled=False):
            for gaussians, s in zip(out.gaussians, samples):
                r = render(gaussians.to(dtype=torch.float32), s.cameras, background=s.background)
                t = training_loss(
                    r.rgb,
                    r.alpha,
                    s.images,
                    s.masks,
                    s.part_masks,
                    self.lpips_fn,
                    cfg.loss_weights,
                    cfg.hierarchical_weight,
                    region=cfg.part_region,
                )
                totals.append(t.total)
                terms.append(t)
                mse = (r.rgb.detach() - s.images).square().flatten(1).mean(1).clamp_min(1e-10)
                psnrs.append(float((-10.0 * torch.log10(mse)).mean()))
        return torch.stack(totals).mean(), terms, sum(psnrs) / len(psnrs)

    def train_step(self) -> StepLog:
        """One optimisation step on the next batch."""
        start = time.perf_counter()
        self.model.train()
        loss, terms, psnr = self.compute_loss(self._next_indices())
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"loss is {float(loss)} at step {self.step}; lower the learning rate or check the data"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        floats = [t.as_floats() for t in terms]
        mean_terms = {k: sum(f.get(k, 0.0) for f in floats) / len(floats) for k in floats[0]}
        log = StepLog(self.step, float(loss.detach()), lr, grad_norm, psnr, time.perf_counter() - start, mean_terms)
        self.history.append(log)
        return log

    @torch.no_grad()
    def evaluate(self, indices: list[int] | None = None) -> dict[str, float]:
        """Mean loss and PSNR over ``indices`` (default: the whole dataset), no gradients."""
        self.model.eval()
        indices = list(range(len(self.dataset))) if indices is None else indices
        losses, psnrs = [], []
        for i in indices:
            loss, _, psnr = self.compute_loss([i])
            losses.append(float(loss))
            psnrs.append(psnr)
        self.model.train()
        return {"loss": sum(losses) / len(losses), "psnr": sum(psnrs) / len(psnrs)}

    # ------------------------------------------------------------------ loop
    def train(
        self,
        steps: int | None = None,
        out_dir: str | Path | None = None,
        callback: Callable[[StepLog], None] | None = None,
    ) -> TrainResult:
        """Run until ``steps`` optimisation steps are done in all (default ``config.steps``), calling
        ``callback`` every ``log_every`` steps; save to ``out_dir`` every ``save_every`` steps and at the end."""
        total = int(steps if steps is not None else self.config.steps)
        start = time.perf_counter()
        while self.step < total:
            log = self.train_step()
            if callback is not None and (log.step % self.config.log_every == 0 or log.step == total):
                callback(log)
            if (
                out_dir is not None
                and self.config.save_every
                and log.step % self.config.save_every == 0
                and log.step < total
            ):
                self.save(out_dir)
        seconds = time.perf_counter() - start
        saved = self.save(out_dir) if out_dir is not None else None
        return TrainResult(
            history=list(self.history), steps=self.step, seconds=seconds, out_dir=saved, notes=list(self.notes)
        )

    # ------------------------------------------------------------------ checkpoints
    def training_note(self) -> str:
        """What the checkpoint's config says about its training (shown by ``weights_status``)."""
        last = self.history[-1].loss if self.history else float("nan")
        return f"humansplat.train config {self.config.name!r}: {self.step} steps on {self.describe_data()}; final loss {last:.4g}"

    def save(self, out_dir: str | Path) -> Path:
        """Write the checkpoint (module docstring: layout); returns ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.mark_trained(self.training_note())
        self.model.save_pretrained(out / "reconstructor")
        info = {
            "trained": True,
            "steps": self.step,
            "data": self.describe_data(),
            "final_loss": self.history[-1].loss if self.history else None,
            "final_psnr": self.history[-1].psnr if self.history else None,
            "config": asdict(self.config),
            "vae": self.config.vae if self.config.vae != "tiny" else "tiny (random weights, humansplat.multiview.tiny)",
            "device": str(self.device),
            "notes": self.notes,
            "history": [asdict(h) for h in self.history],
        }
        (out / "training.json").write_text(json.dumps(info, indent=1))
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "order": list(self._order),
            "history": [asdict(h) for h in self.history],
        }
        torch.save(state, out / "trainer_state.pt")
        return out

    def load_state(self, out_dir: str | Path) -> None:
        """Resume from :meth:`save`'s folder: weights, optimiser, schedule, sampler and history."""
        from safetensors.torch import load_file

        out = Path(out_dir)
        weights = out / "reconstructor" / "diffusion_pytorch_model.safetensors"
        if not weights.is_file() or not (out / "trainer_state.pt").is_file():
            raise FileNotFoundError(f"{out} holds no checkpoint to resume (need reconstructor/ and trainer_state.pt)")
        self.model.load_state_dict(load_file(weights, device=str(self.device)))
        state = torch.load(out / "trainer_state.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"].cpu())
        self._order = list(state["order"])
        self.step = int(state["step"])
        self.history = [StepLog(**h) for h in state["history"]]
