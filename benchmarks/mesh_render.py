"""Benchmark the mesh rasteriser (:mod:`humansplat.render.mesh`) on body-sized meshes.

Meshes: the anny body of a synthetic person (~27k triangles), the same body subdivided twice
(~440k triangles, as dense as a scan), and an icosphere of 328k triangles filling the view. Each
case runs in a fresh process (so its peak RSS is its own) and prints seconds per view for
:func:`rasterize_mesh` alone and for :func:`render_mesh` (vertex colours, normals, depth; one
rasterisation at the supersampled size): the best and the median wall-clock time of ``--repeats``
runs and the CPU time of the best run (all threads; less disturbed by other processes on a shared
machine), and the process's peak resident memory (``+``: above the process before the first render).

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python benchmarks/mesh_render.py [--repeats 3] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from humansplat.cameras import Cameras
from humansplat.render.mesh import TexturedMesh, rasterize_mesh, render_mesh


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def make_meshes(folder: Path, size: int) -> list[Path]:
    """Write the benchmark meshes and their cameras (``size`` px) to ``folder``; returns the files."""
    import trimesh

    from humansplat.prior.synthetic import make_synthetic_person

    fit = make_synthetic_person(seed=3, size=256).as_body_fit()
    cam = fit.camera.resize(size, size)
    verts, faces = fit.vertices.detach().numpy(), fit.faces.numpy()
    dense_v, dense_f = trimesh.remesh.subdivide(*trimesh.remesh.subdivide(verts, faces))
    sphere = trimesh.creation.icosphere(subdivisions=7, radius=0.5)
    sphere_cam = Cameras.from_fov(35.0, size, size)
    cases = [
        ("anny body", verts, faces, cam),
        ("anny body, subdivided x2", dense_v, dense_f, cam),
        ("icosphere", sphere.vertices + np.array([0.0, 0.0, 1.8]), sphere.faces, sphere_cam),
    ]
    files = []
    for k, (name, v, f, c) in enumerate(cases):
        path = folder / f"mesh{k}.npz"
        v, f = np.asarray(v, np.float32), np.asarray(f, np.int64)
        np.savez(path, name=name, vertices=v, faces=f, viewmat=c.viewmats[0].numpy(), K=c.Ks[0].numpy(), size=size)
        files.append(path)
    return files


def run_case(path: Path, supersample: int, repeats: int) -> dict:
    """Time one mesh at one supersampling factor (in this process)."""
    data = np.load(path)
    size = int(data["size"])
    cam = Cameras(torch.from_numpy(data["viewmat"])[None], torch.from_numpy(data["K"])[None], size, size)
    verts, faces = torch.from_numpy(data["vertices"]), torch.from_numpy(data["faces"])
    colors = torch.rand(len(verts), 3, generator=torch.Generator().manual_seed(0))
    mesh = TexturedMesh(verts, faces, vertex_colors=colors)
    base = _peak_rss_mb()
    big = cam.resize(size * supersample, size * supersample)
    raster_t, render_t, raster_cpu, render_cpu = [], [], [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        r = rasterize_mesh(verts, faces, big)
        raster_t.append(time.perf_counter() - t)
        raster_cpu.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        out = render_mesh(mesh, cam, supersample=supersample)
        render_t.append(time.perf_counter() - t)
        render_cpu.append(time.process_time() - c)
    return {
        "mesh": str(data["name"]),
        "triangles": len(faces),
        "size": size,
        "supersample": supersample,
        "coverage": float(r.coverage.float().mean()),
        "alpha": float(out.alpha.mean()),
        "raster_best": min(raster_t),
        "raster_median": statistics.median(raster_t),
        "raster_cpu": raster_cpu[raster_t.index(min(raster_t))],
        "render_best": min(render_t),
        "render_median": statistics.median(render_t),
        "render_cpu": render_cpu[render_t.index(min(render_t))],
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_added_mb": _peak_rss_mb() - base,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--case", nargs=2, metavar=("MESH_NPZ", "SUPERSAMPLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # child process: one case, JSON on stdout
        print(json.dumps(run_case(Path(args.case[0]), int(args.case[1]), args.repeats)))
        return
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"torch {torch.__version__}: {torch.get_num_threads()} threads (OMP_NUM_THREADS={threads})")
    header = (
        f"{'mesh':26s} {'triangles':>9s} {'image':>9s} {'ss':>2s} {'rasterize s/view':>24s} "
        f"{'render_mesh s/view':>24s} {'peak RSS MB':>14s}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for path in make_meshes(Path(tmp), args.size):
            for ss in (1, 2):
                cmd = [sys.executable, __file__, "--repeats", str(args.repeats), "--case", str(path), str(ss)]
                proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
                res = json.loads(proc.stdout.splitlines()[-1])
                print(
                    f"{res['mesh']:26s} {res['triangles']:9d} {res['size']:>4d}x{res['size']:<4d} {ss:2d} "
                    f"{res['raster_best']:7.3f} ({res['raster_median']:5.3f}, {res['raster_cpu']:5.3f}) "
                    f"{res['render_best']:7.3f} ({res['render_median']:5.3f}, {res['render_cpu']:5.3f}) "
                    f"{res['peak_rss_mb']:6.0f} (+{res['peak_rss_added_mb']:4.0f})"
                )
    print("seconds: best (median, CPU time of the best run over all threads); peak RSS of the case's process (+ added)")


if __name__ == "__main__":
    main()
