"""A deep-zoom session of OpenSeadragon, replayed against ``rpncodec serve`` by many viewers.

1. Encodes a generated 6144x4096 image (``rpncodec.utils.testing.zoom_image``; 24 tiles of
   1024, spatial: scale factors 1, 2, 4) with the shipped spatial model.
2. Records a session: OpenSeadragon (tests/browser, headless Chromium) opens its IIIF
   info.json, zooms in step by step and pans around; the tile URLs it requested, in order,
   are the session (written with ``--session``).
3. Replays the session with ``--viewers`` concurrent viewers, each fetching its tiles in order
   with at most 6 requests in flight (a browser's connections per host), against a fresh
   server (empty caches), twice: every viewer on the same file (``shared``: a popular image,
   the decoded-tile cache serves most), and every viewer on its own copy of the file
   (``distinct``: every tile decoded once per viewer).

Reports per scenario: tile latency p50/p99, tiles per second, the file bytes each decoded
tile request read (from ``X-Rpn-Bytes-Read``) against the file size, layers used, and the
resident memory of the server and of its decoding processes (sampled every 0.5 s).

    pip install -e '.[bench]'   # httpx, psutil
    python bench/iiif_replay.py --work /tmp/iiif-bench --json results/serve/iiif_replay.json \
        --session results/serve/osd_session.json

A benchmark, not a test: it prints what it measured. Pause other work on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "bench"))

from serve_load import (  # noqa: E402
    free_port,
    percentile,
    rss_split,
    start_server,
    tree_rss,
    wait_ready,
)

WIDTH, HEIGHT = 6144, 4096
# [zoom factor, pan x, pan y] after each fully loaded view (pans in viewport widths)
STEPS = [[2, 0, 0], [2, 0, 0], [1, 0.6, 0], [1, 0, 0.6], [2, -0.5, 0], [1, -0.6, -0.4],
         [0.5, 0.3, 0.3], [0.25, 0, 0]]


def encode(work: Path) -> Path:
    """``work/zoom.rpn`` (made once)."""
    path = work / "zoom.rpn"
    if not path.exists():
        from rpncodec import codec
        from rpncodec.backend import open_model
        from rpncodec.registry import default_model
        from rpncodec.utils.testing import zoom_image

        data = codec.encode(zoom_image(HEIGHT, WIDTH), open_model(default_model("spatial")))
        path.write_bytes(data)
    return path


def record(folder: Path, work: Path) -> list[str]:
    """The tile paths OpenSeadragon requests in the scripted session."""
    from osd_session import view

    from rpncodec.utils.report import find_chromium

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no chromium: install it to record the session")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(folder, port, 2, 256, [])
    try:
        wait_ready(url, proc)
        tiles, _ = view(chromium, f"{url}/iiif/3/zoom/info.json", work / "profile", STEPS,
                        timeout_s=600)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [t[len(url):] for t in tiles]


async def viewer(http, url: str, paths: list[str], results: list[dict]) -> None:
    gate = asyncio.Semaphore(6)

    async def one(path: str) -> None:
        async with gate:
            t0 = time.perf_counter()
            r = await http.get(url + path)
            if r.status_code != 200:
                print(f"{r.status_code} {path}: {r.text[:200]}", file=sys.stderr)
            results.append({"seconds": time.perf_counter() - t0, "status": r.status_code,
                            "bytes_read": int(r.headers.get("x-rpn-bytes-read", 0)),
                            "decoded": int(r.headers.get("x-rpn-tiles-decoded", 0)),
                            "layers": int(r.headers.get("x-rpn-layers", 0))})

    await asyncio.gather(*(one(p) for p in paths))


def replay(folder: Path, names: list[str], session: list[str], workers: int) -> dict:
    """Viewer i replays the session on file ``names[i]``; returns the figures."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(folder, port, workers, 256, [])
    try:
        wait_ready(url, proc)
        idle = tree_rss(proc.pid)
        samples: list[int] = []
        results: list[dict] = []

        async def run() -> float:
            limits = httpx.Limits(max_connections=6 * len(names))
            async with httpx.AsyncClient(limits=limits, timeout=300) as http:
                stop = asyncio.Event()

                async def sample() -> None:
                    while not stop.is_set():
                        samples.append(tree_rss(proc.pid))
                        await asyncio.sleep(0.5)

                sampler = asyncio.create_task(sample())
                t0 = time.monotonic()
                await asyncio.gather(*(
                    viewer(http, url, [p.replace("/zoom/", f"/{n}/", 1) for p in session],
                           results) for n in names))
                elapsed = time.monotonic() - t0
                stop.set()
                await sampler
                return elapsed

        elapsed = asyncio.run(run())
        server_after, workers_after = rss_split(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ok = [r for r in results if r["status"] == 200]
    times = [r["seconds"] for r in ok]
    decoding = [r for r in ok if r["decoded"]]
    size = (folder / f"{names[0]}.rpn").stat().st_size
    return {
        "viewers": len(names), "files": len(set(names)), "tile_requests": len(results),
        "failed": len(results) - len(ok), "seconds": round(elapsed, 1),
        "tiles_per_s": round(len(results) / elapsed, 1),
        "p50_ms": round(1000 * percentile(times, 50)),
        "p99_ms": round(1000 * percentile(times, 99)),
        "requests_that_decoded": len(decoding),
        "bytes_read_per_decoding_request": round(statistics.mean(
            r["bytes_read"] for r in decoding)) if decoding else 0,
        "bytes_read_total": sum(r["bytes_read"] for r in ok),
        "file_bytes": size,
        "layers_used": {str(k): sum(r["layers"] == k for r in ok) for k in (1, 2, 3)},
        "load_average_1min_after": round(os.getloadavg()[0], 2),  # other work on the machine
        "rss_idle_mb": round(idle / 2**20), "rss_max_mb": round(max(samples) / 2**20),
        "server_rss_after_mb": round(server_after / 2**20),
        "worker_rss_after_mb": [round(w / 2**20) for w in workers_after],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/iiif-bench"))
    p.add_argument("--viewers", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--session", type=Path, help="read the session here if it exists, else "
                   "record it and write it here")
    p.add_argument("--scenario", choices=("shared", "distinct", "both"), default="both")
    p.add_argument("--json", type=Path, help="also write the figures here (a scenario run "
                   "alone is merged into the file's other figures)")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    folder = args.work / "files"
    folder.mkdir(exist_ok=True)
    source = encode(args.work)
    shutil.copy(source, folder / "zoom.rpn")
    if args.session and args.session.exists():
        session = json.loads(args.session.read_text())["tiles"]
    else:
        session = record(folder, args.work)
        if args.session:
            args.session.write_text(json.dumps({"steps": STEPS, "tiles": session},
                                               indent=1) + "\n")
    names = [f"zoom-{i:02d}" for i in range(args.viewers)]
    for n in names:
        shutil.copy(source, folder / f"{n}.rpn")
    report = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    report.update({
        "image": f"zoom_image {WIDTH}x{HEIGHT}, spatial, 1024 tiles",
        "session_tiles": len(session), "workers": args.workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
    })
    scenarios = ("shared", "distinct") if args.scenario == "both" else (args.scenario,)
    for key in scenarios:
        report[key] = replay(folder, ["zoom"] * args.viewers if key == "shared" else names,
                             session, args.workers)
    print(f"session: {len(session)} tile requests; {args.viewers} viewers, "
          f"{args.workers} decoding processes")
    print("| scenario | tiles | failed | tiles/s | p50 ms | p99 ms | bytes read per decoding "
          "request | file bytes | RSS max MiB |\n|---|---|---|---|---|---|---|---|---|")
    for key in scenarios:
        r = report[key]
        print(f"| {key} | {r['tile_requests']} | {r['failed']} | {r['tiles_per_s']} | "
              f"{r['p50_ms']} | {r['p99_ms']} | {r['bytes_read_per_decoding_request']} | "
              f"{r['file_bytes']} | {r['rss_max_mb']} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
