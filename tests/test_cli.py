"""Tests of the command line, run in-process through ``rpncodec.cli.main`` (and once for real).

Every test that codes an image uses the tiny random-weights model from conftest, so files name
the model ``tiny-q`` and ``decode`` needs ``--model PATH``. Torch runs on one thread here: on a
busy machine with two cores, torch's thread pool makes the tiny model 100x slower.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from rpncodec import __version__, bitstream
from rpncodec.cli import ENCODE_MODES, EXIT_STATUSES, build_parser, main
from rpncodec.utils.testing import smooth_image, tiny_model, with_header
from rpncodec.zoo import REGISTRY, WEIGHTS_DIR, default_model

H, W = 48, 80  # conftest's image_file size
LAYERS = 4
PREVIOUS = b"previous output, must survive a failed run\n"
NAME_OFFSET = bitstream.HEADER_FIXED.size  # the name follows the fixed part of the header


# ---------------------------------------------------------------------------------------------
# helpers and fixtures


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run ``rpncodec ARGS`` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def quiet_cli(*args: object) -> tuple[int, str]:
    """Like :func:`cli` for module-scoped fixtures (no capsys there); returns (code, stderr)."""
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


def error_line(err: str) -> str:
    """The one line a failing command may print; fails unless stderr is exactly that."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {err!r}"
    assert lines[0].startswith("rpncodec: error: "), lines[0]
    return lines[0]


def fails(capsys, *args: object, output: Path | None = None, code: int = 1) -> str:
    """Run a command that must fail cleanly: exit ``code``, one ``rpncodec: error:`` line, no
    stdout, and ``output`` (if given) and its folder exactly as they were. Returns the line."""
    before = None
    if output is not None and output.parent.is_dir():
        before = (sorted(os.listdir(output.parent)),
                  output.read_bytes() if output.is_file() else None)
    status, out, err = cli(capsys, *args)
    assert status == code, err
    assert out == ""
    line = error_line(err)
    if output is not None:
        if before is None:
            assert not output.parent.exists()
        else:
            after = (sorted(os.listdir(output.parent)),
                     output.read_bytes() if output.is_file() else None)
            assert after == before
    return line


def chunk_range(data: bytes, layer: int) -> tuple[int, int]:
    """Byte range (chunk overhead included) of layer ``layer`` (1-based) in an intact file."""
    return bitstream.parse(data).byte_ranges[layer - 1]


def with_header_fields(data: bytes, height: int, width: int) -> bytes:
    """``data`` with other height/width in its header and the header CRC recomputed."""
    return with_header(data, height=height, width=width)


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: str) -> SimpleNamespace:
    """One image encoded with the tiny model, and its decodes with --layers 1..4 and default."""
    folder = tmp_path_factory.mktemp("coded")
    image_path = folder / "img.png"
    image = smooth_image(H, W)
    Image.fromarray(image).save(image_path)
    rpn = folder / "img.rpn"
    code, err = quiet_cli("encode", image_path, "-o", rpn, "--model", tiny_model_path)
    assert code == 0, err
    layers, decode_err = {}, {}
    for k in range(1, LAYERS + 1):
        png = folder / f"layer{k}.png"
        code, decode_err[k] = quiet_cli("decode", rpn, "-o", png, "--layers", k,
                                        "--model", tiny_model_path)
        assert code == 0, decode_err[k]
        layers[k] = read_png(png)
    code, default_err = quiet_cli("decode", rpn, "-o", folder / "default.png",
                                  "--model", tiny_model_path)
    assert code == 0, default_err
    return SimpleNamespace(folder=folder, image_path=image_path, image=image, rpn=rpn,
                           data=rpn.read_bytes(), model=tiny_model_path, layers=layers,
                           decode_err=decode_err, default=read_png(folder / "default.png"),
                           default_err=default_err)


