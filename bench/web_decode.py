"""Decode times and download sizes of the site ``rpncodec web`` writes, in headless Chromium,
beside the Python decoder (docs/browser.md, "Measured").

Encodes Kodak's kodim23 (bundled as rpncodec/samples/kodim23.png, 768x512) with the default
model of the quality and spatial modes, writes a site of both files, serves it locally with
``Range`` and COOP/COEP (the preview server) and, for each file and thread count:

* opens ``decode.html?src=F&threads=T&repeat=R`` in a fresh headless Chromium: per layer the
  first decode ("cold": the layer's model files fetched from the local server, checked and
  built, its onnxruntime-web session created), the fastest of the R-1 later decodes in the
  same worker ("warm": everything loaded), each split into entropy decoding, the float64
  networks and the synthesis, and when the layer was on screen counted from the page's
  start;
* opens the page again in the same browser profile ("reload", ``--reloads`` times, the
  median kept): the model files and the onnxruntime-web runtime come from the HTTP cache
  (revalidated) and Chromium's code cache, i.e. everything has arrived, and the runtime,
  sessions and decode start from nothing;
* then, in that profile (the model files in the HTTP cache), makes the link slow (``--rtt``
  seconds before each answer for the ``.rpn`` file, so its header and layers arrive one by one
  while the page starts) and records for each layer the time from the moment the server had
  sent that layer's bytes to the moment the layer was on screen ("after arrival": what the
  target for layer 1 counts; the median of ``--reloads`` loads);
* opens ``decode.html?layers=1`` and checks that layer 1 fetched exactly its prefix
  (``bitstream.prefix_size``, also counted by the server).

Sizes per layer: the file's prefix, and the model files a progressive view fetches up to that
layer (``model.json``, levels 1..k and the syntheses 1..k) and a decode of that layer alone
(one synthesis), raw and gzipped; once per site the decoder, the viewer's scripts and
onnxruntime-web. The Python decoder (onnx backend, in process) decodes each layer with 1 and 2
threads: first decode on a freshly opened model, and best of R.

    python bench/web_decode.py --pause-matching "rpncodec train" \
        --json results/web/decode-DATE.json --screenshots results/web

``--pause PIDFILE`` and ``--pause-matching TEXT`` stop those processes (SIGSTOP) for each
measurement (one page load or one file's Python decodes, well under 3 minutes) and always
resume them (SIGCONT), also on failure or interrupt; each measurement then waits (up to
``--wait-quiet`` seconds) for the CPUs to be idle, and the busy share it saw is recorded.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from web_session import decode_url, run_page, screenshot, site_server  # noqa: E402

from rpncodec import bitstream, codec, website  # noqa: E402
from rpncodec.backend import open_model  # noqa: E402
from rpncodec.cli import main as cli  # noqa: E402
from rpncodec.registry import default_model  # noqa: E402
from rpncodec.utils.report import find_chromium  # noqa: E402

SAMPLE = ROOT / "rpncodec" / "samples" / "kodim23.png"
MODES = ("quality", "spatial")


def _pids(files: list[str], patterns: list[str]) -> list[int]:
    """The processes to pause now: those named in ``files`` (read again each time: a
    restarted trainer writes a new pid) and those whose command line contains a pattern."""
    pids = []
    for f in files:
        try:
            pids.append(int(Path(f).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            print(f"web_decode: no pid in {f}; not pausing it", file=sys.stderr)
    mine = _ancestors()  # this benchmark and the shell that started it name the pattern too
    for proc in Path("/proc").iterdir() if patterns else ():
        if not proc.name.isdigit() or int(proc.name) in mine:
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(p in command for p in patterns):
            pids.append(int(proc.name))
    return pids


def _ancestors() -> set[int]:
    """This process and its ancestors."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        pid = int(next(line.split()[1] for line in status.splitlines()
                       if line.startswith("PPid:")))
    return out


