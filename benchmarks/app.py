"""Benchmark of the Gradio app as users see it: latency per request with 1 and with N concurrent clients.

Launches ``python app.py`` in its own process on a free 127.0.0.1 port (its own queue and limits, as
users meet it; the clients here do not share its interpreter), waits for its start-up
warm-up (models loaded in the background), sends one request ("first"), then for each client count submits that many
/reconstruct requests at once through gradio_client and reports, per request, the time to the first
visible output (the person overlay, streamed after detection) and to the full result.

Usage (from the repository root)::

    python benchmarks/app.py                       # 1 and 8 clients, the app's defaults (24 frames, 512 px), prior mode
    python benchmarks/app.py --clients 1 2 4 8 --frames 8 --resolution 256
    python benchmarks/app.py --clients 1 --no-warm-up   # the first request loads the models
    python benchmarks/app.py --clients 1 --rounds 5 --no-ssl-verify   # 5 single requests, the client's TLS set-up skipped
    python benchmarks/app.py --clients 1 --rounds 3 --photo ../shared/photos/portrait/P06_halfbody_puffer.png
    python benchmarks/app.py --clients 1 --disk 30 --max-disk-mb 60   # disk held by clients that never close

``--disk N`` then sends N more requests from 3 clients that never close their sessions (3 at a time)
and prints the size of the app's Gradio temp folder (its outputs and Gradio's cached copies) after
each round: it must stay under ``HUMANSPLAT_APP_MAX_DISK_MB`` (``--max-disk-mb``).

Numbers depend on the machine and on the queue's concurrency (HUMANSPLAT_APP_CONCURRENCY): with
concurrency C, N clients wait for about N / C request times. The clients run on the same machine as
the app: gradio_client downloads every file of every streamed update (the final tuple twice: the last
update and the completed event, ~28 files a request) and builds an SSL context for each download, also
for an ``http://`` URL (~40 ms of CPU each on the 2-core machine: the system's CA bundle is parsed).
``--no-ssl-verify`` (``Client(ssl_verify=False)``; nothing is verified on ``http://127.0.0.1`` either
way) leaves that client-side work out, to see the app's own time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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
        time.sleep(0.05)
    job.result()
    total = time.perf_counter() - t0
    out["first"] = first if first is not None else total
    out["total"] = total


def _round(clients: list, args: argparse.Namespace) -> list[dict]:
    results: list[dict] = [{} for _ in clients]
    threads = [
        threading.Thread(target=_timed_request, args=(c, args.photo, args, i, results[i])) for i, c in enumerate(clients)
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
    parser.add_argument("--photo", type=Path, default=PHOTO, help="the photo every request sends (default: the synthetic person)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per client count (one row each)")
    parser.add_argument("--no-ssl-verify", action="store_true", help="Client(ssl_verify=False): no SSL context per download")
    parser.add_argument("--disk", type=int, default=0, metavar="N", help="N more requests from 3 clients that never close")
    parser.add_argument("--max-disk-mb", type=float, default=None, help="HUMANSPLAT_APP_MAX_DISK_MB for this run")
    args = parser.parse_args()
    from gradio_client import Client

    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=tempfile.mkdtemp(prefix="humansplat-bench-"))
    port = _free_port()
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    if args.max_disk_mb is not None:
        env["HUMANSPLAT_APP_MAX_DISK_MB"] = str(args.max_disk_mb)
    if args.no_warm_up:
        env["HUMANSPLAT_APP_WARM_UP"] = "0"
    sys.path.insert(0, str(REPO))
    from humansplat.app import settings

    args.frames = args.frames or settings.DEFAULT_FRAMES
    args.resolution = args.resolution or settings.DEFAULT_RESOLUTION
    # the app in its own process, as users meet it: the clients here do not share its cores' GIL
    log_path = Path(env["GRADIO_TEMP_DIR"]) / "app.log"
    t_start = time.perf_counter()
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        up_s = _wait_for(lambda: _port_open(port), server, log_path)
        up_s -= t_start
        warm_s = None
        if not args.no_warm_up:
            warm_s = _wait_for(lambda: "warm-up: models loaded" in log_path.read_text(), server, log_path) - t_start
        url = f"http://127.0.0.1:{port}/"
        downloads = tempfile.mkdtemp(prefix="humansplat-bench-dl-")
        ssl_verify = not args.no_ssl_verify
        pool = [Client(url, download_files=downloads, verbose=False, ssl_verify=ssl_verify) for _ in range(max(args.clients))]
        cpu0 = time.process_time()
        first = _round(pool[:1], args)[0]
        print(f"client CPU seconds for the first request: {time.process_time() - cpu0:.2f}", file=sys.stderr)
        rows = [("first (1)", [first["first"]], [first["total"]], first["total"])]
        for n in args.clients:
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                res = _round(pool[:n], args)
                wall = time.perf_counter() - t0
                rows.append((str(n), [r["first"] for r in res], [r["total"] for r in res], wall))
        for c in pool:
            c.close()
        disk_mb = []
        if args.disk:
            never_closed = [Client(url, download_files=downloads, verbose=False, ssl_verify=ssl_verify) for _ in range(3)]
            for _ in range(0, args.disk, 3):
                _round(never_closed, args)
                disk_mb.append(_folder_mb(Path(env["GRADIO_TEMP_DIR"])))
        peak_mb = _peak_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(
        f"\napp benchmark: {args.mode} mode, {args.frames} frames, {args.resolution} px, "
        f"concurrency {settings.CONCURRENCY}, {os.cpu_count()} CPUs, client ssl_verify={ssl_verify}, photo {args.photo.name}"
    )
    print(
        f"page up after {up_s:.1f} s; " + (f"warm-up finished after {warm_s:.1f} s" if warm_s is not None else "no warm-up")
        + f"; peak memory of the app process {peak_mb:.0f} MB"
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
            f"\ndisk: {3 * len(disk_mb)} requests from 3 clients that never closed, cap {env.get('HUMANSPLAT_APP_MAX_DISK_MB', settings.MAX_DISK_MB)} MB; "
            f"temp folder after each round (MB): {', '.join(f'{m:.1f}' for m in disk_mb)}; max {max(disk_mb):.1f} MB"
        )


def _folder_mb(folder: Path) -> float:
    """Megabytes of the files under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(ready, server: subprocess.Popen, log_path: Path, timeout: float = 600.0) -> float:
    """Poll ``ready()`` until true; returns the perf_counter time. Fails with the app's log if it exits."""
    end = time.perf_counter() + timeout
    while not ready():
        if server.poll() is not None or time.perf_counter() > end:
            raise RuntimeError(f"the app did not come up:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    return time.perf_counter()


def _peak_mb(pid: int) -> float:
    """Peak resident memory (VmHWM, MB) of process ``pid`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
