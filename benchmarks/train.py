"""Benchmark training of the reconstruction transformer: data, one optimisation step, and how far a
short run gets.

For each preset: seconds to make one synthetic sample (anny body + views + part masks), the best and
median wall-clock time of an optimisation step (forward, render of every view, L_rec + L_hier,
backward, AdamW) after a warm-up, and the loss/PSNR on the training samples before and after
``--steps`` steps. Timings on a shared machine are noisy (best and median are given).

    python benchmarks/train.py [--presets tiny small] [--steps 20] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from humansplat.train.trainer import TrainConfig, Trainer


def bench(preset: str, steps: int, samples: int) -> dict:
    config = TrainConfig.preset(preset, steps=steps, num_samples=samples, warmup_steps=min(2, steps))
    trainer = Trainer(config)
    start = time.perf_counter()
    trainer.dataset[0]
    sample_s = time.perf_counter() - start
    for i in range(1, len(trainer.dataset)):
        trainer.dataset[i]
    before = trainer.evaluate()
    times = [trainer.train_step().seconds for _ in range(steps)]
    after = trainer.evaluate()
    s = trainer.dataset[0]
    return {
        "preset": preset,
        "image_size": config.image_size,
        "views": s.num_views,
        "context_views": len(s.context),
        "gaussians": len(s.context)
        * (config.image_size // trainer.vae_scale_factor * trainer.model.config.gaussian_upsample) ** 2,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "sample_s": sample_s,
        "step_best_s": min(times[1:] or times),
        "step_median_s": statistics.median(times[1:] or times),
        "steps": steps,
        "loss_before": before["loss"],
        "loss_after": after["loss"],
        "psnr_before": before["psnr"],
        "psnr_after": after["psnr"],
        "device": str(trainer.device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [bench(p, args.steps, args.samples) for p in args.presets]
    print(
        f"{'preset':<7} {'px':>4} {'views':>5} {'gauss':>6} {'params':>8} {'sample s':>8} {'step best':>9} {'median':>7}  loss before -> after   PSNR dB"
    )
    for r in rows:
        print(
            f"{r['preset']:<7} {r['image_size']:>4} {r['views']:>5} {r['gaussians']:>6} {r['parameters']:>8} {r['sample_s']:>8.2f} "
            f"{r['step_best_s']:>9.3f} {r['step_median_s']:>7.3f}  {r['loss_before']:.4f} -> {r['loss_after']:.4f}   "
            f"{r['psnr_before']:.2f} -> {r['psnr_after']:.2f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