def _busy(seconds: float = 1.0) -> float:
    """The share of the machine's CPU time spent busy over ``seconds`` (/proc/stat)."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values[:8]) - idle, idle

    busy0, idle0 = sample()
    time.sleep(seconds)
    busy1, idle1 = sample()
    return (busy1 - busy0) / max(1, busy1 - busy0 + idle1 - idle0)


class Quiet:
    """Measurements on a quiet machine: the given processes paused (SIGSTOP, always resumed
    with SIGCONT), then a wait of up to ``wait_s`` for the others to leave the CPUs idle; the
    busy share seen just before each measurement is kept in ``busy``."""

    def __init__(self, files: list[str], patterns: list[str], wait_s: float) -> None:
        self.files, self.patterns, self.wait_s = files, patterns, wait_s
        self.busy: list[float] = []

    @contextmanager
    def __call__(self):
        stopped = []
        try:
            for pid in _pids(self.files, self.patterns):
                try:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + self.wait_s
            busy = _busy()
            while busy > 0.15 and time.monotonic() < deadline:
                busy = _busy()
            self.busy.append(round(busy, 3))
            yield
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass


def _gzip_size(path: Path) -> dict:
    data = path.read_bytes()
    return {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9, mtime=0))}


def model_sizes(folder: Path) -> list[dict]:
    """Per layer k, the model files fetched: ``progressive`` (model.json, levels 1..k and
    syntheses 1..k: the viewer showing every layer up to k) and ``alone`` (one synthesis:
    ``decode.html?layers=k``), raw and gzipped, from model.json's file list."""
    desc = json.loads((folder / "model.json").read_text())
    files, own = desc["files"], _gzip_size(folder / "model.json")

    def total(names: list[str]) -> dict:
        return {key: own[key] + sum(files[n][key] for n in names)
                for key in ("bytes", "gzip_bytes")}

    out = []
    for k in range(1, len(desc["levels"]) + 1):
        levels = [f for lv in desc["levels"][:k] for f in (lv["files"]["graphs"],
                                                           lv["files"]["arrays"])]
        syntheses = [lv["files"]["synthesis"] for lv in desc["levels"][:k]]
        out.append({"layer": k, "progressive": total(levels + syntheses),
                    "alone": total(levels + syntheses[-1:])})
    return out


def static_sizes(site: Path) -> dict:
    """The decoder, the viewer's scripts and pages, and onnxruntime-web's files."""
    out = {}
    for path in sorted([*site.glob("*.html"), *(site / "app").iterdir(),
                        *(site / "ort").iterdir()]):
        if path.is_file():
            out[str(path.relative_to(site))] = _gzip_size(path)
    return out


def python_ms(data: bytes, model: str, threads: int, repeat: int) -> list[dict]:
    """Per layer: the first decode on a freshly opened model (its synthesis session created
    then) and the best of ``repeat`` after it, onnx backend, in process."""
    out = []
    for k in range(1, bitstream.parse(data).header.layers + 1):
        loaded = open_model(model, "onnx", threads=threads)
        start = time.perf_counter()
        codec.decode(data, k, loaded)
        cold = time.perf_counter() - start
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            codec.decode(data, k, loaded)
            best = min(best, time.perf_counter() - start)
        out.append({"layer": k, "cold_ms": round(cold * 1e3, 1), "warm_ms": round(best * 1e3, 1)})
    return out


class Failed(Exception):
    """A page reported an error or counted other bytes than the server sent."""


