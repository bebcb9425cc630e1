"""``python -m humansplat.train --config NAME --out RUN``: train the reconstructor (or fine-tune SV3D).

Multi-GPU / multi-process: ``accelerate launch [--num_processes N] -m humansplat.train --config NAME
--out RUN`` (on CPUs: ``accelerate launch --num_processes 2 --cpu -m humansplat.train ...``).

``--config`` takes a preset (tiny, small, base), a configuration shipped in
``humansplat/train/configs/`` (cpu_smoke, one_gpu, paper_256, paper_512, synthesizer_tiny,
synthesizer) or a YAML path; the other options override its fields. Writes RUN/reconstructor (or
RUN/unet), RUN/training.json, RUN/checkpoints/, RUN/samples/, RUN/logs/ (see
:mod:`humansplat.train.trainer`); ``HUMANSPLAT_WEIGHTS=RUN`` lets the pipeline find the reconstructor.
``--resume`` continues from the newest checkpoint in RUN (or a given checkpoint file) exactly.
Exit status: 0 done, 2 usage error (bad option, configuration or data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OVERRIDES = (
    "steps",
    "data",
    "eval_data",
    "num_samples",
    "eval_samples",
    "eval_every",
    "image_size",
    "batch_size",
    "grad_accum",
    "lr",
    "warmup_steps",
    "ema_decay",
    "vae",
    "init_from",
    "mixed_precision",
    "gradient_checkpointing",
    "hierarchical_weight",
    "latent_noise",
    "seed",
    "log_every",
    "save_every",
    "push_to_hub",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m humansplat.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="tiny", help="preset, shipped configuration name or YAML path (default: tiny)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--steps", type=int, help="optimisation steps in all (default: the configuration's)")
    p.add_argument("--data", help="'synthetic' or a FolderDataset root (docs/data.md)")
    p.add_argument("--eval-data", dest="eval_data", help="'synthetic' or a folder of held-out subjects")
    p.add_argument("--samples", type=int, dest="num_samples", help="synthetic people")
    p.add_argument("--eval-samples", type=int, dest="eval_samples", help="held-out samples (0 = none)")
    p.add_argument("--eval-every", type=int, dest="eval_every", help="evaluate held-out subjects every N steps")
    p.add_argument("--image-size", type=int, dest="image_size", help="views are S x S pixels")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="per process and micro-step")
    p.add_argument("--grad-accum", type=int, dest="grad_accum", help="micro-steps per optimisation step")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--warmup-steps", type=int, dest="warmup_steps")
    p.add_argument("--ema-decay", type=float, dest="ema_decay", help="EMA of the weights (0 = off)")
    p.add_argument("--vae", help="'tiny', 'hub' or a folder with an AutoencoderKL")
    p.add_argument("--init-from", dest="init_from", help="start from a save_pretrained folder (e.g. RUN256/reconstructor)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), dest="mixed_precision", help="CUDA only")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None, dest="gradient_checkpointing")
    p.add_argument("--hierarchical-weight", type=float, dest="hierarchical_weight", help="λ_h (0 = no part loss)")
    p.add_argument("--latent-noise", type=float, dest="latent_noise", help="std of noise on generated-view latents")
    p.add_argument("--lpips", choices=("none", "vgg", "alex"), default="none", help="perceptual term (needs lpips)")
    p.add_argument("--seed", type=int)
    p.add_argument("--log-every", type=int, dest="log_every")
    p.add_argument("--save-every", type=int, dest="save_every")
    p.add_argument("--push-to-hub", dest="push_to_hub", metavar="OWNER/NAME", help="upload the export at the end")
    p.add_argument("--device", help="default: accelerate's (CUDA when available, else the CPU)")
    p.add_argument(
        "--resume", nargs="?", const="latest", help="continue from the newest checkpoint in --out, or from this file"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import WeightsUnavailableError
    from ..objectives import make_lpips
    from .trainer import TrainConfig, Trainer

    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    try:
        config = TrainConfig.load(args.config, **overrides)
        lpips_fn = make_lpips(args.lpips, args.device) if args.lpips != "none" else None
        trainer = Trainer(config, lpips_fn=lpips_fn, device=args.device)
        if args.resume:
            resumed = trainer.load_state(args.out if args.resume == "latest" else args.resume)
            if trainer.is_main:
                print(f"resumed from {resumed} at step {trainer.step}", flush=True)
    except (ValueError, TypeError, FileNotFoundError, ImportError, WeightsUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say = print if trainer.is_main else (lambda *a, **k: None)
    procs = trainer.accelerator.num_processes
    say(f"training {config.name!r} ({config.target}) on {trainer.device} x {procs}: {trainer.describe_data()}", flush=True)
    for note in trainer.notes:
        say(f"note: {note}", flush=True)
    from tqdm.auto import tqdm

    def log_line(log) -> None:  # above the progress bar, main process only
        if trainer.is_main:
            tqdm.write(log.line(config.steps))

    result = trainer.train(out_dir=args.out, callback=log_line, progress=not args.no_progress)
    what = "unet" if config.target == "synthesizer" else "reconstructor"
    if result.heldout is not None:
        h = result.heldout
        say(f"held-out: PSNR {h.psnr:.2f} dB, SSIM {h.ssim:.3f}, mask IoU {h.iou:.3f} on {h.subjects} samples", flush=True)
    say(
        f"done: {result.steps} steps in {result.seconds:.1f} s; saved {args.out / what}"
        + (f". Use it with HUMANSPLAT_WEIGHTS={args.out}" if what == "reconstructor" else ""),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
