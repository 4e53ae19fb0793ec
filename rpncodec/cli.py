"""The ``rpncodec`` command line. Every verb is ``main(argv) -> int`` so tests run it in-process.

Errors caused by input become one line on stderr (``rpncodec: error: ...``) and exit status 1;
usage errors exit 2 (argparse); results go to stdout, progress and warnings to stderr
(:data:`EXIT_STATUSES`). The verbs run the functions of the Python interface
(:mod:`rpncodec.api`), so both give the same files and pixels.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, bitstream
from .api import RpnInfo, encode_pixels, load_encoder, partial_note, read_rpn
from .backend import BACKENDS, open_model
from .errors import InputImageError, RpncodecError
from .files import atomic_write_bytes, check_not_same_file
from .registry import REGISTRY, WEIGHTS_DIR, default_model

if TYPE_CHECKING:
    from .remote import RemoteRpn

# numpy, Pillow and the codec are imported by the commands that use them: `info` and
# `truncate` start without them (docs/performance.md).

SAMPLE = Path(__file__).parent / "samples" / "kodim23.png"
ENCODE_MODES = ("quality", "spatial", "spatial-quality")  # what --mode picks a shipped model for
EXIT_STATUSES = (
    (0, "success (decode without --strict: also when a damaged or truncated file decoded "
        "fewer layers than it declares, with a warning on stderr)"),
    (1, "an error caused by the input or the environment: unreadable or damaged file, "
        "unknown model, missing weights, unwritable output, --strict decode of a damaged or "
        "truncated file; one line on stderr starting 'rpncodec: error:'"),
    (2, "bad command-line usage: unknown option, missing or malformed argument (argparse)"),
    (130, "interrupted (Ctrl-C); no half-written output is left"),
)


def _non_negative(text: str) -> int:
    """argparse type: an integer >= 0 (argparse reports a bad one in one line)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _step(text: str) -> int:
    """argparse type: a residual layer's step, 1-255."""
    value = int(text)
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{text} is not a step of 1 to 255")
    return value


def cmd_encode(args: argparse.Namespace) -> int:
    from .imageio import load_image

    if Path(args.input).is_dir():
        return _encode_folder(Path(args.input), Path(args.output), args)
    check_not_same_file(args.input, args.output)
    image = load_image(args.input, args.max_pixels)
    t0 = time.perf_counter()
    data, loaded = encode_pixels(image, args.model, args.mode, args.tile, args.refine,
                                 args.backend, args.device, args.exact_colours,
                                 args.residual_layers, args.extra_layers)
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

    settings = Settings(args.model, args.mode, args.tile, args.device, refine=args.refine,
                        max_pixels=args.max_pixels, exact_colours=args.exact_colours,
                        residual_layers=args.residual_layers,
                        extra_layers=tuple(args.extra_layers))
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
    from .api import decode_rpn
    from .imageio import save_image
    from .remote import is_url

    if is_url(args.input):
        source = _remote(args.input)
    else:
        check_not_same_file(args.input, args.output)
        source = None
    decoded = decode_rpn(source or args.input, layers=args.layers, width=args.width,
                         model=args.model, backend=args.backend, device=args.device,
                         strict=args.strict, max_pixels=args.max_pixels)
    note = partial_note(decoded) if args.layers is None and args.width is None else None
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


def _info_head(args: argparse.Namespace, meta: RpnInfo, where: str, present: str) -> None:
    """The header lines and the per-layer table of ``info`` (a spatial layer's bpp counts
    its own pixels)."""
    print(f"file:    {args.input} ({where})")
    print(f"model:   {meta.model} (weights {meta.digest}), {meta.mode} mode, "
          f"format version {meta.version}")
    print(f"image:   {meta.width}x{meta.height}, {meta.declared} layers declared, "
          f"{meta.available} {present}")
    if meta.exact_colours:
        corrected = ", ".join(map(str, meta.corrected_layers))
        print(f"colours: {meta.exact_colours} exact colours"
              + (f", colour corrections in layers {corrected}" if corrected else ""))
    if meta.residual_steps:
        print("residual layers: " + ", ".join(
            f"{k} (step {s})" for k, s in enumerate(meta.residual_steps, 1) if s))
    print("layer  bytes      start-end          cumulative bytes  cumulative bpp  resolution")
    for li in meta.layers:
        print(f"{li.layer:>5}  {li.bytes:>9}  {li.start:>8}-{li.end:<8}  {li.end:>16}  "
              f"{li.bpp:>14.4f}  {li.width}x{li.height}")


