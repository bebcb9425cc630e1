"""Training loop of the latent reconstruction transformer and of the SV3D synthesizer (METHOD.md,
"Training recipe"), on one process or many through ``accelerate``.

One reconstructor step: the context views' ground-truth images are encoded by the frozen VAE
(teacher forcing: the paper trains the reconstructor on latents of real views; optionally with
noise on the generated views' latents, ``latent_noise``, or latents sampled by the synthesizer as
at inference, ``latent_source="synthesizer"``), the transformer turns them (+ cameras + body
vertices) into Gaussians, which are rendered into every view of the sample and compared with the
ground truth by :func:`humansplat.objectives.training_loss` (``L_rec + λ_h L_hier``). A
synthesizer step (``target="synthesizer"``) is SV3D's EDM denoising loss on the sample's orbit
(:mod:`humansplat.train.synthesizer`).

Optimisation as the paper: AdamW (β = 0.9/0.95, weight decay 0.05 on weight matrices, none on
norms and biases), linear warm-up then cosine decay, gradient-norm clipping, gradient accumulation,
an EMA of the weights (exported); fp16/bf16 autocast through ``accelerate`` (CUDA only; the
renderer and the losses stay float32) and gradient checkpointing.

Processes and data: ``accelerate launch -m humansplat.train`` starts one process per device;
``accelerate`` wraps the model for gradient averaging and gives each process its rank. Each
optimisation step consumes ``batch_size x processes x grad_accum`` samples; which ones is a pure
function of ``(seed, step)`` (an epoch-wise permutation, :meth:`Trainer.batch_indices`), and so are
the augmentations, so a resumed run sees exactly the samples and noise the uninterrupted run would.

Output folder::

    OUT/reconstructor/              save_pretrained of the (EMA) transformer; config.json records the
                                    provenance (humansplat.network.provenance) and held-out scores
    OUT/unet/                       instead, for target="synthesizer"
    OUT/training.json               config, provenance, held-out scores, loss history
    OUT/checkpoints/step_NNNNNNN.pt model, EMA, optimiser, scheduler, scaler, RNG and step (resume)
    OUT/samples/step_NNNNNNN.png    held-out ground truth (top) and renders (bottom)
    OUT/logs/                       TensorBoard events (when tensorboard is installed)

Randomness (initial weights, sample order, augmentations) comes from ``config.seed`` through
generators; global RNGs are left alone.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..imaging import psnr
from ..network.provenance import HeldoutScores, Provenance, vae_info
from ..objectives import PerceptualFn, training_loss
from ..weights import weight_variant
from .data import DEFAULT_CONTEXT_AZIMUTHS, FolderDataset, MultiViewSample, SyntheticPeople
from .ema import EMA
from .evaluation import sample_grid, save_sample_grid, view_groups, view_metrics

__all__ = [
    "CONFIG_DIR",
    "TRAIN_PRESETS",
    "StepLog",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "cosine_with_warmup",
    "param_groups",
]

MixedPrecision = Literal["no", "fp16", "bf16"]
CONFIG_DIR = Path(__file__).parent / "configs"
"""YAML configurations shipped with the package (``--config NAME`` finds ``CONFIG_DIR/NAME.yaml``)."""


@dataclass
class TrainConfig:
    """Everything a training run needs, section by section (presets: :data:`TRAIN_PRESETS`, YAML
    files in :data:`CONFIG_DIR`; :meth:`load` reads either)."""

    name: str = "custom"
    target: Literal["reconstructor", "synthesizer"] = "reconstructor"  # what is trained
    # --- model
    model_preset: str = "tiny"  # LatentReconstructionTransformer preset (network.transformer.PRESETS)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # config entries replacing the preset's
    init_from: str | None = None  # start from these weights (a save_pretrained folder), e.g. the 256 px run
    vae: str = "tiny"  # "tiny" (random tiny VAE, smoke runs only), "hub" (SD 1.5's, via humansplat.hub) or a folder
    synthesizer: str = "tiny"  # SV3D components: "tiny" (random) or "hub" (for latent_source/target synthesizer)
    # --- data
    data: str = "synthetic"  # "synthetic" (SyntheticPeople) or a FolderDataset root
    num_samples: int = 2  # synthetic people
    image_size: int = 32  # S: views are S x S pixels
    context_azimuths: tuple[float, ...] = DEFAULT_CONTEXT_AZIMUTHS  # orbit views the reconstructor sees
    extra_views: int = 2  # supervised-only orbit views per synthetic sample
    latent_source: Literal["teacher", "synthesizer"] = "teacher"  # generated views' latents: VAE of the truth, or SV3D
    synthesizer_steps: int = 4  # SV3D Euler steps when latent_source = "synthesizer"
    latent_noise: float = 0.0  # augmentation: std of Gaussian noise on the generated views' latents
    # --- held-out evaluation
    eval_data: str = "synthetic"  # "synthetic" (people of seed + 1000) or a FolderDataset root of held-out subjects
    eval_samples: int = 2  # held-out samples evaluated (0 = none: the export is then not called trained)
    eval_every: int = 0  # also evaluate every N steps (0 = at the end only)
    # --- optimisation
    steps: int = 20
    batch_size: int = 1  # per process and micro-step
    grad_accum: int = 1  # micro-steps per optimisation step
    lr: float = 2e-3  # peak learning rate
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05  # on weight matrices; norms and biases get none
    warmup_steps: int = 2
    min_lr_ratio: float = 0.1  # the cosine ends at min_lr_ratio * lr
    grad_clip: float = 1.0  # max gradient norm; 0 = no clipping
    ema_decay: float = 0.0  # EMA of the weights (exported and evaluated); 0 = off
    mixed_precision: MixedPrecision = "no"  # autocast dtype on CUDA; ignored (noted) on other devices
    gradient_checkpointing: bool = False
    # --- loss
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # λ_i (rgb), λ_m (mask), λ_p (perceptual)
    hierarchical_weight: float = 1.0  # λ_h of the part loss; 0 = off
    part_region: Literal["box", "mask"] = "box"  # region of each part's loss (losses.hierarchical_loss)
    # --- bookkeeping
    smoke: bool = False  # a smoke run: its export is never used by mode="auto"
    seed: int = 0
    log_every: int = 1
    save_every: int = 0  # also checkpoint every N steps (0 = at the end only)
    keep_checkpoints: int = 2  # newest checkpoints kept in OUT/checkpoints
    push_to_hub: str | None = None  # owner/name: upload the export at the end

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "num_samples", "log_every", "grad_accum", "keep_checkpoints"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.warmup_steps < 0 or self.save_every < 0 or self.grad_clip < 0:
            raise ValueError(
                f"need lr > 0, warmup_steps >= 0, save_every >= 0, grad_clip >= 0; got {self.lr}, {self.warmup_steps}, "
                f"{self.save_every}, {self.grad_clip}"
            )
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        if self.target not in ("reconstructor", "synthesizer"):
            raise ValueError(f"target must be 'reconstructor' or 'synthesizer', got {self.target!r}")
        if self.latent_source not in ("teacher", "synthesizer"):
            raise ValueError(f"latent_source must be 'teacher' or 'synthesizer', got {self.latent_source!r}")
        if not 0.0 <= self.ema_decay < 1.0 or self.latent_noise < 0 or self.eval_samples < 0 or self.eval_every < 0:
            raise ValueError(
                f"need 0 <= ema_decay < 1, latent_noise >= 0, eval_samples >= 0, eval_every >= 0; got "
                f"{self.ema_decay}, {self.latent_noise}, {self.eval_samples}, {self.eval_every}"
            )
        self.context_azimuths = tuple(float(a) for a in self.context_azimuths)
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.loss_weights = tuple(float(w) for w in self.loss_weights)  # type: ignore[assignment]

    @classmethod
    def preset(cls, preset_name: str, /, **overrides: Any) -> TrainConfig:
        """A named preset (:data:`TRAIN_PRESETS`) with fields replaced by ``overrides``."""
        if preset_name not in TRAIN_PRESETS:
            raise ValueError(f"unknown training preset {preset_name!r}; choose one of {sorted(TRAIN_PRESETS)}")
        return replace(TRAIN_PRESETS[preset_name], **overrides)

    @classmethod
    def load(cls, spec: str | Path, /, **overrides: Any) -> TrainConfig:
        """A configuration by name or file: a preset (:data:`TRAIN_PRESETS`), a YAML file shipped in
        :data:`CONFIG_DIR` (``"paper_256"``) or any YAML path. A YAML file holds field: value pairs
        and optionally ``base: <name>`` (a preset or another shipped file) it starts from."""
        spec = str(spec)
        if spec in TRAIN_PRESETS:
            return cls.preset(spec, **overrides)
        path = Path(spec)
        if not path.is_file():
            path = CONFIG_DIR / f"{spec.removesuffix('.yaml')}.yaml"
        if not path.is_file():
            shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
            raise ValueError(
                f"no training configuration {spec!r}: not a preset {sorted(TRAIN_PRESETS)}, not one of the shipped "
                f"files {shipped}, not a YAML file"
            )
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of TrainConfig fields, got {type(data).__name__}")
        base = data.pop("base", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown TrainConfig fields {unknown}; known: {sorted(known)}")
        data.setdefault("name", path.stem)
        if base is not None:
            return cls.load(base, **{**data, **overrides})
        return cls(**{**data, **overrides})


TRAIN_PRESETS: dict[str, TrainConfig] = {
    # tests and smoke runs: 2 synthetic people at 32 px, the tiny transformer with 2x Gaussian maps and
    # scales up to 0.2 m (at 32 px a pixel is ~6 cm); about a second a step on a busy 2-core CPU.
    "tiny": TrainConfig(
        name="tiny", model_overrides={"gaussian_upsample": 2, "scale_max": 0.2}, lr=5e-3, eval_samples=1, smoke=True
    ),
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
        eval_samples=4,
        eval_every=200,
        ema_decay=0.99,
        smoke=True,
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
        ema_decay=0.9999,
        mixed_precision="bf16",
        gradient_checkpointing=True,
        eval_samples=16,
        eval_every=5000,
        save_every=2000,
    ),
}
"""Named training configurations, each described in one line above its entry."""


@dataclass
class StepLog:
    """What one optimisation step reports (floats, for logs and ``training.json``); means over the
    step's micro-batches and processes."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    psnr: float  # dB, rendered vs ground-truth views, mean over views (nan for the synthesizer)
    seconds: float
    terms: dict[str, float] = field(default_factory=dict)  # TrainingTerms.as_floats(), batch mean

    def line(self, total_steps: int) -> str:
        shown = {"rec/total": "rec", "hier/total": "hier", "edm": "edm"}
        terms = "".join(f"  {label} {self.terms[k]:.4f}" for k, label in shown.items() if k in self.terms)
        psnr = f"  psnr {self.psnr:5.2f} dB" if math.isfinite(self.psnr) else ""
        return (
            f"step {self.step:>6}/{total_steps}  loss {self.loss:.4f}{terms}{psnr}  lr {self.lr:.2e}  "
            f"|g| {self.grad_norm:.3f}  {self.seconds:.2f} s"
        )


