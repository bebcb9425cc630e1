"""Benchmark HumanSplat's network: window vs dense inter-attention, the reconstruction transformer,
and the whole pipeline (SV3D at 576 x 576 + reconstruction), time and peak memory per stage.

Random weights throughout (no trained reconstruction weights exist; timings do not depend on them).

Sections (``--sections``, default all):

* ``attention``: projection-aware window attention vs the dense masked reference as the token
  count grows (5 views, latent side 16..128 -> 320..20,480 query tokens, prior tokens = 0.8 x
  queries spread over a human-sized body seen by the input camera and a 4-view orbit; 12 heads x
  64, K_win = 3). Dense cost is O(queries x prior tokens), window cost O(queries x window).
* ``transformer``: :class:`LatentReconstructionTransformer` forward at 256 and 512 px (latent 32
  and 64; 5 views), presets ``small``/``base``, fp32 vs fp16 vs bf16, SDPA vs xformers, eager vs
  ``torch.compile`` (CUDA columns print "pending (no GPU)" on a CPU-only machine).
* ``pipeline``: :class:`HumanSplatPipeline` with full-size SV3D components (576 x 576, 12-frame
  orbit, 4 views + the photo to the ``base`` reconstructor): synthesize / decode / reconstruct
  seconds and the call's peak memory, fp32 / fp16 / bf16 (CUDA only).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above what was allocated before the
measured call; on the CPU the growth of the peak resident set size of a fresh worker process
(coarser: includes allocator slack). Times are the best of ``--repeats`` runs after a warm-up
(on a shared machine the least disturbed one; still noisy).

    python benchmarks/network.py                          # CPU: the columns that fit in minutes
    python benchmarks/network.py --device cuda            # everything, on a GPU
    python benchmarks/network.py --sections attention --sides 16 32 64 --json attention.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, field
from collections.abc import Callable
from typing import Any

import torch

PENDING = "pending (no GPU)"
VIEWS = 5  # the photo + 4 generated views


@dataclass
class Row:
    section: str
    config: dict[str, Any]
    seconds: float | None = None
    peak_mib: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(fn: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Fastest of ``repeats`` runs after a warm-up (on a shared machine the least disturbed one)."""
    fn()  # warm-up (kernels, caches, compilation)
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def _cuda_peak_mib(fn: Callable[[], Any], device: torch.device) -> float:
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def _rss_peak_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _cpu_job(build: Callable[..., Callable[[], Any]], build_args: tuple, repeats: int, threads: int) -> tuple[float, float]:
    """Worker process: (best seconds, peak MiB above the inputs) of ``build(*build_args, cpu)()``."""
    torch.set_num_threads(threads)
    device = torch.device("cpu")
    call = build(*build_args, device)
    before = _rss_peak_kib()
    seconds = _best_time(call, repeats, device)
    return seconds, (_rss_peak_kib() - before) / 1024


def _measure(build: Callable[..., Callable[[], Any]], build_args: tuple, device: torch.device, args) -> tuple[float, float]:
    """(seconds, peak MiB) of the call ``build(*build_args, device)`` returns; on the CPU in a fresh
    process (so the resident-set peak is its own). Raises ``torch.cuda.OutOfMemoryError``."""
    if device.type == "cpu":
        with mp.get_context("spawn").Pool(1) as pool:
            return pool.apply(_cpu_job, (build, build_args, args.repeats, args.threads))
    try:
        call = build(*build_args, device)
        return _best_time(call, args.repeats, device), _cuda_peak_mib(call, device)
    finally:
        torch.cuda.empty_cache()