def measure_page(chromium: str, origin: str, reports: list, sent: dict, name: str,
                 layers: int | None, threads: int, repeat: int, profile: Path,
                 quiet: Quiet) -> dict:
    sent.clear()
    with quiet():
        report = run_page(chromium, decode_url(origin, name, layers, threads)
                          + f"&repeat={repeat}", reports, profile, timeout_s=170)
    if "error" in report:
        raise Failed(f"{name}: {report['error']}")
    if report["bytes_fetched"] != sent.get(name, 0):  # the page's count, the server's
        raise Failed(f"{name}: the page counted {report['bytes_fetched']} bytes, the server "
                     f"sent {sent.get(name, 0)}")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=5, help="decodes per page (default 5)")
    parser.add_argument("--reloads", type=int, default=3, help="reloads per page, of which "
                        "the median is kept (default 3)")
    parser.add_argument("--rtt", type=float, default=0.3, help="seconds before each .rpn "
                        "answer in the slow-link loads (default 0.3)")
    parser.add_argument("--pause", action="append", default=[], metavar="PIDFILE",
                        help="stop this process while measuring (repeatable)")
    parser.add_argument("--pause-matching", action="append", default=[], metavar="TEXT",
                        help="stop the processes whose command line contains TEXT while "
                        "measuring (repeatable), e.g. 'rpncodec train'")
    parser.add_argument("--wait-quiet", type=float, default=120, metavar="S", help="wait up "
                        "to S seconds before each measurement for the CPUs to be idle")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="save the viewer of "
                        "each file, once done, as DIR/viewer-kodim23-MODE.png")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("web_decode: no chromium on this machine", file=sys.stderr)
        return 1
    quiet = Quiet(args.pause, args.pause_matching, args.wait_quiet)
    rows, files, first = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        coded = tmp / "coded"
        coded.mkdir()
        for mode in MODES:
            if cli(["encode", str(SAMPLE), "-o", str(coded / f"kodim23-{mode}.rpn"),
                    "--model", default_model(mode)]) != 0:
                return 1
        site = tmp / "site"
        website.build_site(coded, site)
        statics = static_sizes(site)
        try:
            delay = {"s": 0.0}
            log: list[tuple[str, int, int, float]] = []
            with site_server(site, delay_s=lambda: delay["s"], log=log) as (origin, reports,
                                                                              sent):
                for mode in MODES:
                    name = f"kodim23-{mode}.rpn"
                    data = (site / name).read_bytes()
                    c = bitstream.parse(data)
                    model = c.header.model
                    files[name] = {"model": model, "mode": mode, "bytes": len(data),
                                   "model_files": model_sizes(site / "models" / model)}
                    python = {}
                    for threads in args.threads:
                        with quiet():
                            python[threads] = python_ms(data, model, threads, args.repeat)
                    for threads in args.threads:
                        profile = tmp / f"profile-{mode}-{threads}"
                        report = measure_page(chromium, origin, reports, sent, name, None,
                                              threads, args.repeat, profile, quiet)
                        again = [measure_page(chromium, origin, reports, sent, name, None,
                                              threads, 1, profile, quiet)["per_layer"]
                                 for _ in range(args.reloads)]
                        reloads = [_median_run(runs) for runs in zip(*again, strict=True)]
                        delay["s"] = args.rtt
                        slow = []
                        for _ in range(args.reloads):
                            log.clear()
                            page = measure_page(chromium, origin, reports, sent, name, None,
                                                threads, 1, profile, quiet)
                            slow.append(after_arrival(page, log, name, c))
                        delay["s"] = 0.0
                        slow_layers = [sorted(ms, key=lambda a: a[1])[len(ms) // 2]
                                       for ms in zip(*slow, strict=True)]
                        for p, r in zip(report["per_layer"], reloads, strict=True):
                            k = p["layer"]
                            rows.append({
                                "file": name, "model": model, "mode": mode,
                                "threads": report["threads"], "layer": k,
                                "size": f"{p['width']}x{p['height']}", "bytes": p["bytes"],
                                "prefix_size": bitstream.prefix_size(c, k),
                                "cold_ms": round(p["decode_ms"], 1),
                                "warm_ms": round(p.get("warm_ms", p["decode_ms"]), 1),
                                "cold_parts": _parts(p.get("parts")),
                                "warm_parts": _parts(p.get("warm_parts", p.get("parts"))),
                                "shown_ms": round(p["shown_ms"]),
                                "reload_decode_ms": round(r["decode_ms"], 1),
                                "reload_shown_ms": round(r["shown_ms"]),
                                "reload_parts": _parts(r.get("parts")),
                                "slow_arrived_ms": round(slow_layers[k - 1][0]),
                                "after_arrival_ms": round(slow_layers[k - 1][1]),
                                "python_cold_ms": python[threads][k - 1]["cold_ms"],
                                "python_warm_ms": python[threads][k - 1]["warm_ms"]})
                        print(f"{name} threads={report['threads']}: " + ", ".join(
                            f"L{r['layer']} warm {r['warm_ms']} cold {r['cold_ms']} reload "
                            f"{r['reload_shown_ms']} ms" for r in rows if r["file"] == name
                            and r["threads"] == report["threads"]), file=sys.stderr)
                    one = measure_page(chromium, origin, reports, sent, name, 1,
                                       max(args.threads), 1, tmp / f"profile-{mode}-layer1",
                                       quiet)
                    first[name] = {"bytes_fetched": one["bytes_fetched"],
                                   "server_sent": sent.get(name, 0),
                                   "prefix_size": bitstream.prefix_size(c, 1),
                                   "requests": one["requests"],
                                   "shown_ms": round(one["per_layer"][0]["shown_ms"])}
                    if one["bytes_fetched"] != first[name]["prefix_size"]:
                        raise Failed(f"{name}: layer 1 fetched {one['bytes_fetched']} bytes, "
                                     f"its prefix is {first[name]['prefix_size']}")
                if args.screenshots:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    for mode in MODES:
                        url = decode_url(origin, f"kodim23-{mode}.rpn", report="",
                                         page="view.html")
                        with quiet():
                            screenshot(chromium, url,
                                       args.screenshots / f"viewer-kodim23-{mode}.png",
                                       tmp / f"profile-shot-{mode}", 820, 920)
        except Failed as exc:
            print(f"web_decode: {exc}", file=sys.stderr)
            return 1
    print("\n".join(table(rows, files)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": shlex.join(["python", "bench/web_decode.py", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d"), "browser": _browser(chromium),
            "machine": platform.machine(), "processor": _cpu(), "cores": os.cpu_count(),
            "repeat": args.repeat, "reloads": args.reloads, "rtt_s": args.rtt,
            "defaults": {m: default_model(m) for m in MODES},
            "rows": rows, "files": files, "layer1_only": first, "static": statics,
            "busy_before": {"max": max(quiet.busy), "values": quiet.busy}},
            indent=1) + "\n")
    return 0


