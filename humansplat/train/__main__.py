"""``python -m humansplat.train --config tiny --steps 20 --out runs/tiny``: train the reconstructor.

Writes OUT/reconstructor (a checkpoint marked trained), OUT/training.json and OUT/trainer_state.pt;
``HUMANSPLAT_WEIGHTS=OUT`` then lets :class:`~humansplat.network.pipeline_humansplat.HumanSplatPipeline`
find the reconstructor. ``--resume`` continues from OUT.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from .trainer import TRAIN_PRESETS

    p = argparse.ArgumentParser(prog="python -m humansplat.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="tiny", choices=sorted(TRAIN_PRESETS), help="training preset (default: tiny)")
    p.add_argument("--steps", type=int, help="optimisation steps in all (default: the preset's)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--data", help="'synthetic' or a FolderDataset root (see humansplat.train.data.FolderDataset)")
    p.add_argument("--samples", type=int, dest="num_samples", help="synthetic people")
    p.add_argument("--image-size", type=int, dest="image_size", help="views are S x S pixels")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--warmup-steps", type=int, dest="warmup_steps")
    p.add_argument("--vae", help="'tiny', 'hub' or a folder with an AutoencoderKL")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), dest="mixed_precision", help="CUDA only")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None, dest="gradient_checkpointing")
    p.add_argument("--hierarchical-weight", type=float, dest="hierarchical_weight", help="λ_h (0 = no part loss)")
    p.add_argument("--lpips", choices=("none", "vgg", "alex"), default="none", help="perceptual term (needs lpips)")
    p.add_argument("--seed", type=int)
    p.add_argument("--log-every", type=int, dest="log_every")
    p.add_argument("--save-every", type=int, dest="save_every")
    p.add_argument("--device", help="default: cuda when available, else cpu")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import WeightsUnavailableError
    from .losses import make_lpips
    from .trainer import TrainConfig, Trainer

    fields = (
        "steps",
        "data",
        "num_samples",
        "image_size",
        "batch_size",
        "lr",
        "warmup_steps",
        "vae",
        "mixed_precision",
        "gradient_checkpointing",
        "hierarchical_weight",
        "seed",
        "log_every",
        "save_every",
    )
    overrides = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
    try:
        config = TrainConfig.preset(args.config, **overrides)
        lpips_fn = make_lpips(args.lpips, args.device) if args.lpips != "none" else None
        trainer = Trainer(config, lpips_fn=lpips_fn, device=args.device)
        if args.resume:
            trainer.load_state(args.out)
    except (ValueError, FileNotFoundError, ImportError, WeightsUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"training {config.name!r} on {trainer.device}: {trainer.describe_data()}", flush=True)
    for note in trainer.notes:
        print(f"note: {note}", flush=True)
    result = trainer.train(out_dir=args.out, callback=lambda log: print(log.line(config.steps), flush=True))
    print(
        f"done: {result.steps} steps in {result.seconds:.1f} s; saved {result.out_dir / 'reconstructor'} (config.json: trained=true). "
        f"Use it with HUMANSPLAT_WEIGHTS={result.out_dir}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