@pytest.fixture(scope="module")
def other_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second tiny model with other weights but the same file stem (so the same name)."""
    folder = tmp_path_factory.mktemp("other-weights")
    tiny_model(folder, seed=1, settle_steps=50)
    return str(folder / "tiny-q.pt")


def write_rpn(tmp_path: Path, data: bytes, name: str = "in.rpn") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# the happy path


def test_decode_of_every_layer_count_has_the_original_size(coded):
    assert coded.data.startswith(bitstream.MAGIC)
    for k in range(1, LAYERS + 1):
        assert coded.layers[k].shape == (H, W, 3), k
        assert coded.layers[k].dtype == np.uint8


def test_default_decode_uses_all_layers_silently(coded):
    assert coded.default_err == ""
    np.testing.assert_array_equal(coded.default, coded.layers[LAYERS])


def test_decode_of_fewer_layers_of_an_intact_file_prints_no_warning(coded):
    # Asking for K layers of an intact file is normal use, not something to warn about.
    for k in range(1, LAYERS + 1):
        assert coded.decode_err[k] == "", (k, coded.decode_err[k])


def test_encode_reports_size_on_stderr_and_prints_nothing_on_stdout(capsys, coded, tmp_path):
    out_path = tmp_path / "again.rpn"
    code, out, err = cli(capsys, "encode", coded.image_path, "-o", out_path,
                         "--model", coded.model)
    assert code == 0
    assert out == ""
    assert f"{len(coded.data)} bytes" in err and f"{W}x{H}" in err
    assert out_path.read_bytes() == coded.data  # encoding is deterministic
    assert [p.name for p in tmp_path.iterdir()] == ["again.rpn"]  # no temp file left


def test_info_lists_every_layer_with_increasing_cumulative_bytes(capsys, coded):
    code, out, err = cli(capsys, "info", coded.rpn)
    assert code == 0 and err == ""
    assert "tiny-q" in out
    assert f"{W}x{H}, {LAYERS} layers declared, {LAYERS} complete" in out
    rows = [tuple(m.groups()) for m in re.finditer(
        r"^\s*(\d+)\s+(\d+)\s+(\d+)-(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)x(\d+)\s*$", out,
        re.MULTILINE)]
    assert [int(r[0]) for r in rows] == list(range(1, LAYERS + 1))
    cumulative = [int(r[4]) for r in rows]
    assert all(a < b for a, b in itertools.pairwise(cumulative))
    assert cumulative[-1] == len(coded.data)
    for layer, size, start, end, cum, bpp, w, h in rows:
        assert int(end) - int(start) == int(size) and int(end) == int(cum), layer
        assert (int(w), int(h)) == (W, H)  # quality layers are all full size
        assert float(bpp) == pytest.approx(8 * int(cum) / (H * W), abs=1e-4)
    assert "damaged" not in out and "truncated" not in out


@pytest.mark.parametrize("k", range(1, LAYERS + 1))
def test_truncated_copy_decodes_identically_to_decoding_that_many_layers(capsys, coded, tmp_path,
                                                                         k):
    cut = tmp_path / "cut.rpn"
    code, _, err = cli(capsys, "truncate", coded.rpn, "-o", cut, "--layers", k)
    assert code == 0, err
    # the first k chunks, and a header with k shift bytes instead of LAYERS
    assert len(cut.read_bytes()) == chunk_range(coded.data, k)[1] - (LAYERS - k)
    code, out, _ = cli(capsys, "info", cut)
    assert f"{k} layers declared, {k} complete" in out
    png = tmp_path / "cut.png"
    code, _, err = cli(capsys, "decode", cut, "-o", png, "--model", coded.model)
    assert code == 0, err
    assert err == ""  # the cut file is complete: it declares k layers
    np.testing.assert_array_equal(read_png(png), coded.layers[k])


def test_models_prints_one_line_per_shipped_model_starting_with_its_name(capsys):
    code, out, err = cli(capsys, "models")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(REGISTRY)
    for line, entry in zip(lines, REGISTRY.values(), strict=True):
        assert line.startswith(entry.name + "\t")
        assert line.split("\t")[2] == f"{entry.layers} layer{'s' * (entry.layers > 1)}"
        # the default of each mode that encode --mode picks (quality's is the default)
        mode_default = entry.mode in ENCODE_MODES and default_model(entry.mode) == entry.name
        assert ("default" in line.split("\t")) == mode_default, line
        if not (WEIGHTS_DIR / entry.file).exists():
            assert "missing" in line


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rpncodec {__version__}"


# ---------------------------------------------------------------------------------------------
# eval


def test_eval_skips_unreadable_files_and_writes_per_layer_json(capsys, tmp_path, tiny_model_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(smooth_image(H, W, seed=1)).save(folder / "small.png")  # too small: MS-SSIM
    Image.fromarray(smooth_image(176, 168, seed=2)).save(folder / "large.png")
    (folder / "broken.png").write_text("this is text, not a PNG\n")
    report_path = tmp_path / "report.json"
    code, out, err = cli(capsys, "eval", folder, "--model", tiny_model_path, "--json",
                         report_path, "--per-image")
    assert code == 0, err
    assert "Traceback" not in err
    assert any("warning" in line and "broken.png" in line for line in err.splitlines()), err
    table = [line for line in out.splitlines() if re.match(r"^\s*\d+\s", line)]
    assert len(table) == LAYERS
    report = json.loads(report_path.read_text())
    assert report["name"] == "tiny-q"
    assert isinstance(report["description"], str) and "1 skipped" in report["description"]
    results = report["results"]
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
        assert len(results[key]) == LAYERS, key
    bpp = results["bpp"]
    assert all(a < b for a, b in itertools.pairwise(bpp)), bpp
    assert all(math.isfinite(p) and p > 0 for p in results["psnr-rgb"])
    assert results["ms-ssim-rgb"] == [None] * LAYERS  # one image is below 161 px
    per = report["per_image"]
    assert sorted(per) == ["large.png", "small.png"]
    assert all(row["ms_ssim"] is None for row in per["small.png"])
    assert all(0 < row["ms_ssim"] <= 1 for row in per["large.png"])
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_eval_of_an_empty_folder_fails_with_one_line(capsys, tmp_path, tiny_model_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    report_path = tmp_path / "report.json"
    line = fails(capsys, "eval", folder, "--model", tiny_model_path, "--json", report_path,
                 output=report_path)
    assert "no images" in line


# ---------------------------------------------------------------------------------------------
# bad images given to encode


def _text(path: Path) -> None:
    path.write_text("hello, I am not an image\n" * 20)


def _half_png(path: Path) -> None:
    Image.fromarray(smooth_image(H, W)).save(path, format="PNG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _half_jpeg(path: Path) -> None:
    Image.fromarray(smooth_image(H, W)).save(path, format="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.mkdir()


def _missing(path: Path) -> None:
    pass


BAD_IMAGES = {
    "text.png": (_text, "not an image"),
    "half.png": (_half_png, "truncated"),
    "half.jpg": (_half_jpeg, "truncated"),
    "empty.png": (_empty, "empty"),
    "folder.png": (_directory, "directory"),
    "missing.png": (_missing, "does not exist"),
}


@pytest.mark.parametrize("existing_output", [False, True], ids=["new-output", "existing-output"])
@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_encode_of_bad_input_fails_with_one_line_and_writes_nothing(capsys, tmp_path,
                                                                    tiny_model_path, name,
                                                                    existing_output):
    make, says = BAD_IMAGES[name]
    source = tmp_path / name
    make(source)
    output = tmp_path / "out.rpn"
    if existing_output:
        output.write_bytes(PREVIOUS)
    line = fails(capsys, "encode", source, "-o", output, "--model", tiny_model_path,
                 output=output)
    assert name in line and says in line
    assert output.exists() == existing_output


# ---------------------------------------------------------------------------------------------
# bad .rpn files given to decode and info


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


BAD_RPN = {
    "wrong-magic": (lambda d: b"\x89PNG" + d[4:], "magic"),
    "version-7": (lambda d: d[:4] + b"\x07" + d[5:], "version 7"),
    "name-byte-flipped": (lambda d: _flip(d, NAME_OFFSET + 1), "damaged .rpn header"),
    "huge-declared-size": (lambda d: with_header_fields(d, 70000, 70000), "70000x70000"),
    "text": (lambda d: b"hello, I am not an rpn file\n", "magic"),
    "zero-bytes": (lambda d: b"", "empty"),
    "cut-in-magic": (lambda d: d[:3], "truncated"),
    "cut-after-magic": (lambda d: d[:4], "truncated"),
    "cut-after-version": (lambda d: d[:5], "truncated"),
    "cut-in-name": (lambda d: d[: NAME_OFFSET + 2], "truncated"),
    "cut-before-header-crc": (lambda d: d[: chunk_range(d, 1)[0] - 1], "truncated"),
    "cut-in-layer-1": (lambda d: d[: chunk_range(d, 1)[0] + 10], "none of its 4 layers"),
    "layer-1-damaged": (lambda d: _flip(d, chunk_range(d, 1)[0] + bitstream.CHUNK.size),
                        "layer 1 of 4 is damaged"),
}


@pytest.mark.parametrize("existing_output", [False, True], ids=["new-output", "existing-output"])
@pytest.mark.parametrize("case", list(BAD_RPN))
def test_decode_of_bad_rpn_fails_with_one_line_and_writes_nothing(capsys, coded, tmp_path, case,
                                                                  existing_output):
    damage, says = BAD_RPN[case]
    source = write_rpn(tmp_path, damage(coded.data))
    output = tmp_path / "out.png"
    if existing_output:
        output.write_bytes(PREVIOUS)
    line = fails(capsys, "decode", source, "-o", output, "--model", coded.model, output=output)
    assert says in line
    assert output.exists() == existing_output


@pytest.mark.parametrize("case", [c for c in BAD_RPN if not c.startswith("layer-1")
                                  and c != "cut-in-layer-1"])
def test_info_of_file_with_bad_header_fails_with_one_line(capsys, coded, tmp_path, case):
    damage, says = BAD_RPN[case]
    line = fails(capsys, "info", write_rpn(tmp_path, damage(coded.data)))
    assert says in line


def test_unknown_version_is_reported_even_though_the_header_crc_matches_the_old_byte(capsys,
                                                                                     coded,
                                                                                     tmp_path):
    # The version is checked before the CRC, so a version-7 file with a CRC made for version 7
    # is reported the same way: as an unsupported version, not as damage.
    data = with_header(coded.data, version=7)
    line = fails(capsys, "info", write_rpn(tmp_path, data))
    assert "unsupported .rpn format version 7" in line


@pytest.mark.parametrize("what", ["directory", "missing"])
def test_decode_of_directory_or_missing_input_fails_with_one_line(capsys, tmp_path, what):
    source = tmp_path / "in.rpn"
    if what == "directory":
        source.mkdir()
    output = tmp_path / "out.png"
    line = fails(capsys, "decode", source, "-o", output, output=output)
    assert str(source) in line
    assert ("directory" if what == "directory" else "does not exist") in line
    assert fails(capsys, "info", source) == line


# ---------------------------------------------------------------------------------------------
# damaged and cut layers


@pytest.fixture
def damaged_layer_3(coded, tmp_path) -> Path:
    start, _ = chunk_range(coded.data, 3)
    return write_rpn(tmp_path, _flip(coded.data, start + bitstream.CHUNK.size + 5), "damaged.rpn")


def test_damaged_layer_3_still_decodes_two_layers_on_request(capsys, coded, damaged_layer_3,
                                                             tmp_path):
    png = tmp_path / "two.png"
    code, _, err = cli(capsys, "decode", damaged_layer_3, "-o", png, "--layers", 2,
                       "--model", coded.model)
    assert code == 0, err
    np.testing.assert_array_equal(read_png(png), coded.layers[2])


@pytest.mark.parametrize("k", [3, 4])
def test_damaged_layer_3_refuses_requests_that_need_it(capsys, coded, damaged_layer_3, tmp_path,
                                                       k):
    output = tmp_path / "out.png"
    line = fails(capsys, "decode", damaged_layer_3, "-o", output, "--layers", k,
                 "--model", coded.model, output=output)
    assert "layer 3" in line and "damaged" in line and "--layers 2" in line


def test_damaged_layer_3_by_default_decodes_two_layers_with_a_warning(capsys, coded,
                                                                      damaged_layer_3, tmp_path):
    png = tmp_path / "default.png"
    code, out, err = cli(capsys, "decode", damaged_layer_3, "-o", png, "--model", coded.model)
    assert code == 0, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpncodec: warning:"), err
    assert "layer 3" in lines[0] and "2 of 4" in lines[0]
    np.testing.assert_array_equal(read_png(png), coded.layers[2])
    code, out, _ = cli(capsys, "info", damaged_layer_3)
    assert code == 0
    assert "2 complete" in out and "layer 3 is damaged" in out


def test_truncating_a_file_with_damaged_layer_3_keeps_the_intact_layers(capsys, coded,
                                                                        damaged_layer_3,
                                                                        tmp_path):
    cut = tmp_path / "cut.rpn"
    assert cli(capsys, "truncate", damaged_layer_3, "-o", cut, "--layers", 2)[0] == 0
    assert cut.read_bytes() == bitstream.truncate(coded.data, 2)
    fails(capsys, "truncate", damaged_layer_3, "-o", tmp_path / "no.rpn", "--layers", 3,
          output=tmp_path / "no.rpn")


CUTS_IN_LAYER_3 = {"at-start": 0, "in-chunk-header": 4, "first-payload-byte": 9, "last-byte": -1}


@pytest.mark.parametrize("where", list(CUTS_IN_LAYER_3))
def test_decode_of_file_cut_inside_layer_3_gives_two_layers_with_a_warning(capsys, coded,
                                                                           tmp_path, where):
    start, end = chunk_range(coded.data, 3)
    offset = CUTS_IN_LAYER_3[where]
    cut = write_rpn(tmp_path, coded.data[: (start if offset >= 0 else end) + offset])
    png = tmp_path / "default.png"
    code, out, err = cli(capsys, "decode", cut, "-o", png, "--model", coded.model)
    assert code == 0, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpncodec: warning:"), err
    assert "truncated" in lines[0] and "2 of 4" in lines[0]
    np.testing.assert_array_equal(read_png(png), coded.layers[2])
    output = tmp_path / "four.png"
    line = fails(capsys, "decode", cut, "-o", output, "--layers", 4, "--model", coded.model,
                 output=output)
    assert "only 2 of 4 layers are complete" in line and "--layers 2" in line


def test_info_of_file_cut_inside_layer_3_says_it_is_truncated(capsys, coded, tmp_path):
    start, _ = chunk_range(coded.data, 3)
    code, out, err = cli(capsys, "info", write_rpn(tmp_path, coded.data[: start + 20]))
    assert code == 0, err
    assert "4 layers declared, 2 complete" in out and "truncated after layer 2" in out


@pytest.mark.parametrize("k", [0, 5, -1])
def test_out_of_range_layer_count_is_refused(capsys, coded, tmp_path, k):
    output = tmp_path / "out.png"
    line = fails(capsys, "decode", coded.rpn, "-o", output, "--layers", k, "--model", coded.model,
                 output=output)
    assert "between 1 and 4" in line
    output = tmp_path / "out.rpn"
    line = fails(capsys, "truncate", coded.rpn, "-o", output, "--layers", k, output=output)
    assert "between 1 and 4" in line


def test_non_integer_layer_count_is_a_usage_error(capsys, coded, tmp_path):
    output = tmp_path / "out.png"
    with pytest.raises(SystemExit) as info:
        main(["decode", str(coded.rpn), "-o", str(output), "--layers", "two"])
    assert info.value.code == 2
    assert "--layers" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# outputs


@pytest.mark.parametrize("command", ["encode", "decode", "truncate"])
def test_output_in_a_missing_folder_is_refused_and_nothing_is_created(capsys, coded, tmp_path,
                                                                      command):
    output = tmp_path / "no" / "such" / ("out.png" if command == "decode" else "out.rpn")
    source = coded.image_path if command == "encode" else coded.rpn
    extra = ["--layers", "2"] if command == "truncate" else ["--model", coded.model]
    line = fails(capsys, command, source, "-o", output, *extra, output=output)
    assert "does not exist" in line
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("command", ["encode", "decode", "truncate"])
def test_output_equal_to_input_is_refused_and_the_input_is_unchanged(capsys, coded, tmp_path,
                                                                      command):
    original = coded.image_path if command == "encode" else coded.rpn
    source = tmp_path / original.name
    source.write_bytes(original.read_bytes())
    extra = ["--layers", "2"] if command == "truncate" else ["--model", coded.model]
    line = fails(capsys, command, source, "-o", source, *extra, output=source)
    assert "is the input" in line
    assert source.read_bytes() == original.read_bytes()


def test_failed_image_save_leaves_the_old_output_and_no_temp_file(capsys, coded, tmp_path,
                                                                  monkeypatch):
    output = tmp_path / "out.png"
    output.write_bytes(PREVIOUS)

    def broken_save(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    line = fails(capsys, "decode", coded.rpn, "-o", output, "--model", coded.model,
                 output=output)
    assert "No space left" in line
    assert output.read_bytes() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


# ---------------------------------------------------------------------------------------------
# models


def test_unknown_model_name_is_refused(capsys, coded, tmp_path):
    output = tmp_path / "out.rpn"
    line = fails(capsys, "encode", coded.image_path, "-o", output, "--model", "no-such-model",
                 output=output)
    assert "unknown model 'no-such-model'" in line


def test_missing_weights_file_is_refused(capsys, coded, tmp_path):
    output = tmp_path / "out.rpn"
    line = fails(capsys, "encode", coded.image_path, "-o", output, "--model",
                 tmp_path / "absent.pt", output=output)
    assert "absent.pt" in line and "missing" in line


@pytest.mark.parametrize("content", [b"\x00garbage\xff" * 50, b""], ids=["garbage", "empty"])
def test_weights_file_with_wrong_content_is_refused_with_one_line(capsys, coded, tmp_path,
                                                                  content):
    weights = tmp_path / "broken.pt"
    weights.write_bytes(content)
    output = tmp_path / "out.rpn"
    line = fails(capsys, "encode", coded.image_path, "-o", output, "--model", weights,
                 output=output)
    assert "broken.pt" in line and "not a valid rpncodec weights file" in line


def test_decoding_with_weights_of_another_digest_is_refused(capsys, coded, other_model_path,
                                                            tmp_path):
    output = tmp_path / "out.png"
    line = fails(capsys, "decode", coded.rpn, "-o", output, "--model", other_model_path,
                 output=output)
    assert "weights" in line and bitstream.parse(coded.data).header.digest.hex() in line


def test_decoding_a_custom_model_file_without_model_asks_for_the_weights(capsys, coded,
                                                                         tmp_path):
    output = tmp_path / "out.png"
    line = fails(capsys, "decode", coded.rpn, "-o", output, output=output)
    assert "tiny-q" in line and "--model" in line


def test_default_model_missing_is_a_clean_error(capsys, coded, tmp_path, monkeypatch):
    monkeypatch.setattr("rpncodec.zoo.WEIGHTS_DIR", tmp_path / "no-weights-here")
    output = tmp_path / "out.rpn"
    line = fails(capsys, "encode", coded.image_path, "-o", output, "--backend", "torch",
                 output=output)
    assert "missing" in line


# ---------------------------------------------------------------------------------------------
# the installed console script


def test_console_script_runs_version_and_a_round_trip(tmp_path, image_file, tiny_model_path):
    script = Path(sys.executable).with_name("rpncodec")
    assert script.is_file(), "console script not installed next to the interpreter"
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def run(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=120, check=False)

    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"rpncodec {__version__}"
    rpn, png = tmp_path / "x.rpn", tmp_path / "x.png"
    done = run("encode", image_file, "-o", rpn, "--model", tiny_model_path)
    assert done.returncode == 0, done.stderr
    done = run("decode", rpn, "-o", png, "--layers", 2, "--model", tiny_model_path)
    assert done.returncode == 0, done.stderr
    assert read_png(png).shape == (H, W, 3)
    done = run("decode", tmp_path / "missing.rpn", "-o", tmp_path / "y.png")
    assert done.returncode == 1
    error_line(done.stderr)
    assert not (tmp_path / "y.png").exists()


# ---------------------------------------------------------------------------------------------
# decode --strict


def test_strict_decode_of_a_damaged_file_fails_and_writes_nothing(capsys, coded,
                                                                   damaged_layer_3, tmp_path):
    output = tmp_path / "strict.png"
    line = fails(capsys, "decode", damaged_layer_3, "-o", output, "--model", coded.model,
                 "--strict", output=output)
    assert "layer 3" in line and "damaged" in line and "--layers 2" in line


def test_strict_decode_of_a_truncated_file_fails(capsys, coded, tmp_path):
    start, _ = chunk_range(coded.data, 3)
    cut = write_rpn(tmp_path, coded.data[: start + 20])
    output = tmp_path / "strict.png"
    line = fails(capsys, "decode", cut, "-o", output, "--model", coded.model, "--strict",
                 output=output)
    assert "truncated" in line and "2 of 4" in line


def test_strict_decode_of_an_intact_file_or_of_intact_layers_succeeds(capsys, coded,
                                                                       damaged_layer_3,
                                                                       tmp_path):
    png = tmp_path / "all.png"
    code, _, err = cli(capsys, "decode", coded.rpn, "-o", png, "--model", coded.model,
                       "--strict")
    assert code == 0 and err == ""
    np.testing.assert_array_equal(read_png(png), coded.layers[LAYERS])
    code, _, err = cli(capsys, "decode", damaged_layer_3, "-o", png, "--model", coded.model,
                       "--strict", "--layers", 2)
    assert code == 0 and err == ""  # the layers asked for are intact
    np.testing.assert_array_equal(read_png(png), coded.layers[2])


# ---------------------------------------------------------------------------------------------
# help texts


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_subcommand_has_help_text():
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}"
               for name, sub in _subparsers(build_parser()).items() for a in sub._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert missing == []


def test_every_subcommand_says_what_it_does_and_cites_no_readme_section():
    parser = build_parser()
    summaries = {a.dest: a.help for a in next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction))._choices_actions}
    for name, sub in _subparsers(parser).items():
        assert (summaries.get(name) or "").strip(), name
        assert (sub.description or "").strip(), name  # the top of `rpncodec NAME --help`
        text = sub.format_help()
        assert "README" not in text, name  # the docs pages are the reference now
    assert "docs/training.md" in _subparsers(parser)["train"].format_help()


def test_info_help_mentions_no_layers_it_cannot_take():
    text = _subparsers(build_parser())["info"].format_help()
    assert "--layers" not in text and "layers asked for" not in text


def test_help_lists_every_exit_status():
    text = build_parser().format_help()
    for code, _ in EXIT_STATUSES:
        assert re.search(rf"^\s+{code}\s+\S", text, re.MULTILINE), code
    assert {code for code, _ in EXIT_STATUSES} >= {0, 1, 2, 130}
