"""The ``rpncodec`` command line. Every verb is ``main(argv) -> int`` so tests run it in-process.

Errors caused by input become one line on stderr (``rpncodec: error: ...``) and exit status 1;
usage errors exit 2 (argparse); results go to stdout, progress and warnings to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, bitstream
from .backend import BACKENDS, Coder, open_model
from .bitstream import level_size
from .errors import InputImageError, RpncodecError
from .files import atomic_write_bytes, check_not_same_file
from .registry import REGISTRY, WEIGHTS_DIR, default_model

if TYPE_CHECKING:
    from . import codec

# numpy, Pillow and the codec are imported by the commands that use them: `info` and
# `truncate` start without them (README, "Backends").

SAMPLE = Path(__file__).parent / "samples" / "kodim23.png"
MAX_RPN_BYTES = 2**31


def _read_rpn(path: str) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise InputImageError(f"{path} is a directory, not an .rpn file")
    try:
        if p.stat().st_size > MAX_RPN_BYTES:
            raise InputImageError(f"{path} is larger than any .rpn file rpncodec writes")
        return p.read_bytes()
    except FileNotFoundError:
        raise InputImageError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputImageError(f"cannot read {path}: {exc.strerror}") from None


def _layers_note(decoded: codec.Decoded) -> str | None:
    """Why fewer layers than the file declares were decoded, if they were."""
    if decoded.layers == decoded.declared:
        return None
    c = decoded.container
    why = "file is truncated" if c.truncated else f"layer {c.damaged} is damaged ({c.damage})"
    return f"{why}: decoded {decoded.layers} of {decoded.declared} layers"


def _encoder_model(model: str | None, mode: str | None, device: str = "cpu",
                   backend: str | None = None) -> Coder:
    """--model, or the shipped model of --mode, on --backend; a model of another mode is
    refused."""
    loaded = open_model(model or (mode and default_model(mode)), backend, device)
    if mode and loaded.config.mode != mode:
        raise RpncodecError(f"--mode {mode} but {loaded.name} is a {loaded.config.mode} model")
    return loaded


def _non_negative(text: str) -> int:
    """argparse type: an integer >= 0 (argparse reports a bad one in one line)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def cmd_encode(args: argparse.Namespace) -> int:
    from . import codec
    from .imageio import load_image

    if Path(args.input).is_dir():
        return _encode_folder(Path(args.input), Path(args.output), args)
    check_not_same_file(args.input, args.output)
    image = load_image(args.input)
    backend = args.backend or ("torch" if args.refine else None)
    loaded = _encoder_model(args.model, args.mode, args.device, backend)
    t0 = time.perf_counter()
    data = codec.encode(image, loaded, args.tile, args.refine)
    seconds = time.perf_counter() - t0
    atomic_write_bytes(args.output, data)
    h, w = image.shape[:2]
    print(f"{args.output}: {loaded.name}, {w}x{h}, {len(data)} bytes "
          f"({8 * len(data) / (h * w):.4f} bpp, all layers), {seconds:.2f} s", file=sys.stderr)
    return 0


def _encode_folder(folder: Path, out: Path, args: argparse.Namespace) -> int:
    """Encode every image under ``folder`` to ``out`` (``rpncodec.bulk``): resumable, in
    ``--workers`` processes or on the Dask cluster at ``--scheduler``."""
    from .bulk import Settings, encode_folder

    settings = Settings(args.model, args.mode, args.tile, args.device, refine=args.refine)
    encode_folder(folder, out, settings, args.workers, args.scheduler, args.force)
    return 0


def _remote(location: str):
    """Open a URL's header for lazy layer reads (``rpncodec.remote``)."""
    from . import remote

    return remote.open(location)


def _print_transfer(source, stream=None) -> None:
    """What a URL read cost: one line per ranged read, then the total (stderr by default)."""
    stream = stream or sys.stderr
    for line in source.transfer_lines():
        print(f"fetch: {line}", file=stream)


def cmd_decode(args: argparse.Namespace) -> int:
    from . import codec
    from .imageio import save_image
    from .remote import is_url

    if is_url(args.input):
        source = _remote(args.input)
        decoded = source.decode(args.layers, args.model, args.device, args.backend)
    else:
        check_not_same_file(args.input, args.output)
        source = None
        decoded = codec.decode(_read_rpn(args.input), args.layers, args.model, args.device,
                               args.backend)
    note = _layers_note(decoded) if args.layers is None else None
    if note:
        print(f"rpncodec: warning: {note}", file=sys.stderr)
    save_image(decoded.image, args.output)
    if args.verbose and source is not None:
        _print_transfer(source)
    if args.verbose:
        h, w = decoded.image.shape[:2]
        used = decoded.container.byte_ranges[decoded.layers - 1][1]
        print(f"{args.output}: {decoded.layers} of {decoded.declared} layers, {w}x{h}, "
              f"{used} bytes of .rpn used", file=sys.stderr)
    return 0