def _human_points(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points in a human-sized box (0.5 x 1.7 x 0.3 m) 2.5 m in front of the input camera."""
    return (torch.rand(n, 3, generator=generator) - 0.5) * torch.tensor([0.5, 1.7, 0.3]) + torch.tensor([0.0, 0.0, 2.5])


def _view_cameras(size: int):
    from humansplat.cameras import Cameras

    inp = Cameras.from_fov(39.6, size, size)
    orbit = Cameras.orbit((0.0, 0.0, 2.5), 2.5, [0.0, 90.0, 180.0, 270.0], fov_y_deg=39.6, width=size, height=size)
    return Cameras.cat([inp, orbit])


# ---------------------------------------------------------------------------------------- attention
def _attention_inputs(side: int, heads: int, head_dim: int, device: torch.device, dtype: torch.dtype, seed: int = 0):
    from humansplat.network.attention import points_to_cells

    g = torch.Generator().manual_seed(seed)
    hp = side // 2  # patch 2
    queries = VIEWS * hp * hp
    keys = int(0.8 * queries)
    pts = _human_points(keys, g)
    uv, z = _view_cameras(hp).project(pts)
    cells, valid = points_to_cells(uv, z)
    q = torch.randn(1, VIEWS, hp, hp, heads, head_dim, generator=g).to(device, dtype)
    k = torch.randn(1, keys, heads, head_dim, generator=g).to(device, dtype)
    v = torch.randn(1, keys, heads, head_dim, generator=g).to(device, dtype)
    return q, k, v, cells[None].to(device), valid[None].to(device), queries, keys


def _attention_build(impl: str, side: int, heads: int, head_dim: int, dtype: torch.dtype, backward: bool,
                     device: torch.device) -> Callable[[], Any]:
    from humansplat.network.attention import _dense_window_attention, window_attention

    fn = window_attention if impl == "window" else _dense_window_attention
    q, k, v, cells, valid, _, _ = _attention_inputs(side, heads, head_dim, device, dtype)

    def run():
        if backward:
            qq, kk, vv = (t.detach().requires_grad_(True) for t in (q, k, v))
            fn(qq, kk, vv, cells, valid, 1).float().square().sum().backward()
        else:
            with torch.no_grad():
                fn(q, k, v, cells, valid, 1)

    return run


def _window_work(side: int) -> dict[str, int]:
    """Exact work counts of the window attention at one size (independent of timing noise)."""
    from humansplat.network.attention import window_attention

    q, k, v, cells, valid, _, _ = _attention_inputs(side, 1, 1, torch.device("cpu"), torch.float32)
    stats: dict[str, int] = {}
    window_attention(q, k, v, cells, valid, 1, stats=stats)
    return stats


def bench_attention(args, device: torch.device) -> list[Row]:
    rows = []
    heads, head_dim = 12, 64
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    for side in args.sides:
        hp = side // 2
        queries = VIEWS * hp * hp
        keys = int(0.8 * queries)
        for impl in ("window", "dense"):
            config = dict(impl=impl, latent_side=side, queries=queries, prior_tokens=keys, dtype=str(dtype)[6:],
                          backward=args.backward)
            # the dense reference materialises (Q, K) scores per head on the CPU; skip what cannot fit
            dense_gib = queries * keys * (heads * 4 + 1) / 2**30 * (3 if args.backward else 1)
            if impl == "dense" and device.type == "cpu" and dense_gib > args.dense_max_gib:
                rows.append(Row("attention", config, note=f"skipped: ~{dense_gib:.0f} GiB of scores (--dense-max-gib)",
                                extra={"scored_pairs": queries * keys, "gathered_keys": keys}))
                continue
            work = _window_work(side) if impl == "window" else {"pairs": queries * keys, "slots": keys}
            work = {"scored_pairs": work["pairs"], "gathered_keys": work["slots"]}
            try:
                seconds, peak = _measure(_attention_build, (impl, side, heads, head_dim, dtype, args.backward), device, args)
            except torch.cuda.OutOfMemoryError:
                rows.append(Row("attention", config, note="out of memory", extra=work))
                continue
            rows.append(Row("attention", config, seconds, peak, extra=work))
            print(_format_row(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------------------- transformer
def _transformer_inputs(size: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, VIEWS, 4, size // 8, size // 8, generator=g)
    verts = _human_points(6890, g)[None]  # an SMPL-sized vertex count; the model keeps max_prior_tokens
    parts = torch.randint(0, 7, (1, 6890), generator=g)
    return latents.to(device), _view_cameras(size).to(device), verts.to(device), parts.to(device)


def _transformer_build(preset: str, size: int, dtype: torch.dtype, backend: str, compiled: bool,
                       device: torch.device) -> Callable[[], Any]:
    from diffusers.utils import logging as diffusers_logging

    from humansplat.network.transformer import LatentReconstructionTransformer

    diffusers_logging.set_verbosity_error()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LatentReconstructionTransformer.from_preset(preset, attention_backend=backend)
    model = model.to(device=device, dtype=dtype).eval()
    if compiled:
        model.compile_blocks()
    latents, cams, verts, parts = _transformer_inputs(size, device)

    def run():
        with torch.no_grad():
            return model(latents.to(dtype), cams, verts, parts)

    return run


def bench_transformer(args, device: torch.device) -> list[Row]:
    from humansplat.network.attention import xformers_available

    rows = []
    backends = ["sdpa"] + (["xformers"] if xformers_available() else [])
    for preset in args.presets:
        for size in (256, 512):
            for dtype in (torch.float32, torch.float16, torch.bfloat16):
                for backend in ("sdpa", "xformers"):
                    for compiled in (False, True):
                        config = dict(preset=preset, size=size, dtype=str(dtype)[6:], attention=backend, compile=compiled)
                        if device.type == "cpu":
                            cpu_ok = (dtype == torch.float32 and backend == "sdpa" and not compiled
                                      and f"{preset}@{size}" in args.cpu_transformer)
                            if not cpu_ok:
                                rows.append(Row("transformer", config, note=PENDING))
                                continue
                        elif backend not in backends:
                            rows.append(Row("transformer", config, note="xformers not importable"))
                            continue
                        try:
                            seconds, peak = _measure(_transformer_build, (preset, size, dtype, backend, compiled), device, args)
                        except torch.cuda.OutOfMemoryError:
                            rows.append(Row("transformer", config, note="out of memory"))
                            continue
                        rows.append(Row("transformer", config, seconds, peak))
                        print(_format_row(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------------------- pipeline
def _synthetic_body_fit(size: int):
    """A hand-made BodyFit: 10,000 vertices in a human-sized box, a grey square crop ``size`` px."""
    import numpy as np

    from humansplat.cameras import Cameras
    from humansplat.prior.body_fit import BodyFit
    from humansplat.prior.landmarks import Landmarks
    from humansplat.prior.person import PersonCrop

    g = torch.Generator().manual_seed(0)
    camera = Cameras.from_fov(39.6, size, size)
    verts = _human_points(10_000, g)
    crop = PersonCrop(
        rgb=np.full((size, size, 3), 128, np.uint8),
        mask=np.ones((size, size), np.float32),
        camera=camera,
        landmarks=Landmarks(body=np.zeros((33, 2), np.float32), body_confidence=np.zeros(33, np.float32)),
    )
    return BodyFit(
        backend="synthetic", pose=torch.zeros(0), shape={}, vertices=verts, faces=torch.zeros(0, 3, dtype=torch.long),
        parts=torch.randint(0, 7, (10_000,), generator=g), joints=torch.zeros(0, 3), camera=camera, crop=crop,
    )


def _pipeline_row(dtype: torch.dtype, args, device: torch.device, config: dict[str, Any]) -> Row:
    """One full-pipeline measurement (CUDA): stage seconds (best of ``--repeats``) and the call's peak."""
    from humansplat.multiview.configs import full_size_sv3d_components
    from humansplat.network.pipeline_humansplat import HumanSplatPipeline
    from humansplat.network.transformer import LatentReconstructionTransformer

    components = full_size_sv3d_components(dtype=dtype, device=device)  # random weights: timing only
    with torch.device(device):
        reconstructor = LatentReconstructionTransformer.base().to(dtype=dtype).eval()
    pipe = HumanSplatPipeline(reconstructor=reconstructor, **components)
    pipe.set_progress_bar_config(disable=True)
    fit = _synthetic_body_fit(576)

    def run():
        return pipe(fit, generator=torch.Generator(device).manual_seed(0), num_inference_steps=args.steps,
                    num_frames=args.frames, height=576, width=576, allow_untrained=True)

    run()  # warm-up
    torch.cuda.synchronize(device)
    stage_times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        out = run()
        torch.cuda.synchronize(device)
        for k, v in out.timings.items():
            stage_times.setdefault(k, []).append(v)
    stages = {k: min(v) for k, v in stage_times.items()}
    peak = _cuda_peak_mib(run, device)
    extra = {k: round(v, 3) for k, v in stages.items()} | {"gaussians": len(out.gaussians)}
    return Row("pipeline", config, sum(stages.values()), peak, extra=extra)


def bench_pipeline(args, device: torch.device) -> list[Row]:
    rows = []
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        config = {"size": 576, "frames": args.frames, "steps": args.steps, "dtype": str(dtype)[6:], "reconstructor": "base"}
        if device.type != "cuda":
            rows.append(Row("pipeline", config, note=PENDING))
            continue
        try:
            rows.append(_pipeline_row(dtype, args, device, config))
        except torch.cuda.OutOfMemoryError:
            rows.append(Row("pipeline", config, note="out of memory"))
        torch.cuda.empty_cache()
        print(_format_row(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------------------- output
def _format_row(row: Row) -> str:
    cfg = ", ".join(f"{k}={v}" for k, v in row.config.items())
    if row.seconds is None:
        return f"[{row.section}] {cfg}: {row.note}"
    extra = (" " + json.dumps(row.extra)) if row.extra else ""
    return f"[{row.section}] {cfg}: {row.seconds * 1000:.1f} ms, peak {row.peak_mib:.0f} MiB{extra}"


def _table(rows: list[Row]) -> str:
    if not rows:
        return ""
    keys = list(rows[0].config)
    extra_keys = sorted({k for r in rows for k in r.extra})
    head = keys + ["time (ms)", "peak (MiB)"] + extra_keys + ["note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r.config.get(k, "")) for k in keys]
        cells += [f"{r.seconds * 1000:.1f}" if r.seconds is not None else "", f"{r.peak_mib:.0f}" if r.peak_mib is not None else ""]
        cells += [str(r.extra.get(k, "")) for k in extra_keys] + [r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _growth(rows: list[Row]) -> str:
    """Log-log slope of work, time and memory vs queries, per implementation (1 = linear, 2 = quadratic)."""
    out = []
    for impl in ("window", "dense"):
        work = [(r.config["queries"], r.extra["scored_pairs"]) for r in rows if r.config.get("impl") == impl]
        if len(work) >= 2:
            (q0, w0), (q1, w1) = work[0], work[-1]
            out.append(f"{impl}: scored pairs ~ queries^{math.log(w1 / w0) / math.log(q1 / q0):.2f} (exact counts)")
        pts = [(r.config["queries"], r.seconds, r.peak_mib) for r in rows if r.config.get("impl") == impl and r.seconds]
        if len(pts) < 2:
            continue
        (q0, t0, m0), (q1, t1, m1) = pts[0], pts[-1]
        st = math.log(t1 / t0) / math.log(q1 / q0)
        sm = math.log(max(m1, 1e-3) / max(m0, 1e-3)) / math.log(q1 / q0)
        out.append(f"{impl}: time ~ queries^{st:.2f}, peak memory ~ queries^{sm:.2f} (from {q0} to {q1} queries)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--sections", nargs="+", default=["attention", "transformer", "pipeline"],
                        choices=["attention", "transformer", "pipeline"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each worker")
    parser.add_argument("--sides", type=int, nargs="+", default=None,
                        help="latent sides of the attention sweep (default 16 32 48 64 96 128)")
    parser.add_argument("--backward", action="store_true", help="time forward + backward in the attention sweep")
    parser.add_argument("--dense-max-gib", type=float, default=3.0, help="skip dense CPU runs needing more")
    parser.add_argument("--presets", nargs="+", default=["small", "base"])
    parser.add_argument("--cpu-transformer", nargs="*", default=["small@256", "small@512", "base@256"],
                        help="preset@size runs done on the CPU (fp32, SDPA, eager)")
    parser.add_argument("--steps", type=int, default=25, help="SV3D Euler steps (pipeline section)")
    parser.add_argument("--frames", type=int, default=12, help="SV3D orbit frames (pipeline section)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    if args.sides is None:
        args.sides = [16, 32, 48, 64, 96, 128]
    torch.set_num_threads(args.threads)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"# HumanSplat network benchmark on {name}, torch {torch.__version__} (random weights; noisy on shared machines)\n")
    rows: list[Row] = []
    sections = {"attention": bench_attention, "transformer": bench_transformer, "pipeline": bench_pipeline}
    for section in args.sections:
        got = sections[section](args, device)
        rows += got
        print(f"\n## {section}\n\n{_table(got)}\n")
        if section == "attention":
            print(_growth(got) + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in rows], fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
