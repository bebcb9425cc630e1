"""Benchmark training: samples per second and peak memory per optimisation step, and a short run's
held-out PSNR curve.

Part 1, throughput: for each configuration and option set (gradient checkpointing on/off,
``torch.compile`` of the static blocks on/off, bf16 on CUDA), the best and median wall-clock time
of an optimisation step (teacher latents cached, forward, render of every view, L_rec + L_hier,
backward, AdamW, EMA) after warm-up steps, as samples per second, and the peak memory of a step
(CUDA: ``max_memory_allocated`` over the timed steps; CPU: the resident set's peak above its level
before the first step, sampled every 2 ms: activations, gradients and optimiser state, not the
weights or data; the allocator keeps freed memory, so later steps show less).

* ``tiny``: the tiny preset (32 px, random tiny VAE).
* ``base``: the paper's base transformer (~115 M parameters). Offline there is no Stable Diffusion
  VAE, so the random tiny VAE (4x downsampling) stands in at 128 px: 5 views x 16 x 16 tokens, the
  token count of 256 px with the real 8x VAE (the paper's first stage); rendering and losses run at
  128 px instead of 256.

Part 2, ``--run-steps N`` (default 300): the tiny configuration on ``--people`` synthetic people,
evaluated every ``--eval-every`` steps on 2 held-out people; the held-out PSNR curve is saved as a PNG
(``--curve``, default docs/images/train_heldout_psnr.png).

    python benchmarks/train.py [--configs tiny base] [--steps 6] [--run-steps 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import torch

from humansplat.train.trainer import TrainConfig, Trainer

CONFIGS = {
    "tiny": dict(),
    "base": dict(model_preset="base", vae="tiny", image_size=128, batch_size=1, extra_views=2, lr=4e-4),
}


class _RssPeak:
    """Peak resident memory above the level at entry, sampled every 2 ms in a thread (CPU runs)."""

    def __enter__(self) -> _RssPeak:
        import psutil

        self._proc, self._stop = psutil.Process(), threading.Event()
        self.base = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def bench(name: str, steps: int, checkpointing: bool, compiled: bool, precision: str, device: str | None) -> dict:
    overrides = dict(CONFIGS[name], steps=steps + 2, warmup_steps=1, eval_samples=0, ema_decay=0.999)
    config = TrainConfig.preset("tiny", **overrides, gradient_checkpointing=checkpointing, mixed_precision=precision)
    trainer = Trainer(config, device=device)
    if compiled:
        trainer.model.compile_blocks()
    for i in range(len(trainer.dataset)):
        trainer.dataset[i]
    cuda = trainer.device.type == "cuda"
    with _RssPeak() as first:  # warm-up: latents cached, kernels compiled, optimiser state made
        trainer.train_step()
    trainer.train_step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    with _RssPeak() as rss:
        for _ in range(steps):
            start = time.perf_counter()
            trainer.train_step()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else max(first.mb, rss.mb)
    per_step = config.batch_size * config.grad_accum
    return {
        "config": name,
        "device": str(trainer.device),
        "image_size": config.image_size,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "checkpointing": checkpointing,
        "compiled": compiled,
        "precision": precision if cuda else "fp32",
        "step_best_s": min(times),
        "step_median_s": statistics.median(times),
        "samples_per_s": per_step / statistics.median(times),
        "peak_mb": peak,
        "peak_kind": "CUDA allocated" if cuda else "CPU RSS growth from the first step",
    }


def short_run(steps: int, people: int, eval_every: int, curve: Path, out: Path | None) -> dict:
    config = TrainConfig.preset(
        "tiny", steps=steps, num_samples=people, eval_samples=2, eval_every=eval_every, warmup_steps=20, ema_decay=0.9
    )
    trainer = Trainer(config)
    trainer.evaluate_heldout()
    start = time.perf_counter()
    result = trainer.train(out_dir=out)
    seconds = time.perf_counter() - start
    xs = [e["step"] for e in result.evaluations]
    ys = [e["all"]["psnr"] for e in result.evaluations]
    novel = [e["novel"]["psnr"] for e in result.evaluations]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(xs, ys, marker="o", label="held-out, all views")
    ax.plot(xs, novel, marker=".", label="held-out, novel views")
    ax.plot([h.step for h in result.history], [h.psnr for h in result.history], alpha=0.35, label="training batch")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"tiny config, {people} synthetic people, 2 held out")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    curve.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(curve)
    return {
        "steps": steps,
        "people": people,
        "seconds": seconds,
        "heldout_steps": xs,
        "heldout_psnr": ys,
        "heldout_novel_psnr": novel,
        "heldout_final": result.evaluations[-1],
        "loss_first": result.history[0].loss,
        "loss_last": result.history[-1].loss,
        "curve": str(curve),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "base"], choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=6, help="timed steps per row")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument(
        "--checkpointing", choices=("both", "on", "off"), default="both",
        help="gradient checkpointing rows (one per process gives clean CPU memory numbers)",
    )
    parser.add_argument("--run-steps", type=int, default=300, help="steps of the short run (0 = skip)")
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--curve", type=Path, default=Path("docs/images/train_heldout_psnr.png"))
    parser.add_argument("--out", type=Path, default=None, help="keep the short run's output folder here")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and args.device != "cpu"
    rows = []
    for name in args.configs:
        for precision in ("bf16", "no") if cuda else ("no",):
            for checkpointing in {"both": (False, True), "on": (True,), "off": (False,)}[args.checkpointing]:
                for compiled in (False,) if args.no_compile else (False, True):
                    rows.append(bench(name, args.steps, checkpointing, compiled, precision, args.device))
                    r = rows[-1]
                    print(
                        f"{r['config']:<5} {r['device']:<6} {r['image_size']:>4}px {r['parameters'] / 1e6:7.2f}M "
                        f"ckpt={str(checkpointing):<5} compile={str(compiled):<5} {r['precision']:<4} "
                        f"step {r['step_best_s']:.3f}/{r['step_median_s']:.3f} s  {r['samples_per_s']:.2f} samples/s  "
                        f"peak {r['peak_mb']:.0f} MB ({r['peak_kind']})",
                        flush=True,
                    )
    report = {"throughput": rows}
    if args.run_steps:
        run = short_run(args.run_steps, args.people, args.eval_every, args.curve, args.out)
        report["short_run"] = run
        print(
            f"short run: {run['steps']} steps on {run['people']} people in {run['seconds']:.0f} s; loss "
            f"{run['loss_first']:.4f} -> {run['loss_last']:.4f}; held-out PSNR "
            + " ".join(f"{s}:{p:.2f}" for s, p in zip(run["heldout_steps"], run["heldout_psnr"]))
            + f"; curve {run['curve']}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