@dataclass
class TrainResult:
    """What :meth:`Trainer.train` returns."""

    history: list[StepLog]
    steps: int
    seconds: float
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # {"step", group -> metric -> value}
    heldout: HeldoutScores | None = None


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
    kernels, embeddings); none on 1-D ones (LayerNorm/GroupNorm weights and biases, all biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]


def _load_vae(spec: str, seed: int):
    """The frozen VAE and where it came from: ``"tiny"``, ``"hub"`` or a folder with an AutoencoderKL.
    Returns (vae, repo or folder, revision)."""
    if spec == "tiny":
        from ..multiview.tiny import tiny_sv3d_components

        return tiny_sv3d_components(seed)["vae"], f"tiny-random(seed={seed})", None
    from diffusers import AutoencoderKL

    revision = None
    if spec == "hub":
        from ..hub import HubConfig, fetch

        hub = HubConfig.from_env()
        folder = fetch("vae", hub)
        source, revision = hub.vae.repo_id + (f"/{hub.vae.subfolder}" if hub.vae.subfolder else ""), hub.vae.revision
    else:
        folder = Path(spec)
        if not (folder / "config.json").is_file() and (folder / "vae" / "config.json").is_file():
            folder = folder / "vae"
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"vae={spec!r}: no AutoencoderKL config.json there; use 'tiny', 'hub' or a VAE folder"
            )
        source = str(folder)
    variant = weight_variant(folder, "fp16")
    return AutoencoderKL.from_pretrained(folder, variant=variant, torch_dtype=torch.float32), source, revision


