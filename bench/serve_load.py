"""Load test of ``rpncodec serve`` on localhost: many concurrent clients, random layers.

Starts the real server (``python -m rpncodec serve FOLDER``) on a free port, waits until it
answers, then runs ``--clients`` concurrent HTTP/1.1 clients (httpx, keep-alive) for
``--seconds``: each asks for a random layer of a random file, again and again. Reports
requests/s and p50/p99 latency per layer, the failed requests (any status but 200), and the
resident memory of the server and its decoding processes (sampled every 0.5 s), and writes
the table and a JSON next to it. A benchmark, not a test: it prints what it measured.

    pip install -e '.[serve,bench]'   # bench: the client side (httpx, psutil)
    python bench/serve_load.py /tmp/kodak-rpn/quality --files 20 --clients 200 --seconds 30 \
        --json results/serve/load.json
    python bench/serve_load.py ... --serve-option=--worker-max-mb=0 \
        --serve-option=--max-decodes-per-worker=0    # the decoding workers' memory unbounded
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, port: int, workers: int, cache_mb: float,
                 models: list[str], options: tuple[str, ...] = ()) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    extra = [arg for m in models for arg in ("--model", m)]
    return subprocess.Popen([sys.executable, "-m", "rpncodec", "serve", str(folder), "--port",
                             str(port), "--workers", str(workers), "--cache-mb", str(cache_mb),
                             *extra, *options], env=env, start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited before it was ready")
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its children."""
    server, workers = rss_split(pid)
    return server + sum(workers)


def rss_split(pid: int) -> tuple[int, list[int]]:
    """Resident bytes of a process and of each of its descendants (its decoding workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        server = root.memory_info().rss
        children = root.children(recursive=True)
    except psutil.Error:
        return 0, []
    workers = []
    for p in children:
        try:
            workers.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return server, workers


async def client(http, url: str, targets: list[tuple[str, int]], stop: float,
                 results: list[tuple[int, float, int]], rng: random.Random) -> None:
    import httpx

    while time.monotonic() < stop:
        name, layers = targets[rng.randrange(len(targets))]
        k = rng.randint(1, layers)
        t0 = time.perf_counter()
        try:
            r = await http.get(f"{url}/images/{name}?layers={k}")
            status = r.status_code
        except httpx.HTTPError:
            status = 0
        results.append((k, time.perf_counter() - t0, status))


async def run_load(url: str, targets: list[tuple[str, int]], clients: int, seconds: float,
                   seed: int) -> tuple[list[tuple[int, float, int]], float]:
    import httpx

    results: list[tuple[int, float, int]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        start = time.monotonic()
        stop = start + seconds
        await asyncio.gather(*(client(http, url, targets, stop, results,
                                      random.Random(seed + i)) for i in range(clients)))
        elapsed = time.monotonic() - start
    return results, elapsed


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="folder of .rpn files to serve")
    p.add_argument("--files", type=int, default=20, help="how many of its files to ask for")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--workers", type=int, default=2, help="decoding processes of the server")
    p.add_argument("--cache-mb", type=float, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", action="append", help="extra weights file for the server")
    p.add_argument("--serve-option", action="append", default=[], help="an option for "
                   "rpncodec serve, e.g. --serve-option=--worker-max-mb=0 (repeat for several)")
    p.add_argument("--idle-seconds", type=float, default=10, help="after the load, wait this "
                   "long and measure the memory the idle server holds")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()

    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args.folder, port, args.workers, args.cache_mb, args.model or [],
                        tuple(args.serve_option))
    try:
        wait_ready(url, proc)
        names = sorted(x.stem for x in args.folder.glob("*.rpn"))[: args.files]
        targets = [(n, httpx.get(f"{url}/images/{n}/info").json()["available"]) for n in names]
        rss_idle = tree_rss(proc.pid)
        samples: list[int] = []

        async def sample_memory(stop: float) -> None:
            while time.monotonic() < stop:
                samples.append(tree_rss(proc.pid))
                await asyncio.sleep(0.5)

        async def both():
            stop = time.monotonic() + args.seconds
            sampler = asyncio.create_task(sample_memory(stop))
            out = await run_load(url, targets, args.clients, args.seconds, args.seed)
            await sampler
            return out

        results, elapsed = asyncio.run(both())
        time.sleep(args.idle_seconds)
        idle_server, idle_workers = rss_split(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    failed = sum(1 for _, _, s in results if s != 200)
    rows = []
    for k in sorted({k for k, _, _ in results}):
        times = [t for kk, t, s in results if kk == k and s == 200]
        if not times:
            continue
        rows.append({"layer": k, "requests": len(times), "p50_ms": 1000 * percentile(times, 50),
                     "p99_ms": 1000 * percentile(times, 99)})
    report = {
        "clients": args.clients, "seconds": round(elapsed, 1), "files": len(targets),
        "workers": args.workers, "cache_mb": args.cache_mb, "requests": len(results),
        "failed": failed, "requests_per_s": round(len(results) / elapsed, 1),
        "rss_idle_mb": round(rss_idle / 2**20), "rss_max_mb": round(max(samples) / 2**20),
        "rss_last_mb": round(samples[-1] / 2**20),
        "serve_options": args.serve_option,
        "idle_after_s": args.idle_seconds, "server_rss_idle_after_mb": round(idle_server / 2**20),
        "worker_rss_idle_after_mb": [round(w / 2**20) for w in idle_workers],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "load_average_1min_after": round(os.getloadavg()[0], 2),  # other work on the machine
        "per_layer": rows,
    }
    print(f"{report['requests']} requests in {report['seconds']} s from {args.clients} clients "
          f"over {len(targets)} files: {report['requests_per_s']} requests/s, "
          f"{failed} failed; server RSS {report['rss_idle_mb']} MiB idle, "
          f"{report['rss_max_mb']} MiB max, {report['rss_last_mb']} MiB at the end; "
          f"{args.idle_seconds:g} s later: server {report['server_rss_idle_after_mb']} MiB, "
          f"workers {report['worker_rss_idle_after_mb']} MiB")
    print("| layer | requests | p50 ms | p99 ms |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['requests']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
