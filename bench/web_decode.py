"""Decode times in headless Chromium of the site ``rpncodec web`` writes (docs/browser.md).

Encodes the bundled sample (rpncodec/samples/kodim23.png, 768x512) with the default model of
each mode, writes a site of both files, serves it locally with ``Range`` and COOP/COEP (the
preview server), and opens ``decode.html?src=F&threads=T&repeat=R`` in headless Chromium for
1 and 2 threads. Per layer it records the bytes the page fetched for that layer's prefix, the
first decode in a fresh browser ("cold": onnxruntime-web's sessions are created then), the
fastest of the R-1 later decodes in the same page ("warm"), and when the layer was on screen
counted from the page's start (runtime, model and file fetches included).

    python bench/web_decode.py --json results/web/decode-2026-12-07.json
    python bench/web_decode.py --pause /tmp/trainer.pid --pause /tmp/trainer2.pid
    python bench/web_decode.py --screenshots results/web     # also the viewer, when done

``--pause PIDFILE`` stops those processes (SIGSTOP) for each measurement (one page load, well
under 3 minutes) and always resumes them (SIGCONT), also on failure or interrupt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from web_session import decode_url, run_page, screenshot, site_server  # noqa: E402

from rpncodec import bitstream, website  # noqa: E402
from rpncodec.cli import main as cli  # noqa: E402
from rpncodec.registry import default_model  # noqa: E402
from rpncodec.utils.report import find_chromium  # noqa: E402

SAMPLE = ROOT / "rpncodec" / "samples" / "kodim23.png"


def _pids(files: list[str]) -> list[int]:
    pids = []
    for f in files:
        try:
            pids.append(int(Path(f).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            print(f"web_decode: no pid in {f}; not pausing it", file=sys.stderr)
    return pids


@contextmanager
def paused(pids: list[int]):
    """SIGSTOP ``pids`` for the block, SIGCONT after it whatever happens."""
    stopped = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            except ProcessLookupError:
                pass
        yield
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=5, help="decodes per page (default 5)")
    parser.add_argument("--pause", action="append", default=[], metavar="PIDFILE",
                        help="stop this process while measuring (repeatable)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="save the viewer of "
                        "each file, once done, as DIR/viewer-kodim23-MODE.png")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("web_decode: no chromium on this machine", file=sys.stderr)
        return 1
    pids = _pids(args.pause)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        coded = tmp / "coded"
        coded.mkdir()
        for mode in ("quality", "spatial"):
            if cli(["encode", str(SAMPLE), "-o", str(coded / f"kodim23-{mode}.rpn"),
                    "--mode", mode]) != 0:
                return 1
        site = tmp / "site"
        website.build_site(coded, site)
        with site_server(site) as (origin, reports, sent):
            for mode in ("quality", "spatial"):
                name = f"kodim23-{mode}.rpn"
                c = bitstream.parse((site / name).read_bytes())
                for threads in args.threads:
                    sent.clear()
                    with paused(pids):
                        report = run_page(chromium, decode_url(origin, name, None, threads)
                                          + f"&repeat={args.repeat}", reports,
                                          tmp / f"profile-{mode}-{threads}", timeout_s=170)
                    if "error" in report:
                        print(f"web_decode: {name}: {report['error']}", file=sys.stderr)
                        return 1
                    if report["bytes_fetched"] != sent[name]:  # the page's count, the server's
                        print(f"web_decode: {name}: the page counted {report['bytes_fetched']} "
                              f"bytes, the server sent {sent[name]}", file=sys.stderr)
                        return 1
                    for p in report["per_layer"]:
                        rows.append({"file": name, "model": c.header.model, "mode": mode,
                                     "threads": report["threads"], "layer": p["layer"],
                                     "size": f"{p['width']}x{p['height']}",
                                     "bytes": p["bytes"],
                                     "prefix_size": bitstream.prefix_size(c, p["layer"]),
                                     "cold_ms": round(p["decode_ms"], 1),
                                     "warm_ms": round(p.get("warm_ms", p["decode_ms"]), 1),
                                     "shown_ms": round(p["shown_ms"], 0)})
                    print(f"{name} threads={report['threads']}: "
                          + ", ".join(f"L{r['layer']} {r['bytes']} B {r['warm_ms']} ms"
                                      for r in rows if r["file"] == name
                                      and r["threads"] == report["threads"]), file=sys.stderr)
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                for mode in ("quality", "spatial"):
                    url = decode_url(origin, f"kodim23-{mode}.rpn", report="",
                                     page="view.html")
                    screenshot(chromium, url, args.screenshots / f"viewer-kodim23-{mode}.png",
                               tmp / f"profile-shot-{mode}", 820, 920)
    table = ["| model | layer | size | bytes fetched | 1 thread: warm / cold ms | "
             "2 threads: warm / cold ms | on screen (1 thread, cold) ms |",
             "|---|---|---|---|---|---|---|"]
    for mode in ("quality", "spatial"):
        for r1 in (r for r in rows if r["mode"] == mode and r["threads"] == 1):
            r2 = next((r for r in rows if r["mode"] == mode and r["threads"] == 2
                       and r["layer"] == r1["layer"]), None)
            two = f"{r2['warm_ms']} / {r2['cold_ms']}" if r2 else "-"
            table.append(f"| {r1['model']} | {r1['layer']} | {r1['size']} | {r1['bytes']:,} | "
                         f"{r1['warm_ms']} / {r1['cold_ms']} | {two} | {r1['shown_ms']:.0f} |")
    print("\n".join(table))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        version = "?"
        try:
            import subprocess

            version = subprocess.run([chromium, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        args.json.write_text(json.dumps({
            "command": "python bench/web_decode.py " + " ".join(sys.argv[1:]),
            "browser": version, "machine": platform.machine(), "processor": _cpu(),
            "cores": os.cpu_count(), "repeat": args.repeat,
            "defaults": {m: default_model(m) for m in ("quality", "spatial")},
            "rows": rows}, indent=1) + "\n")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