def _make_accelerator(mixed_precision: str, cpu: bool) -> Any:
    """``accelerate.Accelerator`` for this run. Its state is process-wide: in a single process where an
    earlier Trainer chose another device or precision (tests, benchmarks), that state is reset
    (accelerate's own reset); a multi-process launch keeps the launcher's state and fails loudly."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    try:
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    except ValueError as exc:
        if "already been initialized" not in str(exc) or PartialState().num_processes > 1:
            raise
        AcceleratorState._reset_state(reset_partial_state=True)
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


def _tensorboard_writer(log_dir: Path) -> Any | None:
    """A TensorBoard ``SummaryWriter`` on ``log_dir``, or None (one warning) without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)", stacklevel=2)
        return None
    return SummaryWriter(str(log_dir))


class Trainer:
    """Trains a :class:`~humansplat.network.transformer.LatentReconstructionTransformer` (or,
    with ``config.target = "synthesizer"``, fine-tunes the SV3D UNet).

    Args:
        config: the run's :class:`TrainConfig`.
        model: the network to train (default: a new one of ``config.model_preset`` initialised from
            ``config.seed``, or ``config.init_from``; for the synthesizer, ``config.synthesizer``'s UNet).
        vae: the frozen ``AutoencoderKL`` encoding the views (default from ``config.vae``).
        dataset: samples (:class:`~humansplat.train.data.MultiViewSample`); default from ``config.data``.
        eval_dataset: held-out samples; default from ``config.eval_data`` (never the training people).
        lpips_fn: perceptual distance (see :mod:`humansplat.objectives`); None skips the term.
        device: where to train (default: ``accelerate``'s device for this process).
        vae_source: where ``vae`` came from (recorded in the provenance) when a VAE is passed.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module | None = None,
        vae: torch.nn.Module | None = None,
        dataset: Any | None = None,
        eval_dataset: Any | None = None,
        lpips_fn: PerceptualFn | None = None,
        device: torch.device | str | None = None,
        vae_source: str = "given to the Trainer",
    ) -> None:
        self.config = config
        self.notes: list[str] = []
        want = torch.device(device) if device is not None else None
        on_cuda = torch.cuda.is_available() and (want is None or want.type == "cuda")
        mixed = config.mixed_precision if on_cuda else "no"
        if config.mixed_precision != "no" and not on_cuda:
            self.notes.append(
                f"mixed_precision={config.mixed_precision!r} ignored on the CPU: autocast runs on CUDA only"
            )
        self.accelerator = _make_accelerator(mixed, cpu=not on_cuda)
        self.device = self.accelerator.device
        self.amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed)

        self.components: dict[str, Any] = {}
        if vae is None:
            vae, vae_source, revision = _load_vae(config.vae, config.seed)
        else:
            revision = None
        self.vae = vae.to(self.device).eval().requires_grad_(False)
        self.vae_record = vae_info(self.vae, vae_source, revision)
        self.vae_scale_factor = self.vae_record.downsample
        self.dataset = dataset if dataset is not None else self._make_dataset(config.data, config.seed)
        self.eval_dataset = eval_dataset if eval_dataset is not None else self._default_eval_dataset()
        self.lpips_fn = lpips_fn
        if config.target == "reconstructor" and lpips_fn is None and config.loss_weights[2] > 0:
            self.notes.append("perceptual (LPIPS) term skipped: no lpips_fn given")

        model = model if model is not None else self._make_model()
        if config.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        self.model = model.to(self.device).train()
        if config.target == "reconstructor":
            self._check_sizes()
        self.ema = EMA(self.model, config.ema_decay) if config.ema_decay > 0 else None
        optimizer = torch.optim.AdamW(param_groups(self.model, config.weight_decay), lr=config.lr, betas=config.betas)
        # accelerate wraps the model for multi-process gradient averaging (DDP) and the optimiser for
        # fp16 loss scaling; the schedule stays ours (one scheduler step per optimisation step)
        self.net, self.optimizer = self.accelerator.prepare(self.model, optimizer)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer.optimizer if hasattr(self.optimizer, "optimizer") else self.optimizer,
            lambda s: cosine_with_warmup(s, config.warmup_steps, config.steps, config.min_lr_ratio),
        )
        self.step = 0
        self.history: list[StepLog] = []
        self.evaluations: list[dict[str, Any]] = []
        self._perm: tuple[int, list[int]] = (-1, [])
        self._latents: dict[int, torch.Tensor] = {}  # teacher latents of training samples
        self._eval_latents: dict[int, torch.Tensor] = {}  # ... of held-out samples
        self._writer: Any | None = None

    # ------------------------------------------------------------------ setup
    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _make_model(self) -> torch.nn.Module:
        cfg = self.config
        if cfg.target == "synthesizer":
            from .synthesizer import load_synthesizer_components

            self.components = load_synthesizer_components(cfg.synthesizer, cfg.seed)
            return self.components.pop("unet")
        from ..network.transformer import LatentReconstructionTransformer

        if cfg.init_from:
            return LatentReconstructionTransformer.from_pretrained(cfg.init_from)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            return LatentReconstructionTransformer.from_preset(cfg.model_preset, **cfg.model_overrides)

    def _make_dataset(self, spec: str, seed: int, num_samples: int | None = None):
        cfg = self.config
        if spec == "synthetic":
            n = cfg.num_samples if num_samples is None else num_samples
            return SyntheticPeople(n, cfg.image_size, cfg.context_azimuths, cfg.extra_views, seed=seed)
        return FolderDataset(spec, image_size=cfg.image_size, context_azimuths=cfg.context_azimuths)

    def _default_eval_dataset(self):
        cfg = self.config
        if cfg.eval_samples == 0:
            return None
        if cfg.eval_data == "synthetic" and cfg.data != "synthetic":
            self.notes.append("no held-out evaluation: training on a folder needs eval_data=<folder of held-out subjects>")
            return None
        # synthetic held-out people come from another seed: never the training people
        return self._make_dataset(cfg.eval_data, cfg.seed + 1000, cfg.eval_samples)

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
    def batch_indices(self, step: int, micro: int = 0) -> list[int]:
        """Sample indices of this process's micro-batch ``micro`` of optimisation step ``step``.

        The samples form one stream, epoch ``e`` a permutation drawn from ``(seed, e)``; step ``s``
        takes its ``batch_size x processes x grad_accum`` next ones, micro-batch by micro-batch and
        rank by rank (``accelerate``'s process index), so the processes share the data without overlap.
        """
        cfg, acc = self.config, self.accelerator
        B, W, N = cfg.batch_size, acc.num_processes, len(self.dataset)
        start = (step * cfg.grad_accum * W + micro * W + acc.process_index) * B
        out = []
        for pos in range(start, start + B):
            epoch, i = divmod(pos, N)
            if self._perm[0] != epoch:
                g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
                self._perm = (epoch, torch.randperm(N, generator=g).tolist())
            out.append(self._perm[1][i])
        return out

    def _generator(self, step: int, micro: int) -> torch.Generator:
        """The augmentation noise of one micro-batch: a function of (seed, step, micro, rank) only."""
        key = ((self.config.seed * 1_000_003 + step) * 131 + micro) * 1031 + self.accelerator.process_index
        return torch.Generator().manual_seed(key % (2**63))

    @torch.no_grad()
    def encode_views(self, images: torch.Tensor) -> torch.Tensor:
        """(V, H, W, 3) colours in [0, 1] -> (V, 4, h, w) VAE latents, scaled space (as
        :class:`~humansplat.multiview.pipeline_sv3d.SV3DPipeline`'s latents: ``mode() * scaling_factor``)."""
        x = (
            images.permute(0, 3, 1, 2).to(device=self.device, dtype=self.vae.dtype) * 2.0 - 1.0
        )  # [V, H, W, 3] -> [V, 3, H, W]
        return self.vae.encode(x).latent_dist.mode().float() * self.vae.config.scaling_factor

    def _latents_of(self, index: int, sample: MultiViewSample, cache: dict[int, torch.Tensor]) -> torch.Tensor:
        """(V_ctx, 4, h, w) latents the reconstructor sees for a sample (cached per sample)."""
        if index not in cache:
            if self.config.latent_source == "synthesizer":
                from .synthesizer import synthesizer_latents

                cache[index] = synthesizer_latents(self, sample)
            else:
                cache[index] = self.encode_views(sample.images[sample.context.cpu()])
        return cache[index]

    # ------------------------------------------------------------------ one step
    def compute_loss(
        self,
        indices: list[int],
        generator: torch.Generator | None = None,
        dataset: Any | None = None,
        model: torch.nn.Module | None = None,
        keep_renders: bool = False,
    ) -> tuple[torch.Tensor, list[dict[str, float]], float, list[Any]]:
        """Forward + render + loss for the samples ``indices`` of ``dataset`` (default the training
        set) with ``model`` (default the process's wrapped network): (mean loss, terms per sample,
        mean PSNR in dB, renders if ``keep_renders``). ``generator`` drives the augmentations (None: none)."""
        if self.config.target == "synthesizer":
            from .synthesizer import synthesizer_loss

            return synthesizer_loss(self, indices, generator, dataset, model)
        from ..render import render

        dataset = self.dataset if dataset is None else dataset
        net = self.net if model is None else model
        cache = self._latents if dataset is self.dataset else self._eval_latents
        samples = [dataset[i].to(self.device) for i in indices]
        counts = {len(s.vertices) for s in samples}
        if len(counts) != 1:
            raise ValueError(
                f"samples of one batch need the same number of body vertices, got {sorted(counts)}; use batch_size=1"
            )
        latents = torch.stack([self._latents_of(i, s, cache) for i, s in zip(indices, samples)])  # (B, V_ctx, 4, h, w)
        if generator is not None and self.config.latent_noise > 0:
            noise = torch.randn(latents[:, 1:].shape, generator=generator).to(latents)
            latents = torch.cat([latents[:, :1], latents[:, 1:] + self.config.latent_noise * noise], dim=1)
        cams = [s.cameras[s.context] for s in samples]
        verts = torch.stack([s.vertices for s in samples])
        parts = torch.stack([s.parts for s in samples])
        with self.accelerator.autocast():
            out = net(latents, cams, verts, parts)
        cfg = self.config
        totals, terms, psnrs, renders = [], [], [], []
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
                terms.append(t.as_floats())
                mse = (r.rgb.detach() - s.images).square().flatten(1).mean(1)
                psnrs.append(float(psnr(mse).mean()))
                if keep_renders:
                    renders.append(r)
        return torch.stack(totals).mean(), terms, sum(psnrs) / len(psnrs), renders

    def train_step(self) -> StepLog:
        """One optimisation step (``grad_accum`` micro-batches) on the next samples."""
        cfg, acc = self.config, self.accelerator
        start = time.perf_counter()
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        losses, psnrs, all_terms = [], [], []
        for micro in range(cfg.grad_accum):
            # no gradient all-reduce until the last micro-batch
            sync = nullcontext() if micro == cfg.grad_accum - 1 else acc.no_sync(self.net)
            with sync:
                loss, terms, psnr, _ = self.compute_loss(self.batch_indices(self.step, micro), self._generator(self.step, micro))
                if not bool(torch.isfinite(loss)):
                    raise FloatingPointError(
                        f"loss is {float(loss)} at step {self.step}; lower the learning rate or check the data"
                    )
                acc.backward(loss / cfg.grad_accum)
            losses.append(float(loss.detach()))
            psnrs.append(psnr)
            all_terms.extend(terms)
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = float(acc.clip_grad_norm_(self.model.parameters(), clip))
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        stats = torch.tensor([sum(losses) / len(losses), sum(psnrs) / len(psnrs)], device=self.device)
        stats = acc.reduce(stats, "mean") if acc.num_processes > 1 else stats
        mean_terms = {k: sum(t.get(k, 0.0) for t in all_terms) / len(all_terms) for k in all_terms[0]}
        log = StepLog(
            self.step, float(stats[0]), lr, grad_norm, float(stats[1]), time.perf_counter() - start, mean_terms
        )
        self.history.append(log)
        return log

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, indices: list[int] | None = None, dataset: Any | None = None) -> dict[str, float]:
        """Mean loss and PSNR over ``indices`` of ``dataset`` (default: the whole training set) with
        the trained (not averaged) weights, no gradients, no augmentation."""
        dataset = self.dataset if dataset is None else dataset
        self.model.eval()
        indices = list(range(len(dataset))) if indices is None else indices
        losses, psnrs = [], []
        for i in indices:
            loss, _, psnr, _ = self.compute_loss([i], dataset=dataset, model=self.model)
            losses.append(float(loss))
            psnrs.append(psnr)
        self.model.train()
        return {"loss": sum(losses) / len(losses), "psnr": sum(psnrs) / len(psnrs)}

    @torch.no_grad()
    def evaluate_heldout(self, out_dir: str | Path | None = None) -> dict[str, Any] | None:
        """Scores of the exported weights (the EMA when on) on the held-out samples, by view group
        (:func:`~humansplat.train.evaluation.view_metrics`): ``{"step", "loss", group -> metric -> value}``;
        writes ``OUT/samples/step_N.png`` and TensorBoard scalars. None without held-out data or
        for the synthesizer (its held-out loss is in ``"loss"`` then)."""
        if self.eval_dataset is None:
            return None
        self.model.eval()
        rows, losses = [], []
        with self.ema.applied(self.model) if self.ema is not None else nullcontext():
            for i in range(len(self.eval_dataset)):
                loss, _, _, renders = self.compute_loss([i], dataset=self.eval_dataset, model=self.model, keep_renders=True)
                losses.append(float(loss))
                if renders:
                    s, r = self.eval_dataset[i], renders[0]
                    rows.append(view_metrics(r.rgb, r.alpha, s.images, s.masks, view_groups(s.azimuths_deg, s.context)))
                    if i == 0 and self.is_main:
                        grid = sample_grid(r.rgb, s.images)
                        if out_dir is not None:
                            save_sample_grid(grid, Path(out_dir) / "samples" / f"step_{self.step:07d}.png")
                        if self._writer is not None:
                            self._writer.add_image("heldout/sample", grid, self.step, dataformats="HWC")
        self.model.train()
        result: dict[str, Any] = {"step": self.step, "loss": sum(losses) / len(losses)}
        for group in dict.fromkeys(g for row in rows for g in row):
            have = [row[group] for row in rows if group in row]
            # nan-safe: a group can be empty in one subject (e.g. no mask in either image)
            result[group] = {k: float(np.nanmean([h[k] for h in have])) for k in have[0]}
        self.evaluations.append(result)
        if self._writer is not None:
            self._writer.add_scalar("heldout/loss", result["loss"], self.step)
            for group, scores in result.items():
                if isinstance(scores, dict):
                    for k, v in scores.items():
                        self._writer.add_scalar(f"heldout/{group}/{k}", v, self.step)
        return result

    def heldout_scores(self) -> HeldoutScores | None:
        """The last held-out evaluation, if it is of the current step and has image scores."""
        last = self.evaluations[-1] if self.evaluations else None
        if last is None or last["step"] != self.step or "all" not in last:
            return None
        groups = {k: v for k, v in last.items() if isinstance(v, dict)}
        return HeldoutScores(
            psnr=last["all"]["psnr"], ssim=last["all"]["ssim"], iou=last["all"]["iou"],
            subjects=len(self.eval_dataset), step=self.step, by_group=groups,
        )

    # ------------------------------------------------------------------ loop
    def train(
        self,
        steps: int | None = None,
        out_dir: str | Path | None = None,
        callback: Callable[[StepLog], None] | None = None,
        progress: bool = False,
    ) -> TrainResult:
        """Run until ``steps`` optimisation steps are done in all (default ``config.steps``), calling
        ``callback`` every ``log_every`` steps; checkpoint to ``out_dir`` every ``save_every`` steps,
        evaluate the held-out samples every ``eval_every`` steps, and at the end evaluate, checkpoint
        and export (module docstring: layout). ``progress`` shows a progress bar (main process)."""
        cfg = self.config
        total = int(steps if steps is not None else cfg.steps)
        out = Path(out_dir) if out_dir is not None else None
        if out is not None and self.is_main and self._writer is None:
            self._writer = _tensorboard_writer(out / "logs")
        bar = None
        if progress and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=self.step, desc=f"train {cfg.name}", unit="step")
        start = time.perf_counter()
        while self.step < total:
            log = self.train_step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{log.loss:.4f}", psnr=f"{log.psnr:.2f}")
            if self._writer is not None:
                self._writer.add_scalar("train/loss", log.loss, log.step)
                self._writer.add_scalar("train/psnr", log.psnr, log.step)
                self._writer.add_scalar("train/lr", log.lr, log.step)
                self._writer.add_scalar("train/grad_norm", log.grad_norm, log.step)
            if callback is not None and (log.step % cfg.log_every == 0 or log.step == total):
                callback(log)
            if cfg.eval_every and log.step % cfg.eval_every == 0 and log.step < total and self.is_main:
                self.evaluate_heldout(out)
            if out is not None and cfg.save_every and log.step % cfg.save_every == 0 and log.step < total:
                self.save_checkpoint(out)
        seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
        if self.is_main and (not self.evaluations or self.evaluations[-1]["step"] != self.step):
            self.evaluate_heldout(out)
        if out is not None:
            self.save_checkpoint(out)
            self.export(out)
        if self._writer is not None:
            self._writer.flush()
        return TrainResult(
            history=list(self.history), steps=self.step, seconds=seconds, out_dir=out, notes=list(self.notes),
            evaluations=list(self.evaluations), heldout=self.heldout_scores(),
        )

    # ------------------------------------------------------------------ checkpoints
    def provenance(self) -> Provenance:
        """What the current weights were trained on (:class:`~humansplat.network.provenance.Provenance`)."""
        sample = self.dataset[0]
        subjects = getattr(self.dataset, "subjects", None)
        return Provenance(
            vae=self.vae_record,
            image_size=self.config.image_size,
            latent_size=self.config.image_size // self.vae_scale_factor,
            num_views=len(sample.context),
            body_model=getattr(self.dataset, "body_model", "unknown"),
            body_vertices=len(sample.vertices),
            data=self.describe_data(),
            num_subjects=len(subjects) if subjects is not None else len(self.dataset),
            steps=self.step,
            config=self.config.name,
            smoke=bool(self.config.smoke or self.config.vae == "tiny"),
            heldout=self.heldout_scores(),
        )

    def training_note(self) -> str:
        """One line for the checkpoint's config (shown by ``weights_status``)."""
        last = self.history[-1].loss if self.history else float("nan")
        return f"humansplat.train config {self.config.name!r}: {self.step} steps; final loss {last:.4g}"

    def save_checkpoint(self, out_dir: str | Path) -> Path | None:
        """Write ``OUT/checkpoints/step_N.pt`` (everything :meth:`load_state` needs to continue
        exactly); keeps the newest ``keep_checkpoints``. Main process only; every process waits."""
        self.accelerator.wait_for_everyone()
        path = Path(out_dir) / "checkpoints" / f"step_{self.step:07d}.pt"
        if self.is_main:
            path.parent.mkdir(parents=True, exist_ok=True)
            scaler = getattr(self.accelerator, "scaler", None)
            state = {
                "step": self.step,
                "config": asdict(self.config),
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": {"perm": list(self._perm)},  # all other randomness is a function of (seed, step)
                "history": [asdict(h) for h in self.history],
                "evaluations": self.evaluations,
            }
            tmp = path.with_suffix(".tmp")
            torch.save(state, tmp)
            tmp.replace(path)  # never a half-written checkpoint
            for old in sorted(path.parent.glob("step_*.pt"))[: -self.config.keep_checkpoints]:
                old.unlink()
        self.accelerator.wait_for_everyone()
        return path

    def load_state(self, where: str | Path) -> Path:
        """Resume from a checkpoint file or the newest one in ``where/checkpoints`` (or ``where``):
        weights, EMA, optimiser, schedule, loss scaler, sample stream and history. Returns the file."""
        where = Path(where)
        if where.is_file():
            path = where
        else:
            found = sorted((where / "checkpoints").glob("step_*.pt")) or sorted(where.glob("step_*.pt"))
            if not found:
                raise FileNotFoundError(f"{where} holds no checkpoint to resume (checkpoints/step_*.pt)")
            path = found[-1]
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            if state["ema"] is None:
                raise ValueError(f"{path} has no EMA state but this run has ema_decay={self.config.ema_decay}")
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        epoch, perm = state["rng"]["perm"]
        self._perm = (int(epoch), list(perm))
        self.step = int(state["step"])
        self.history = [StepLog(**h) for h in state["history"]]
        self.evaluations = list(state.get("evaluations", []))
        return path

    def export(self, out_dir: str | Path) -> Path | None:
        """``save_pretrained`` of the (EMA) weights into ``OUT/reconstructor`` (``OUT/unet`` for the
        synthesizer) with the provenance in its config, plus ``OUT/training.json``; pushes to
        ``config.push_to_hub`` when set. Main process only."""
        if not self.is_main:
            self.accelerator.wait_for_everyone()
            return None
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        provenance = self.provenance()
        folder = out / ("unet" if self.config.target == "synthesizer" else "reconstructor")
        with self.ema.applied(self.model) if self.ema is not None else nullcontext():
            if self.config.target == "reconstructor":
                self.model.mark_trained(self.training_note(), provenance)
            self.model.save_pretrained(folder)
            if self.config.push_to_hub:
                self.model.push_to_hub(self.config.push_to_hub, commit_message=self.training_note())
        info = {
            "trained": provenance.is_trained and self.config.target == "reconstructor",
            "target": self.config.target,
            "steps": self.step,
            "data": self.describe_data(),
            "provenance": provenance.to_dict(),
            "final_loss": self.history[-1].loss if self.history else None,
            "final_psnr": self.history[-1].psnr if self.history else None,
            "config": asdict(self.config),
            "device": str(self.device),
            "processes": self.accelerator.num_processes,
            "notes": self.notes,
            "evaluations": self.evaluations,
            "history": [asdict(h) for h in self.history],
        }
        (out / "training.json").write_text(json.dumps(info, indent=1))
        self.accelerator.wait_for_everyone()
        return out

    def save(self, out_dir: str | Path) -> Path:
        """Checkpoint and export (what :meth:`train` does at its end); returns ``out_dir``."""
        self.save_checkpoint(out_dir)
        self.export(out_dir)
        return Path(out_dir)
