"""Do the pixel tools decode the same on another backend? Files coded on ONNX Runtime and
decoded with torch, whose learned pixels may differ by a level in a few places. Train part
of the non-photographic data set (the 21st-24th image of each category).

    .venv/bin/python scripts/backend_pixel_tools_probe.py

Per image ``rpn-quality-screen`` codes a version-5 file (residual layers off) and the default
file. For every corrected layer of the first: how many tiles' correction strings torch cannot
read over its own snapped pixels (decoders skip those, showing the tile uncorrected). For the
residual layers of the second: whether torch's top layer differs anywhere its learned base
does not (it must not: the residual symbols never read the layer below). Prints a line per
image and the counts.
"""

from __future__ import annotations

from pathlib import Path

from rpncodec import bitstream, codec, colour_corrections
from rpncodec.backend import open_model
from rpncodec.errors import BitstreamError
from rpncodec.imageio import load_image

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("text", "ui", "charts", "lineart", "maps", "slides", "scans", "flat")
_correct = colour_corrections.correct
failures: list[str] = []


def counting_correct(shown, palette, string):
    """``colour_corrections.correct``, counting the strings it cannot read."""
    try:
        return _correct(shown, palette, string)
    except BitstreamError as exc:
        failures.append(str(exc))
        raise


def main() -> None:
    onnx, torch = open_model("rpn-quality-screen", "onnx"), open_model("rpn-quality-screen",
                                                                       "torch")
    colour_corrections.correct = counting_correct
    corrected_files = unreadable_files = residual_files = mismatched = 0
    for category in CATEGORIES:
        for path in sorted((ROOT / ".data/nonphoto/train" / category).glob("*.png"))[20:24]:
            image = load_image(path)
            data = codec.encode(image, onnx, residual=False)
            header = bitstream.parse(data).header
            failures.clear()
            for k in range(1, header.layers + 1):
                if header.is_corrected(k):
                    codec.decode(data, k, torch)
            corrected_files += bool(header.corrected)
            unreadable_files += bool(failures)
            corrected = header.corrected
            data = codec.encode(image, onnx)
            header = bitstream.parse(data).header
            moved = "-"
            if header.steps:
                residual_files += 1
                base = [codec.decode(data, header.learned, m).image for m in (onnx, torch)]
                top = [codec.decode(data, None, m).image for m in (onnx, torch)]
                moved = int(((top[0] != top[1]) & (base[0] == base[1])).sum())
                mismatched += bool(moved)
            print(f"{category}/{path.name}: corrected layers {corrected:#x}, "
                  f"unreadable correction strings {len(failures)}; residual steps "
                  f"{header.steps or '-'}, top-layer values moved where the base did not: "
                  f"{moved}", flush=True)
    print(f"{unreadable_files} of {corrected_files} files with corrections have a string torch "
          f"cannot read; {mismatched} of {residual_files} files with residual layers differ "
          "beyond their learned base")


if __name__ == "__main__":
    main()
