"""Benchmark of the Gradio app as users see it: latency per request with 1 and with N concurrent clients.

Launches app.py in-process on a free 127.0.0.1 port (its own queue and limits), waits for its start-up
warm-up (models loaded in the background), sends one request ("first"), then for each client count submits that many
/reconstruct requests at once through gradio_client and reports, per request, the time to the first
visible output (the person overlay, streamed after detection) and to the full result.

Usage (from the repository root)::

    python benchmarks/app.py                       # 1 and 8 clients, the app's defaults (24 frames, 512 px), prior mode
    python benchmarks/app.py --clients 1 2 4 8 --frames 8 --resolution 256
    python benchmarks/app.py --clients 1 --no-warm-up   # the first request loads the models
    python benchmarks/app.py --clients 1 --disk 30 --max-disk-mb 60   # disk held by clients that never close

``--disk N`` then sends N more requests from 3 clients that never close their sessions (3 at a time)
and prints the size of the app's Gradio temp folder (its outputs and Gradio's cached copies) after
each round: it must stay under ``HUMANSPLAT_APP_MAX_DISK_MB`` (``--max-disk-mb``).

Numbers depend on the machine and on the queue's concurrency (HUMANSPLAT_APP_CONCURRENCY): with
concurrency C, N clients wait for about N / C request times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "assets" / "examples" / "synthetic_0_full.png"
PERSON_INDEX = 5  # position of the person overlay in /reconstruct's outputs


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed_request(client, photo: Path, args: argparse.Namespace, seed: int, out: dict) -> None:
    """Submit one request; record seconds to the first visible output and to the result."""
    from gradio_client import handle_file

    t0 = time.perf_counter()
    job = client.submit(handle_file(str(photo)), args.mode, args.frames, seed, args.resolution, api_name="/reconstruct")
    first = None
    while not job.done():
        if first is None and any(o and isinstance(o[PERSON_INDEX], str) for o in job.outputs()):
            first = time.perf_counter() - t0
        time.sleep(0.02)
    job.result()
    total = time.perf_counter() - t0
    out["first"] = first if first is not None else total
    out["total"] = total


def _round(clients: list, args: argparse.Namespace) -> list[dict]:
    results: list[dict] = [{} for _ in clients]
    threads = [
        threading.Thread(target=_timed_request, args=(c, PHOTO, args, i, results[i])) for i, c in enumerate(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--frames", type=int, default=None, help="turntable frames (default: the app's)")
    parser.add_argument("--resolution", type=int, default=None, help="view and video side (default: the app's)")
    parser.add_argument("--no-warm-up", action="store_true", help="HUMANSPLAT_APP_WARM_UP=0: the first request loads the models")
    parser.add_argument("--mode", default="prior")
    parser.add_argument("--disk", type=int, default=0, metavar="N", help="N more requests from 3 clients that never close")
    parser.add_argument("--max-disk-mb", type=float, default=None, help="HUMANSPLAT_APP_MAX_DISK_MB for this run")
    args = parser.parse_args()
    if args.max_disk_mb is not None:
        os.environ["HUMANSPLAT_APP_MAX_DISK_MB"] = str(args.max_disk_mb)

    if args.no_warm_up:
        os.environ["HUMANSPLAT_APP_WARM_UP"] = "0"
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="humansplat-bench-")
    sys.path.insert(0, str(REPO))
    from gradio_client import Client

    import app
    from humansplat.app import settings

    args.frames = args.frames or settings.DEFAULT_FRAMES
    args.resolution = args.resolution or settings.DEFAULT_RESOLUTION
    t_start = time.perf_counter()
    demo = app.serve(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    up_s = time.perf_counter() - t_start
    warm = [t for t in threading.enumerate() if t.name == "humansplat-warm-up"]
    for t in warm:
        t.join()
    warm_s = time.perf_counter() - t_start
    downloads = tempfile.mkdtemp(prefix="humansplat-bench-dl-")
    try:
        pool = [Client(demo.local_url, download_files=downloads, verbose=False) for _ in range(max(args.clients))]
        first = _round(pool[:1], args)[0]
        rows = [("first (1)", [first["first"]], [first["total"]], first["total"])]
        for n in args.clients:
            t0 = time.perf_counter()
            res = _round(pool[:n], args)
            wall = time.perf_counter() - t0
            rows.append((str(n), [r["first"] for r in res], [r["total"] for r in res], wall))
        for c in pool:
            c.close()
        disk_mb = []
        if args.disk:
            never_closed = [Client(demo.local_url, download_files=downloads, verbose=False) for _ in range(3)]
            for _ in range(0, args.disk, 3):
                _round(never_closed, args)
                disk_mb.append(_folder_mb(Path(os.environ["GRADIO_TEMP_DIR"])))
    finally:
        demo.close()

    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(
        f"\napp benchmark: {args.mode} mode, {args.frames} frames, {args.resolution} px, "
        f"concurrency {app.CONCURRENCY}, {os.cpu_count()} CPUs, torch threads {_torch_threads()}"
    )
    print(
        f"page up after {up_s:.1f} s; " + (f"warm-up finished after {warm_s:.1f} s" if warm else "no warm-up")
        + f"; peak memory of the process (app and clients) {peak_mb:.0f} MB"
    )
    print(
        f"{'clients':>9} | {'first output p50 / max (s)':>27} | {'full result p50 / max (s)':>26} | {'wall (s)':>8} | {'req/min':>7}"
    )
    print("-" * 90)
    for name, first, total, wall in rows:
        n = len(total)
        print(
            f"{name:>9} | {statistics.median(first):12.1f} / {max(first):<12.1f} | "
            f"{statistics.median(total):12.1f} / {max(total):<11.1f} | {wall:8.1f} | {60 * n / wall:7.2f}"
        )


    if disk_mb:
        print(
            f"\ndisk: {3 * len(disk_mb)} requests from 3 clients that never closed, cap {app.MAX_DISK_MB:.0f} MB; "
            f"temp folder after each round (MB): {', '.join(f'{m:.1f}' for m in disk_mb)}; max {max(disk_mb):.1f} MB"
        )


def _folder_mb(folder: Path) -> float:
    """Megabytes of the files under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