def _info_remote(args: argparse.Namespace, source: RemoteRpn) -> int:
    """``info URL``: the header and each layer's byte range from the 8-byte length fields only
    (the payloads are not downloaded, so their CRCs are not checked)."""
    from .api import info
    from .remote import PROBE

    meta = info(source)
    _info_head(args, meta, "remote: header and length fields read", "present")
    if meta.truncated:
        print(f"file ends after layer {meta.available}")
    print("fetch   bytes a client transfers to decode the first k layers (header probe, "
          "payloads, next length field)")
    for li in meta.layers:
        more = bitstream.CHUNK_OVERHEAD if li.layer < meta.declared else 0
        print(f"{li.layer:>5}  {max(li.end + more, PROBE):>9}")
    if args.verbose or args.remote:
        _print_transfer(source, sys.stdout)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .api import info
    from .remote import is_url

    if is_url(args.input):
        return _info_remote(args, _remote(args.input))
    meta = info(read_rpn(args.input))
    _info_head(args, meta, f"{meta.size} bytes", "complete")
    if meta.damaged:
        print(f"layer {meta.damaged} is damaged ({meta.damage})")
    elif meta.truncated:
        print(f"file is truncated after layer {meta.available}")
    return 0


def cmd_truncate(args: argparse.Namespace) -> int:
    from .remote import is_url

    if is_url(args.input):
        source = _remote(args.input)
        data = source.truncated(args.layers)
    else:
        check_not_same_file(args.input, args.output)
        source, data = None, bitstream.truncate(read_rpn(args.input), args.layers)
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
    if min(args.tile_cache_mb, args.quality_full_scale, args.max_decodes_per_worker,
           args.worker_max_mb) < 0 or args.request_timeout <= 0:
        raise RpncodecError("--request-timeout must be positive; --tile-cache-mb, "
                            "--quality-full-scale, --max-decodes-per-worker and "
                            "--worker-max-mb must not be negative")
    extra = tuple((open_model(path).name, str(Path(path).resolve()))
                  for path in args.model or [])
    serve(ServeConfig(folder, workers=args.workers, cache_bytes=int(args.cache_mb * 2**20),
                      max_pixels=args.max_pixels, time_budget_s=args.time_budget,
                      models=extra, tile_cache_bytes=int(args.tile_cache_mb * 2**20),
                      quality_full_scale=args.quality_full_scale,
                      max_decodes_per_worker=args.max_decodes_per_worker,
                      worker_max_bytes=int(args.worker_max_mb * 2**20),
                      request_timeout_s=args.request_timeout), args.host, args.port)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """One tab-separated line per shipped model: name, mode, layers, size, whether it is the
    default of its mode (what encode uses with that --mode), description."""
    defaults = {default_model(mode) for mode in ENCODE_MODES}
    for e in REGISTRY.values():
        path = WEIGHTS_DIR / e.file
        size = f"{path.stat().st_size / 1e6:.1f}MB" if path.exists() else "missing"
        print(f"{e.name}\t{e.mode}\t{e.layers} layer{'s' * (e.layers > 1)}\t{size}\t"
              f"{'default' if e.name in defaults else '-'}\t{e.description}")
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
    from .utils.anchors import MATCHED, run_anchor, target_rates
    from .utils.evaluate import write_json
    from .zoo import load_model

    mean, per_image = ([], {}) if args.codec not in MATCHED else target_rates(
        args.match, args.bpp, ordered=args.codec == "jpeg2000-spatial-quality")
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
    loaded = load_encoder(args.model, args.mode)
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