def _info_table(h: bitstream.Header, ranges: list[tuple[int, int]]) -> None:
    print("layer  bytes      start-end          cumulative bytes  cumulative bpp  resolution")
    for k, (start, end) in enumerate(ranges, 1):
        # a spatial layer k is at 1/2**(layers-k) of the size; bpp counts its own pixels
        shift = h.layers - k if h.mode == "spatial" else 0
        lh, lw = level_size(h.height, h.width, shift)
        bpp = 8 * end / (lh * lw)
        print(f"{k:>5}  {end - start:>9}  {start:>8}-{end:<8}  {end:>16}  {bpp:>14.4f}"
              f"  {lw}x{lh}")


def _info_remote(args: argparse.Namespace) -> int:
    """``info URL``: the header and each layer's byte range from the 8-byte length fields only
    (the payloads are not downloaded, so their CRCs are not checked)."""
    from .remote import PROBE

    source = _remote(args.input)
    h = source.header
    ranges = source.layout()
    print(f"file:    {args.input} (remote: header and length fields read)")
    print(f"model:   {h.model} (weights {h.digest.hex()}), {h.mode} mode")
    print(f"image:   {h.width}x{h.height}, {h.layers} layers declared, {len(ranges)} present")
    _info_table(h, ranges)
    if len(ranges) < h.layers:
        print(f"file ends after layer {len(ranges)}")
    print("fetch   bytes a client transfers to decode the first k layers (header probe, "
          "payloads, next length field)")
    for k, (_, end) in enumerate(ranges, 1):
        more = bitstream.CHUNK_OVERHEAD if k < h.layers else 0
        print(f"{k:>5}  {max(end + more, PROBE):>9}")
    if args.verbose or args.remote:
        _print_transfer(source, sys.stdout)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .remote import is_url

    if is_url(args.input):
        return _info_remote(args)
    data = _read_rpn(args.input)
    c = bitstream.parse(data)
    h = c.header
    print(f"file:    {args.input} ({len(data)} bytes)")
    print(f"model:   {h.model} (weights {h.digest.hex()}), {h.mode} mode")
    print(f"image:   {h.width}x{h.height}, {h.layers} layers declared, {c.available} complete")
    _info_table(h, c.byte_ranges)
    if c.damaged:
        print(f"layer {c.damaged} is damaged ({c.damage})")
    elif c.truncated:
        print(f"file is truncated after layer {c.available}")
    return 0