def table(rows: list[dict], files: dict) -> list[str]:
    """A Markdown table per file: decode times (Chromium warm / cold, 1 and 2 threads; reload;
    Python), prefix bytes and gzipped model bytes per layer."""
    out = []
    for name, info in files.items():
        out += ["", f"{info['model']} ({name}, {info['bytes']:,} bytes)", "",
                "| layer | size | .rpn prefix | model gzip, progressive / alone | Chromium 1 "
                "thread warm / cold ms | 2 threads warm / cold ms | 2 threads, cached model: "
                "reload on screen / after arrival ms | Python 1 / 2 threads warm ms |",
                "|---|---|---|---|---|---|---|---|"]
        for m in info["model_files"]:
            k = m["layer"]
            by = {r["threads"]: r for r in rows if r["file"] == name and r["layer"] == k}
            one, two = by.get(1), by.get(2)

            def cell(r: dict | None, *keys: str) -> str:
                return " / ".join(f"{r[key]:.0f}" for key in keys) if r else "-"

            out.append(
                f"| {k} | {(one or two)['size']} | {(one or two)['bytes']:,} | "
                f"{m['progressive']['gzip_bytes'] / 1e6:.2f} / {m['alone']['gzip_bytes'] / 1e6:.2f}"
                f" MB | {cell(one, 'warm_ms', 'cold_ms')} | {cell(two, 'warm_ms', 'cold_ms')} | "
                f"{cell(two, 'reload_shown_ms', 'after_arrival_ms')} | "
                f"{cell(one, 'python_warm_ms')} / {cell(two, 'python_warm_ms')} |")
    return out


def after_arrival(report: dict, log: list[tuple[str, int, int, float]], name: str,
                  container: bitstream.Container) -> list[tuple[float, float]]:
    """Per layer: (ms from the page's start to the server's sending the last of that layer's
    bytes (``log``), ms from then to the layer on screen); the page's clock is
    ``time_origin`` + ``shown_ms``."""
    out = []
    for p in report["per_layer"]:
        end = bitstream.prefix_size(container, p["layer"])
        sent = min(t for n, start, size, t in log if n == name and start < end <= start + size)
        arrived = sent * 1e3 - report["time_origin"]
        out.append((arrived, p["shown_ms"] - arrived))
    return out


def _median_run(runs: tuple[dict, ...]) -> dict:
    """Of one layer's reloads, the one on screen at the median time."""
    return sorted(runs, key=lambda r: r["shown_ms"])[len(runs) // 2]


def _parts(timings: dict | None) -> dict | None:
    """A layer's decode split: entropy decoding, float64 networks, synthesis (ms)."""
    if not timings:
        return None
    return {"entropy_ms": round(timings["entropyMs"], 1),
            "networks_ms": round(timings["graphsMs"], 1),
            "synthesis_ms": round(timings["synthesisMs"], 1)}


def _browser(chromium: str) -> str:
    try:
        return subprocess.run([chromium, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


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
