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

from . import __version__, bitstream, codec
from .errors import InputImageError, RpncodecError
from .imageio import atomic_write_bytes, check_not_same_file, load_image, save_image
from .zoo import REGISTRY, WEIGHTS_DIR, load_model

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


def cmd_encode(args: argparse.Namespace) -> int:
    check_not_same_file(args.input, args.output)
    image = load_image(args.input)
    loaded = load_model(args.model)
    t0 = time.perf_counter()
    data = codec.encode(image, loaded)
    seconds = time.perf_counter() - t0
    atomic_write_bytes(args.output, data)
    h, w = image.shape[:2]
    print(f"{args.output}: {loaded.name}, {w}x{h}, {len(data)} bytes "
          f"({8 * len(data) / (h * w):.4f} bpp, all layers), {seconds:.2f} s", file=sys.stderr)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    check_not_same_file(args.input, args.output)
    data = _read_rpn(args.input)
    decoded = codec.decode(data, args.layers, args.model)
    note = _layers_note(decoded) if args.layers is None else None
    if note:
        print(f"rpncodec: warning: {note}", file=sys.stderr)
    save_image(decoded.image, args.output)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    data = _read_rpn(args.input)
    c = bitstream.parse(data)
    h = c.header
    pixels = h.height * h.width
    print(f"file:    {args.input} ({len(data)} bytes)")
    print(f"model:   {h.model} (weights {h.digest.hex()}), {h.mode} mode")
    print(f"image:   {h.width}x{h.height}, {h.layers} layers declared, {c.available} complete")
    print("layer  bytes      start-end          cumulative bytes  cumulative bpp")
    for k, (start, end) in enumerate(c.byte_ranges, 1):
        bpp = 8 * end / pixels
        print(f"{k:>5}  {end - start:>9}  {start:>8}-{end:<8}  {end:>16}  {bpp:>14.4f}")
    if c.damaged:
        print(f"layer {c.damaged} is damaged ({c.damage})")
    elif c.truncated:
        print(f"file is truncated after layer {c.available}")
    return 0


def cmd_truncate(args: argparse.Namespace) -> int:
    check_not_same_file(args.input, args.output)
    atomic_write_bytes(args.output, bitstream.truncate(_read_rpn(args.input), args.layers))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    for e in REGISTRY.values():
        path = WEIGHTS_DIR / e.file
        size = f"{path.stat().st_size / 1e6:.1f}MB" if path.exists() else "missing"
        print(f"{e.name}\t{e.mode}\t{e.layers} layers\t{size}\t"
              f"{'default' if e.default else '-'}\t{e.description}")
    return 0


def _print_results(report: dict) -> None:
    r = report["results"]
    print(f"{report['name']}: {report['description']}")
    print("layer  bpp      PSNR-RGB  MS-SSIM  enc s   dec s")
    for k in range(len(r["bpp"])):
        ms = "   -   " if r["ms-ssim-rgb"][k] is None else f"{r['ms-ssim-rgb'][k]:.4f}"
        print(f"{k + 1:>5}  {r['bpp'][k]:.4f}  {r['psnr-rgb'][k]:8.3f}  {ms}   "
              f"{r['encoding_time'][k]:.3f}   {r['decoding_time'][k]:.3f}")


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_folder, write_json

    report = evaluate_folder(Path(args.folder), load_model(args.model), args.per_image)
    _print_results(report)
    if args.json:
        write_json(report, args.json)
    return 0


def cmd_anchors(args: argparse.Namespace) -> int:
    from .anchors import run_anchor, target_rates
    from .evaluate import write_json

    mean, per_image = target_rates(args.match, args.bpp)
    report = run_anchor(Path(args.folder), args.codec, mean, per_image, args.per_image)
    _print_results(report)
    if args.json:
        write_json(report, args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Encode the bundled sample with the default model and decode every layer."""
    from .evaluate import evaluate_image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    image = load_image(args.image)
    loaded = load_model(args.model)
    outputs: dict = {}
    rows = evaluate_image(image, loaded, outputs)
    atomic_write_bytes(out / "sample.rpn", outputs["data"])
    print(f"{args.image} ({image.shape[1]}x{image.shape[0]}) with {loaded.name}: "
          f"encoded in {rows[0]['encoding_time']:.2f} s -> {out / 'sample.rpn'}")
    print("layer  bytes   bpp     PSNR-RGB  MS-SSIM  decode s  output")
    for k, (row, rec) in enumerate(zip(rows, outputs["layers"], strict=True), 1):
        png = out / f"layer{k}.png"
        save_image(rec, png)
        ms = "  -   " if row["ms_ssim"] is None else f"{row['ms_ssim']:.4f}"
        print(f"{k:>5}  {row['bytes']:>6}  {row['bpp']:.4f}  {row['psnr']:8.2f}  {ms}   "
              f"{row['decoding_time']:7.2f}  {png}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rpncodec", description=(
        "Scalable learned image codec (reciprocal pyramid network). One file, several layers: "
        "any prefix of whole layers decodes."))
    p.add_argument("--version", action="version", version=f"rpncodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("encode", help="encode an image into one .rpn file with all layers")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--model", help="shipped model name or exported .pt file (default: "
                   "the default model)")
    s.set_defaults(func=cmd_encode)

    s = sub.add_parser("decode", help="decode the first K layers of a .rpn file to an image")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--layers", type=int, help="how many layers to use (default: all)")
    s.add_argument("--model", help="weights to decode with (default: the model the file names)")
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("info", help="show a .rpn file's model, size and layer byte ranges")
    s.add_argument("input")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("truncate", help="keep the first K layers (a byte copy, no re-encode)")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--layers", type=int, required=True)
    s.set_defaults(func=cmd_truncate)

    s = sub.add_parser("models", help="list the shipped models")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("eval", help="per-layer bpp, PSNR and MS-SSIM over a folder of images")
    s.add_argument("folder")
    s.add_argument("--model")
    s.add_argument("--json", help="write CompressAI-shaped results JSON here")
    s.add_argument("--per-image", action="store_true", help="include per-image rows in the JSON")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("anchors", help="classical anchors over a folder, same JSON as eval")
    s.add_argument("folder")
    s.add_argument("--codec", required=True, help="jpeg2000-layered")
    s.add_argument("--match", help="rpncodec eval JSON (with --per-image) whose rates to match")
    s.add_argument("--bpp", type=float, nargs="+", help="cumulative layer rates instead")
    s.add_argument("--json", help="write CompressAI-shaped results JSON here")
    s.add_argument("--per-image", action="store_true", help="include per-image rows in the JSON")
    s.set_defaults(func=cmd_anchors)

    s = sub.add_parser("demo", help="encode the bundled sample and decode every layer")
    s.add_argument("--image", default=str(SAMPLE))
    s.add_argument("--model")
    s.add_argument("--out", default="demo-out")
    s.set_defaults(func=cmd_demo)

    from .train import add_arguments

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