def cmd_truncate(args: argparse.Namespace) -> int:
    from .remote import is_url

    if is_url(args.input):
        source = _remote(args.input)
        data = source.truncated(args.layers)
    else:
        check_not_same_file(args.input, args.output)
        source, data = None, bitstream.truncate(_read_rpn(args.input), args.layers)
    atomic_write_bytes(args.output, data)
    if args.verbose and source is not None:
        _print_transfer(source)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a folder of .rpn files over HTTP (``rpncodec.serve``; the serve extra)."""
    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputImageError(f"{args.folder} is not a folder of .rpn files")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise RpncodecError("rpncodec serve needs Starlette and uvicorn: "
                            "pip install 'rpncodec[serve]'") from None
    from .serve import ServeConfig
    from .serve.app import serve

    if args.workers < 1 or args.max_pixels < 1 or args.time_budget <= 0 or args.cache_mb < 0:
        raise RpncodecError("--workers, --max-pixels and --time-budget must be positive")
    extra = tuple((open_model(path).name, str(Path(path).resolve()))
                  for path in args.model or [])
    serve(ServeConfig(folder, workers=args.workers, cache_bytes=int(args.cache_mb * 2**20),
                      max_pixels=args.max_pixels, time_budget_s=args.time_budget,
                      models=extra), args.host, args.port)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    for e in REGISTRY.values():
        path = WEIGHTS_DIR / e.file
        size = f"{path.stat().st_size / 1e6:.1f}MB" if path.exists() else "missing"
        print(f"{e.name}\t{e.mode}\t{e.layers} layer{'s' * (e.layers > 1)}\t{size}\t"
              f"{'default' if e.default else '-'}\t{e.description}")
    return 0


def _print_results(report: dict) -> None:
    from .utils.evaluate import format_table

    print(format_table(report))


def cmd_eval(args: argparse.Namespace) -> int:
    from .utils.evaluate import evaluate_folder, evaluate_sweep, write_json
    from .zoo import load_model

    names = args.model or [None]
    if len(names) > 1:
        report = evaluate_sweep(Path(args.folder), [load_model(m) for m in names],
                                args.name or "single-sweep", args.per_image)
    else:
        report = evaluate_folder(Path(args.folder), load_model(names[0]), args.per_image,
                                 args.refine)
    _print_results(report)
    if args.json:
        write_json(report, args.json)
    return 0


def cmd_anchors(args: argparse.Namespace) -> int:
    from .utils.anchors import run_anchor, target_rates
    from .utils.evaluate import write_json
    from .zoo import load_model

    mean, per_image = ([], {}) if args.codec not in ("jpeg2000-layered", "jpeg2000-resolutions") \
        else target_rates(args.match, args.bpp)
    models = [load_model(m) for m in args.model or []]
    report = run_anchor(Path(args.folder), args.codec, mean, per_image, args.per_image,
                        settings=args.bpp if args.codec == "jpeg2000" else args.quality,
                        models=models)
    _print_results(report)
    if args.json:
        write_json(report, args.json)
    return 0


def cmd_bdrate(args: argparse.Namespace) -> int:
    from .utils.bdrate import bdrate, format_rows, load_results, to_json
    from .utils.evaluate import write_json

    test, anchor = load_results(args.test, args.metric), load_results(args.anchor, args.metric)
    rows = bdrate(test, anchor)
    print(format_rows(test, anchor, rows, args.metric))
    if args.json:
        write_json(to_json(test, anchor, rows, args.metric), args.json)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .utils.plot import plot

    plot(args.results, args.output, args.title)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .utils.report import build_report, screenshot

    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputImageError(f"{args.folder} is not a folder of results JSONs")
    index = build_report(folder, Path(args.out), Path(args.images) if args.images else None,
                         args.model, args.crops, args.crop, args.crop_images)
    print(index)
    if args.screenshot:
        screenshot(index, Path(args.screenshot))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Encode the bundled sample with the default model (or --mode's) and decode every
    layer."""
    from .imageio import load_image, save_image
    from .utils.evaluate import evaluate_image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    image = load_image(args.image)
    loaded = _encoder_model(args.model, args.mode)
    outputs: dict = {}
    rows = evaluate_image(image, loaded, outputs)
    atomic_write_bytes(out / "sample.rpn", outputs["data"])
    print(f"{args.image} ({image.shape[1]}x{image.shape[0]}) with {loaded.name}: "
          f"encoded in {rows[0]['encoding_time']:.2f} s -> {out / 'sample.rpn'}")
    print("layer  size      bytes   bpp     PSNR-RGB  MS-SSIM  decode s  output")
    for k, (row, rec) in enumerate(zip(rows, outputs["layers"], strict=True), 1):
        png = out / f"layer{k}.png"
        save_image(rec, png)
        ms = "  -   " if row["ms_ssim"] is None else f"{row['ms_ssim']:.4f}"
        size = f"{rec.shape[1]}x{rec.shape[0]}"
        print(f"{k:>5}  {size:<8} {row['bytes']:>6}  {row['bpp']:.4f}  {row['psnr']:8.2f}  "
              f"{ms}   {row['decoding_time']:7.2f}  {png}")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """Write a model's ONNX export (graphs, arrays, manifest) for the onnx backend."""
    try:
        from .onnx_export import export_onnx
        from .zoo import load_model
    except ImportError:
        raise RpncodecError("export-onnx needs PyTorch and onnx: "
                            "pip install 'rpncodec[train]'") from None
    loaded = load_model(args.model)
    print(export_onnx(loaded, args.output))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training.trainer import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rpncodec", description=(
        "Scalable learned image codec (reciprocal pyramid network). One file, several layers: "
        "any prefix of whole layers decodes."))
    p.add_argument("--version", action="version", version=f"rpncodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("encode", help="encode an image into one .rpn file with all layers "
                       "(or every image of a folder into a folder)")
    s.add_argument("input", help="image file, or a folder of images")
    s.add_argument("-o", "--output", required=True,
                   help=".rpn file, or a folder for a folder (one .rpn per image)")
    s.add_argument("--model", help="shipped model name or exported .pt file (default: "
                   "the default model)")
    s.add_argument("--mode", choices=["quality", "spatial"], help="quality: layers add "
                   "quality (default); spatial: layers decode at 1/4, 1/2 and full resolution "
                   "(picks that mode's shipped model)")
    s.add_argument("--tile", type=int, default=bitstream.DEFAULT_TILE,
                   help=f"tile side, a multiple of {bitstream.TILE_MULTIPLE} up to "
                   f"{bitstream.MAX_TILE} (default {bitstream.DEFAULT_TILE}); larger images are "
                   "coded in independent tiles")
    s.add_argument("--device", default="cpu", help="where the network runs: cpu (default), "
                   "cuda or cuda:N; decode on the same kind of device for bit-exact output")
    s.add_argument("--workers", type=int, default=1, help="folder: encode in this many "
                   "processes (default 1); finished files are never redone, so rerunning an "
                   "interrupted command resumes it")
    s.add_argument("--scheduler", help="folder: run on the Dask cluster whose scheduler is at "
                   "this address (tcp://host:8786; needs rpncodec[cluster] and paths the "
                   "workers can see)")
    s.add_argument("--force", action="store_true", help="folder: re-encode files that are "
                   "already finished")
    s.add_argument("--backend", choices=BACKENDS, help="what runs the networks: onnx (ONNX "
                   "Runtime, the default where installed: no torch, fast start) or torch; "
                   "files are the same either way")
    s.add_argument("--refine", type=_non_negative, default=0, metavar="STEPS",
                   help="search the latents for the best file this many steps (0: off, "
                   "default; 30 is a good choice): smaller, better files for the same decoder; "
                   "30 steps take about a minute for a 768x512 image; needs torch (README, "
                   "Encoder-side refinement)")
    s.set_defaults(func=cmd_encode)

    url_help = ("an .rpn file, or its URL (http(s)://, or any fsspec filesystem such as "
                "file:// or s3://): only the bytes of the layers asked for are read")
    s = sub.add_parser("decode", help="decode the first K layers of a .rpn file to an image")
    s.add_argument("input", help=url_help)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--layers", type=int, help="how many layers to use (default: all)")
    s.add_argument("--model", help="weights to decode with (default: the model the file names)")
    s.add_argument("--device", default="cpu", help="where the network runs: cpu (default), "
                   "cuda or cuda:N (bit-exact only on the kind of device that encoded)")
    s.add_argument("-v", "--verbose", action="store_true", help="report the bytes used and, "
                   "for a URL, every ranged read and the bytes it transferred")
    s.add_argument("--backend", choices=BACKENDS, help="what runs the networks: onnx (ONNX "
                   "Runtime, the default where installed: no torch, fast start) or torch; "
                   "files are the same either way")
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("info", help="show a .rpn file's model, size and layer byte ranges")
    s.add_argument("input", help=url_help)
    s.add_argument("--remote", action="store_true", help="for a URL: also list the ranged "
                   "reads info made and the bytes each transferred")
    s.add_argument("-v", "--verbose", action="store_true", help="same as --remote")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("truncate", help="keep the first K layers (a byte copy, no re-encode)")
    s.add_argument("input", help=url_help)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--layers", type=int, required=True)
    s.add_argument("-v", "--verbose", action="store_true", help="for a URL: report every "
                   "ranged read and the bytes it transferred")
    s.set_defaults(func=cmd_truncate)

    from .serve.config import (
        DEFAULT_CACHE_BYTES,
        DEFAULT_MAX_PIXELS,
        DEFAULT_TIME_BUDGET_S,
        default_workers,
    )

    s = sub.add_parser("serve", help="serve a folder of .rpn files over HTTP: ranged file "
                       "reads, decoded layers as PNG/WebP, a progressive viewer (README, Serving)")
    s.add_argument("folder", help="folder of .rpn files, served as /files/NAME.rpn, "
                   "/images/NAME?layers=K, /images/NAME/info and /view/NAME")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 for every interface)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--workers", type=int, default=default_workers(), help="decoding processes "
                   f"(default {default_workers()} here: one per core, at most 4)")
    s.add_argument("--cache-mb", type=float, default=DEFAULT_CACHE_BYTES / 2**20,
                   help="memory for decoded layers, in MiB (default "
                   f"{DEFAULT_CACHE_BYTES // 2**20})")
    s.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest "
                   f"decoded layer served, in pixels (default {DEFAULT_MAX_PIXELS}, "
                   "1/16 of the decoder's limit)")
    s.add_argument("--time-budget", type=float, default=DEFAULT_TIME_BUDGET_S,
                   help=f"seconds one decode may take (default {DEFAULT_TIME_BUDGET_S:g})")
    s.add_argument("--model", action="append", help="extra weights file for files that name "
                   "it (its file name without .pt); repeat for several")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("models", help="list the shipped models")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("eval", help="per-layer bpp, PSNR and MS-SSIM over a folder of images")
    s.add_argument("folder")
    s.add_argument("--model", action="append", help="shipped name or .pt file (default: the "
                   "default model); repeated: single-layer models evaluated as one rate sweep")
    s.add_argument("--name", help="name of a sweep of several --model (default single-sweep)")
    s.add_argument("--json", help="write CompressAI-shaped results JSON here")
    s.add_argument("--per-image", action="store_true", help="include per-image rows in the JSON")
    s.add_argument("--refine", type=_non_negative, default=0, metavar="STEPS",
                   help="encode with this many latent refinement steps (encode --refine)")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("anchors", help="classical anchors over a folder, same JSON as eval")
    s.add_argument("folder")
    s.add_argument("--codec", required=True, help="jpeg2000-layered, jpeg2000-resolutions, "
                   "jpeg2000, jpeg, webp, avif, jxl, simulcast or simulcast-resolutions "
                   "(README, Evaluation)")
    s.add_argument("--match", help="rpncodec eval JSON (with --per-image) whose rates to match")
    s.add_argument("--bpp", type=float, nargs="+", help="cumulative layer rates (layered), total "
                   "rates (resolutions) or the rate grid (jpeg2000) instead")
    s.add_argument("--quality", type=float, nargs="+", help="quality grid of jpeg/webp/avif/jxl")
    s.add_argument("--model", action="append", help="simulcast: one single-layer model per "
                   "layer, lowest rate first (repeat the option)")
    s.add_argument("--json", help="write CompressAI-shaped results JSON here")
    s.add_argument("--per-image", action="store_true", help="include per-image rows in the JSON")
    s.set_defaults(func=cmd_anchors)

    s = sub.add_parser("bdrate", help="Bjontegaard deltas of TEST against ANCHOR, per layer")
    s.add_argument("test", help="results JSON (join files of one codec with commas)")
    s.add_argument("anchor", help="results JSON (join files of one codec with commas)")
    s.add_argument("--metric", choices=["psnr", "ms-ssim"], default="psnr")
    s.add_argument("--json", help="also write the table as JSON here")
    s.set_defaults(func=cmd_bdrate)

    s = sub.add_parser("plot", help="PSNR and MS-SSIM against bpp of results JSONs (PNG)")
    s.add_argument("results", nargs="+")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--title")
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("report", help="static HTML page: RD plots, BD-rates, crops")
    s.add_argument("folder", help="folder of results JSONs (e.g. results/kodak)")
    s.add_argument("--out", required=True, help="output folder (index.html, plots, crops)")
    s.add_argument("--images", help="the images the results were measured on (for the crops)")
    s.add_argument("--model", action="append", help="model(s) for the crops (default: every "
                   "shipped model with a results file)")
    s.add_argument("--crops", type=int, default=2, help="how many images to crop (default 2)")
    s.add_argument("--crop-images", nargs="+", help="file names of the images to crop instead")
    s.add_argument("--crop", type=int, default=256, help="crop side in pixels (default 256)")
    s.add_argument("--screenshot", help="also render the page in headless Chromium to this PNG")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("demo", help="encode the bundled sample and decode every layer")
    s.add_argument("--image", default=str(SAMPLE))
    s.add_argument("--model")
    s.add_argument("--mode", choices=["quality", "spatial"],
                   help="use this mode's shipped model (spatial: 1/4, 1/2, full resolution)")
    s.add_argument("--out", default="demo-out")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("export-onnx", help="export a model's networks as ONNX graphs (plus "
                       "arrays and a manifest) for the torch-free onnx backend")
    s.add_argument("model", help="shipped model name or exported .pt file")
    s.add_argument("-o", "--output", required=True, help="folder to write (replaced if it "
                   "exists); decode with --model FOLDER")
    s.set_defaults(func=cmd_export_onnx)

    from .training.config import add_arguments

    s = sub.add_parser("train", help="train a model (see README, Training)")
    add_arguments(s)
    s.set_defaults(func=cmd_train)
    return p


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"rpncodec: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = warnings.showwarning
    warnings.showwarning = _warning_line
    try:
        return args.func(args)
    except RpncodecError as exc:
        print(f"rpncodec: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rpncodec: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