def cmd_web(args: argparse.Namespace) -> int:
    """Write a static site that decodes a folder's .rpn files in the browser
    (``rpncodec.website``; docs/browser.md)."""
    from .website import build_site

    summary = build_site(args.folder, args.output, web=args.web)
    for f in summary.files:
        if f.problem:
            print(f"rpncodec: warning: {f.file}: {f.problem}", file=sys.stderr)
    print(f"{summary.out}: {len(summary.files)} file{'s' * (len(summary.files) > 1)}, models "
          f"{', '.join(summary.models)}, {summary.bytes / 1e6:.1f} MB; open "
          f"index.html from any static host that honours Range requests, e.g. "
          f"python -m rpncodec.website.preview {summary.out}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training.trainer import run

    return run(args)


def _command(sub, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand: ``summary`` (what it does) is its line in ``rpncodec --help`` and the
    start of its own ``--help``."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def exit_statuses_text(width: int = 78) -> str:
    """:data:`EXIT_STATUSES` as the plain-text list ``rpncodec --help`` ends with, wrapped at
    ``width`` (by hand: importing textwrap would cost every command's start)."""
    lines = ["exit statuses:"]
    for code, meaning in EXIT_STATUSES:
        first, *words = meaning.split()
        line = f"  {code:<5}{first}"
        for word in words:
            if len(line) + 1 + len(word) > width:
                lines.append(line)
                line = " " * 7 + word
            else:
                line += " " + word
        lines.append(line)
    return "\n".join(lines)


def _max_pixels_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--max-pixels``: the decompression limit (rpncodec.limits), checked from the size
    ``what`` declares before anything is decoded."""
    from .limits import MAX_IMAGE_PIXELS

    parser.add_argument("--max-pixels", type=_non_negative, metavar="N", help=f"warn when "
                        f"{what} declares more than N pixels and refuse it above 2N, before "
                        f"decoding anything (default {MAX_IMAGE_PIXELS}, Pillow's "
                        "MAX_IMAGE_PIXELS; 0: no limit)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rpncodec", description=(
        "Scalable learned image codec (reciprocal pyramid network).\n"
        "One file, several layers: any prefix of whole layers decodes."),
        epilog=exit_statuses_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"rpncodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = _command(sub, "encode", "encode an image into one .rpn file with all layers "
                       "(or every image of a folder into a folder)")
    s.add_argument("input", help="image file, or a folder of images")
    s.add_argument("-o", "--output", required=True,
                   help=".rpn file, or a folder for a folder (one .rpn per image)")
    s.add_argument("--model", help="shipped model name or exported .pt file (default: "
                   "the default model), or auto: every candidate model of the mode codes the "
                   "image and the best file is kept")
    s.add_argument("--mode", choices=ENCODE_MODES, help="quality: layers add "
                   "quality (default); spatial: layers decode at 1/4, 1/2 and full resolution; "
                   "spatial-quality: 1/4, 1/2, then full resolution at increasing quality "
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
                   "30 steps take about a minute for a 768x512 image; needs torch "
                   "(docs/results.md, encoder-side refinement)")
    s.add_argument("--no-exact-colours", dest="exact_colours", action="store_false",
                   help="never list the image's exact colours "
                   "or correct them (by default they are added where they pay; "
                   "docs/categories.md, exact colours)")
    s.add_argument("--no-residual-layers", dest="residual_layers", action="store_false",
                   help="keep every learned layer: never replace the top ones by residual "
                   "layers (by default they are where each shows a higher PSNR at no more "
                   "bytes; docs/categories.md, residual layers)")
    s.add_argument("--extra-layers", type=_step, nargs="+", default=[], metavar="STEP",
                   help="add residual layers above the model's top layer with these steps "
                   "(1-255), each within STEP // 2 of the image in every pixel: 1 is "
                   "lossless, so `--extra-layers 1` gives a lossless top layer and "
                   "`--extra-layers 8 1` a near-lossless one first")
    _max_pixels_option(s, "an input image")
    s.set_defaults(func=cmd_encode)

    url = "an .rpn file, or its URL (http(s)://, or any fsspec filesystem such as file:// or s3://)"
    url_help = f"{url}: only the bytes of the layers asked for are read"
    s = _command(sub, "decode", "decode the first K layers of a .rpn file to an image")
    s.add_argument("input", help=url_help)
    s.add_argument("-o", "--output", required=True, help="image file to write, atomically; "
                   "the format follows the suffix (.png, .ppm, .bmp, .tif, ...; PNG if none)")
    s.add_argument("--layers", type=int, metavar="K", help="how many layers to use (default: "
                   "all; of a damaged or truncated file, every intact layer, with a warning)")
    s.add_argument("--width", type=int, metavar="W", help="spatial and spatial-quality files: "
                   "the smallest resolution at least W pixels wide (the full size if none is), "
                   "with all its layers, or with --layers K those among the first K")
    s.add_argument("--model", help="weights to decode with (default: the model the file names)")
    s.add_argument("--device", default="cpu", help="where the network runs: cpu (default), "
                   "cuda or cuda:N (bit-exact only on the kind of device that encoded)")
    s.add_argument("-v", "--verbose", action="store_true", help="report the bytes used and, "
                   "for a URL, every ranged read and the bytes it transferred")
    s.add_argument("--backend", choices=BACKENDS, help="what runs the networks: onnx (ONNX "
                   "Runtime, the default where installed: no torch, fast start) or torch; "
                   "files are the same either way")
    s.add_argument("--strict", action="store_true", help="without --layers, fail (exit "
                   "status 1) on a damaged or truncated file instead of decoding its intact "
                   "layers with a warning")
    _max_pixels_option(s, "a file")
    s.set_defaults(func=cmd_decode)

    s = _command(sub, "info", "show a .rpn file's model, size and layer byte ranges")
    s.add_argument("input", help=f"{url}: for a URL only the header and each layer's "
                   "8-byte length field are read, so payload CRCs are not checked")
    s.add_argument("--remote", action="store_true", help="for a URL: also list the ranged "
                   "reads info made and the bytes each transferred")
    s.add_argument("-v", "--verbose", action="store_true", help="same as --remote")
    s.set_defaults(func=cmd_info)

    s = _command(sub, "truncate", "keep the first K layers (a byte copy, no re-encode)")
    s.add_argument("input", help=url_help)
    s.add_argument("-o", "--output", required=True, help=".rpn file to write, atomically: "
                   "a valid file that declares only the kept layers")
    s.add_argument("--layers", type=int, required=True, metavar="K", help="how many layers "
                   "to keep, 1 to the file's layer count (they must be intact)")
    s.add_argument("-v", "--verbose", action="store_true", help="for a URL: report every "
                   "ranged read and the bytes it transferred")
    s.set_defaults(func=cmd_truncate)

    from .serve.config import (
        DEFAULT_CACHE_BYTES,
        DEFAULT_MAX_DECODES,
        DEFAULT_MAX_PIXELS,
        DEFAULT_QUALITY_FULL_SCALE,
        DEFAULT_REQUEST_TIMEOUT_S,
        DEFAULT_TILE_CACHE_BYTES,
        DEFAULT_TIME_BUDGET_S,
        DEFAULT_WORKER_MAX_BYTES,
        default_workers,
    )

    s = _command(sub, "serve", "serve a folder of .rpn files over HTTP: ranged file "
                       "reads, decoded layers as PNG/WebP, a progressive viewer (docs/serving.md)")
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
    s.add_argument("--tile-cache-mb", type=float, default=DEFAULT_TILE_CACHE_BYTES / 2**20,
                   help="memory for decoded tiles of IIIF requests, in MiB (default "
                   f"{DEFAULT_TILE_CACHE_BYTES // 2**20})")
    s.add_argument("--quality-full-scale", type=float, default=DEFAULT_QUALITY_FULL_SCALE,
                   help="IIIF, quality files: output scale from which every layer is decoded; "
                   "one layer fewer per halving below it, 0 for always every layer (default "
                   f"{DEFAULT_QUALITY_FULL_SCALE:g})")
    s.add_argument("--max-decodes-per-worker", type=int, default=DEFAULT_MAX_DECODES,
                   help="replace a decoding process after this many decodes, 0 for never "
                   f"(default {DEFAULT_MAX_DECODES})")
    s.add_argument("--worker-max-mb", type=float, default=DEFAULT_WORKER_MAX_BYTES / 2**20,
                   help="replace the decoding processes when one holds more memory than "
                   "this after a decode, 0 for never (default "
                   f"{DEFAULT_WORKER_MAX_BYTES // 2**20})")
    s.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S,
                   help="close a connection whose request (headers and body) has not arrived "
                   "this many seconds after its first byte (default "
                   f"{DEFAULT_REQUEST_TIMEOUT_S:g})")
    s.set_defaults(func=cmd_serve)

    s = _command(sub, "models", "list the shipped models, one tab-separated line each: "
                 "name, mode, layers, size, 'default' for the default of each mode (the one "
                 "encode --mode uses; quality is the default mode), description")
    s.set_defaults(func=cmd_models)

    s = _command(sub, "eval", "measure per-layer bpp, PSNR and MS-SSIM over a folder of "
                 "images")
    s.add_argument("folder", help="folder of images (searched recursively by suffix: .png, "
                   ".jpg, .ppm, ...)")
    s.add_argument("--model", action="append", help="shipped name or .pt file (default: the "
                   "default model); repeated: single-layer models evaluated as one rate sweep")
    s.add_argument("--name", help="name of a sweep of several --model (default single-sweep)")
    s.add_argument("--json", help="write CompressAI-shaped results JSON here")
    s.add_argument("--per-image", action="store_true", help="include per-image rows in the JSON")
    s.add_argument("--refine", type=_non_negative, default=0, metavar="STEPS",
                   help="encode with this many latent refinement steps (encode --refine)")
    s.set_defaults(func=cmd_eval)

    s = _command(sub, "anchors", "measure classical codecs (JPEG 2000, JPEG, WebP, ...) over "
                 "a folder, in the same JSON as eval")
    s.add_argument("folder", help="folder of images (searched recursively by suffix)")
    s.add_argument("--codec", required=True, help="jpeg2000-layered, jpeg2000-resolutions, "
                   "jpeg2000-spatial-quality, jpeg2000, jpeg, webp, avif, jxl, simulcast or "
                   "simulcast-resolutions (docs/results.md)")
    s.add_argument("--match", help="rpncodec eval JSON (with --per-image) whose rates to match")
    s.add_argument("--bpp", type=float, nargs="+", help="cumulative layer rates (layered, "
                   "spatial-quality: over each layer's pixels), total rates (resolutions) or "
                   "the rate grid (jpeg2000) instead")
    s.add_argument("--quality", type=float, nargs="+", help="quality grid of jpeg/webp/avif/jxl")
    s.add_argument("--model", action="append", help="simulcast: one single-layer model per "
                   "layer, lowest rate first (repeat the option)")
    s.add_argument("--json", help="write CompressAI-shaped results JSON here")
    s.add_argument("--per-image", action="store_true", help="include per-image rows in the JSON")
    s.set_defaults(func=cmd_anchors)

    s = _command(sub, "bdrate", "compute Bjontegaard deltas of TEST against ANCHOR, per "
                 "layer")
    s.add_argument("test", help="results JSON (join files of one codec with commas)")
    s.add_argument("anchor", help="results JSON (join files of one codec with commas)")
    s.add_argument("--metric", choices=["psnr", "ms-ssim"], default="psnr",
                   help="quality measure the deltas are computed on (default psnr: PSNR-RGB)")
    s.add_argument("--json", help="also write the table as JSON here")
    s.set_defaults(func=cmd_bdrate)

    s = _command(sub, "plot", "plot PSNR and MS-SSIM against bpp of results JSONs (PNG)")
    s.add_argument("results", nargs="+", help="results JSONs written by eval --json or "
                   "anchors --json; one curve each")
    s.add_argument("-o", "--output", required=True, help="PNG file to write")
    s.add_argument("--title", help="title above the plots (default: a generated one)")
    s.set_defaults(func=cmd_plot)

    s = _command(sub, "report", "build a static HTML page of results: RD plots, "
                 "BD-rates, crops")
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

    s = _command(sub, "demo", "encode the bundled sample and decode every layer, printing "
                 "each layer's bytes, PSNR and MS-SSIM")
    s.add_argument("--image", default=str(SAMPLE), help="image to code instead of the "
                   "bundled sample (kodim23)")
    s.add_argument("--model", help="shipped model name or exported .pt file (default: the "
                   "default model, or --mode's)")
    s.add_argument("--mode", choices=ENCODE_MODES,
                   help="use this mode's shipped model (spatial: 1/4, 1/2, full resolution; "
                   "spatial-quality: 1/4, 1/2, then full resolution at increasing quality)")
    s.add_argument("--out", default="demo-out", help="folder to write sample.rpn and "
                   "layerK.png to (created if missing; default demo-out)")
    s.set_defaults(func=cmd_demo)

    s = _command(sub, "web", "write a static web site that decodes a folder's .rpn files "
                 "in the browser, layer by layer as Range requests bring them (docs/browser.md)")
    s.add_argument("folder", help="folder of .rpn files (those directly in it)")
    s.add_argument("-o", "--output", required=True, help="site folder to write (replaced if an "
                   "earlier rpncodec web wrote it; refused if it holds anything else)")
    s.add_argument("--web", help="the built browser decoder's folder (default: the checkout's "
                   "web/, built by make web)")
    s.set_defaults(func=cmd_web)

    s = _command(sub, "export-onnx", "export a model's networks as ONNX graphs (plus "
                       "arrays and a manifest) for the torch-free onnx backend")
    s.add_argument("model", help="shipped model name or exported .pt file")
    s.add_argument("-o", "--output", required=True, help="folder to write (replaced if it "
                   "exists); decode with --model FOLDER")
    s.set_defaults(func=cmd_export_onnx)

    from .training.config import add_arguments

    s = _command(sub, "train", "train a model (docs/training.md gives the recipes of the "
                 "shipped models)")
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
