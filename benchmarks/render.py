"""Benchmark the renderers: CPU tiled backend (forward, forward+backward) and, on CUDA, gsplat.

Scene: N Gaussians on a human-sized surface (head, torso, arms, legs as ellipsoids, 1.75 m tall)
2.5 m in front of the camera, scales 3 mm - 2 cm, opacities 0.3 - 1, SH degree 0.
Timings on a shared machine are noisy: the table gives the best and the median wall-clock time of
``--repeats`` runs, and the CPU time of the best run (all threads; CPU time is less disturbed by
other processes competing for the cores).

``--stages`` adds the compiled forward path's split of a 100k frame (projection, binning,
compositing with the finishing (background, depth); best CPU time of each over the runs). ``--result FOLDER`` (a saved result,
``Result.save``) adds its 24-frame 512 px turntable as the app renders it (6 calls of 4 cameras).

    python benchmarks/render.py [--repeats 3] [--threads 2] [--sizes 10000 100000 300000] [--stages]
        [--result /tmp/out/photo]

On a machine shared with other busy processes, OpenMP threads that spin while waiting for a
descheduled partner can make 2 threads several times slower than 1; run with
``OMP_WAIT_POLICY=PASSIVE`` (set before Python starts) to avoid that.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from humansplat.cameras import Cameras
from humansplat.gaussians import Gaussians
from humansplat.render import render
from humansplat.render.compiled import compiled_available
from humansplat.render.rasterize import RasterOptions
from humansplat.render.torch_backend import render_torch

# (centre xyz, radii xyz) in metres, world = camera frame (y down); the figure stands at z = 2.5.
_PARTS = [
    ((0.0, -0.75, 2.5), (0.10, 0.12, 0.11)),  # head
    ((0.0, -0.30, 2.5), (0.19, 0.32, 0.12)),  # torso
    ((-0.27, -0.28, 2.5), (0.05, 0.32, 0.05)),  # right arm
    ((0.27, -0.28, 2.5), (0.05, 0.32, 0.05)),  # left arm
    ((-0.10, 0.45, 2.5), (0.08, 0.42, 0.08)),  # right leg
    ((0.10, 0.45, 2.5), (0.08, 0.42, 0.08)),  # left leg
]


def human_surface_gaussians(n: int, generator: torch.Generator | None = None) -> Gaussians:
    """``n`` Gaussians spread over a human-sized union of ellipsoids (deterministic for a generator)."""
    g = generator or torch.Generator().manual_seed(0)
    radii = torch.tensor([r for _, r in _PARTS])
    centres = torch.tensor([c for c, _ in _PARTS])
    # Approximate ellipsoid areas (Knud Thomsen) to spread the points evenly.
    p = 1.6075
    a, b, c = radii.unbind(-1)
    area = 4 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)
    part = torch.multinomial(area / area.sum(), n, replacement=True, generator=g)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    means = centres[part] + dirs * radii[part]
    scales = torch.exp(torch.empty(n, 3).uniform_(math.log(0.003), math.log(0.02), generator=g))
    quats = torch.randn(n, 4, generator=g)
    opacities = torch.empty(n).uniform_(0.3, 1.0, generator=g)
    rgb = torch.rand(n, 3, generator=g)
    return Gaussians.from_activated(means, scales, quats, opacities, rgb)


def _camera(size: int) -> Cameras:
    return Cameras.orbit((0.0, 0.0, 2.5), 2.5, [20.0], 5.0, fov_y_deg=45.0, width=size, height=size)


def _time(fn, repeats: int) -> tuple[float, float, float]:
    """(best wall s, median wall s, CPU s of the best run) over ``repeats`` runs after a warm-up."""
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - w0, time.process_time() - c0))
    best = min(runs)
    return best[0], statistics.median(r[0] for r in runs), best[1]


def bench_forward(n: int, size: int, repeats: int, backend: str = "torch", device: str = "cpu", compiled: bool = True):
    gs = human_surface_gaussians(n).to(device)
    cams = _camera(size)
    options = RasterOptions(compiled=compiled)

    def run():
        with torch.no_grad():
            if backend == "torch":
                out = render_torch(gs, cams, torch.ones(3), 0.01, 1e10, 0, options=options)
            else:
                out = render(gs, cams, background=1.0, backend=backend)
        if device != "cpu":
            torch.cuda.synchronize()
        return out

    return _time(run, repeats)


def bench_backward(n: int, size: int, repeats: int):
    gs = human_surface_gaussians(n)
    params = [gs.means, gs.log_scales, gs.quats, gs.logit_opacities, gs.sh0]
    for t in params:
        t.requires_grad_(True)
    cams = _camera(size)
    target = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(1))

    def run():
        out = render(gs, cams, background=1.0, backend="torch")
        loss = (out.rgb - target).square().mean() + out.alpha.mean()
        torch.autograd.grad(loss, params)

    return _time(run, repeats)


def stages(n: int, size: int, repeats: int) -> dict[str, float]:
    """Best CPU seconds of each stage of the compiled forward path (one camera, ``n`` Gaussians)."""
    from humansplat.render.compiled import composite_images_compiled
    from humansplat.render.compiled_binning import bin_compiled
    from humansplat.render.compiled_projection import project_compiled

    gs, cams = human_surface_gaussians(n), _camera(size)
    best: dict[str, float] = {}
    for _ in range(repeats + 1):
        clock = [time.process_time()]
        proj = project_compiled(gs, cams)
        clock.append(time.process_time())
        bins = bin_compiled(proj.means2d, proj.radii, proj.depths, size, size)
        clock.append(time.process_time())
        values = torch.cat([proj.colors, proj.depths[..., None]], dim=-1).reshape(n, 4)
        composite_images_compiled(proj.means2d.reshape(n, 2), proj.conics.reshape(n, 3), proj.opacities.reshape(n),
                                  values, bins, size, size, background=torch.ones(3))
        clock.append(time.process_time())
        for name, t0, t1 in zip(("projection", "binning", "compositing and finishing"), clock, clock[1:]):
            best[name] = min(best.get(name, math.inf), t1 - t0)
    return best


def bench_turntable(folder: str, repeats: int, frames: int = 24, chunk: int = 4):
    """A saved result's turntable: ``frames`` 512 px orbit frames in calls of ``chunk`` cameras."""
    from humansplat.avatar_views import orbit_cameras
    from humansplat.result import Result

    result = Result.load(folder, turntable=False)
    gs = result.gaussians
    cams = orbit_cameras(gs, result.body_fit, torch.arange(frames, dtype=torch.float32) * (360.0 / frames), 512)

    def run():
        for start in range(0, frames, chunk):
            with torch.no_grad():
                render(gs, cams[start : start + chunk], background=1.0)

    return len(gs), _time(run, repeats)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000],
                    help="Gaussian counts for the 512x512 forward rows")
    ap.add_argument("--backward-n", type=int, default=20_000, help="Gaussians for the forward+backward row")
    ap.add_argument("--stages", action="store_true", help="the compiled path's stage split of a 100k frame")
    ap.add_argument("--result", default=None, help="a saved result folder: time its 24-frame turntable")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {args.repeats} timed runs per row")
    print(f"{'backend':<14} {'pass':<17} {'image':>7} {'gaussians':>9} {'best s':>7} {'median s':>8} {'cpu s':>6} {'fps':>7}")

    def row(backend, what, size, n, times, frames=1):
        best, median, cpu = times
        print(f"{backend:<14} {what:<17} {size:>3}x{size:<3} {n:>9,} {best:>7.3f} {median:>8.3f} {cpu:>6.2f} "
              f"{frames / best:>7.1f}", flush=True)

    for n in args.sizes:
        if compiled_available():
            row("cpu compiled", "forward", 512, n, bench_forward(n, 512, args.repeats))
        row("cpu rounds", "forward", 512, n, bench_forward(n, 512, args.repeats, compiled=False))
    row("cpu rounds", "forward+backward", 256, args.backward_n, bench_backward(args.backward_n, 256, args.repeats))
    if args.result:
        n, times = bench_turntable(args.result, args.repeats)
        row("cpu", "turntable 24 fr", 512, n, times, frames=24)
    if args.stages and compiled_available():
        split = stages(100_000, 512, args.repeats)
        print("compiled forward, 100k at 512x512, best CPU s: "
              + ", ".join(f"{name} {secs:.4f}" for name, secs in split.items()))
    if torch.cuda.is_available():
        try:
            row("gsplat", "forward", 512, 100_000, bench_forward(100_000, 512, max(args.repeats, 20), "gsplat", "cuda"))
        except ImportError as exc:
            print(f"gsplat skipped: {exc}")


if __name__ == "__main__":
    main()
