"""Training of the latent reconstruction transformer: losses, data and the training loop.

* :mod:`.losses`: :func:`reconstruction_loss`, :func:`part_masks`, :func:`hierarchical_loss`,
  :func:`training_loss` (the paper's L_rec and its semantics-guided hierarchical loss).
* :mod:`.data`: :class:`MultiViewSample`, :class:`SyntheticPeople` (synthetic anny people),
  :class:`FolderDataset` (renders of scans with a cameras.json), :func:`save_sample`.
* :mod:`.trainer`: :class:`TrainConfig` (presets ``tiny``/``small``/``base``, YAML files in
  ``configs/``: :meth:`TrainConfig.load`), :class:`Trainer` (accelerate, AdamW, warm-up + cosine,
  accumulation, EMA, exact-resume checkpoints, held-out evaluation, export with provenance).
* :mod:`.ema`: :class:`EMA`; :mod:`.evaluation`: :func:`view_metrics` (held-out scores by view group);
  :mod:`.synthesizer`: SV3D's EDM denoising loss (``target="synthesizer"``) and SV3D latents.
* ``[accelerate launch] python -m humansplat.train --config cpu_smoke --out runs/smoke``: the
  command line (docs/training.md).

Importing this package imports torch, not diffusers (the trainer loads networks when built).
"""

from __future__ import annotations

from ..objectives import (
    HierarchicalTerms,
    LossTerms,
    TrainingTerms,
    hierarchical_loss,
    part_masks,
    reconstruction_loss,
    training_loss,
)
from .data import FolderDataset, MultiViewSample, SyntheticPeople, save_sample
from .ema import EMA
from .evaluation import view_metrics
from .trainer import TRAIN_PRESETS, StepLog, TrainConfig, Trainer, TrainResult

__all__ = [
    "EMA",
    "TRAIN_PRESETS",
    "FolderDataset",
    "HierarchicalTerms",
    "LossTerms",
    "MultiViewSample",
    "StepLog",
    "SyntheticPeople",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingTerms",
    "hierarchical_loss",
    "part_masks",
    "reconstruction_loss",
    "save_sample",
    "training_loss",
    "view_metrics",
]
