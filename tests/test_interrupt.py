"""SIGINT during a batch (encode of a folder, eval): no partial files, one line, non-zero exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from rpncodec import bitstream
from rpncodec.cli import main
from rpncodec.utils.testing import smooth_image

IMAGES = 80  # enough that the run is still busy when the signal arrives


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i in range(IMAGES):
        Image.fromarray(smooth_image(96, 128, seed=i)).save(root / f"img{i:03d}.png")
    return root


def interrupt_after_first_line(args: list[str], cwd: Path) -> tuple[int, list[str]]:
    """Run ``rpncodec ARGS``, send SIGINT once its first stderr line appears; (rc, stderr lines)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # A shell starts background jobs with SIGINT ignored, and Python keeps it ignored: give the
    # child the default disposition, as a command run from a terminal has.
    proc = subprocess.Popen([sys.executable, "-m", "rpncodec", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return rc, (first + rest).splitlines()


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".") or "tmp" in p.name]


def test_interrupted_folder_encode_leaves_only_complete_files(folder, tmp_path,
                                                              tiny_model_path) -> None:
    out = tmp_path / "coded"
    rc, lines = interrupt_after_first_line(
        ["encode", str(folder), "-o", str(out), "--model", tiny_model_path], tmp_path)
    assert rc == 130, lines
    assert lines[-1] == "rpncodec: interrupted"
    assert not any("Traceback" in line for line in lines)
    written = sorted(out.glob("*.rpn"))
    assert 1 <= len(written) < IMAGES
    for path in written:  # every file there is whole: all 4 layers, CRCs intact
        container = bitstream.parse(path.read_bytes())
        assert container.available == container.header.layers == 4, path
    assert no_temporary_files(out)


def test_interrupted_eval_writes_no_json(folder, tmp_path, tiny_model_path) -> None:
    report = tmp_path / "results" / "eval.json"
    report.parent.mkdir()
    rc, lines = interrupt_after_first_line(
        ["eval", str(folder), "--model", tiny_model_path, "--json", str(report)], tmp_path)
    assert rc == 130, lines
    assert lines[-1] == "rpncodec: interrupted"
    assert not any("Traceback" in line for line in lines)
    assert not list(report.parent.iterdir())


def test_folder_encode_writes_one_file_per_image_with_relative_paths(tmp_path, tiny_model_path,
                                                                     capsys) -> None:
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(20, 30)).save(source / "a.png")
    Image.fromarray(smooth_image(24, 16, seed=2)).save(source / "sub" / "b.jpg")
    out = tmp_path / "out"
    assert main(["encode", str(source), "-o", str(out), "--model", tiny_model_path]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.rpn")) == [
        "a.rpn", "sub/b.rpn"]
    assert bitstream.parse((out / "sub" / "b.rpn").read_bytes()).header.width == 16
    assert "a.rpn" in capsys.readouterr().err


def test_folder_encode_refusals(tmp_path, tiny_model_path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(smooth_image(20, 30)).save(source / "a.png")
    Image.fromarray(smooth_image(20, 30)).save(source / "a.jpg")
    model = ["--model", tiny_model_path]
    assert main(["encode", str(source), "-o", str(tmp_path / "o1"), *model]) == 1
    assert "would both be written to" in capsys.readouterr().err
    (source / "a.jpg").unlink()
    (tmp_path / "file").write_bytes(b"x")
    assert main(["encode", str(source), "-o", str(tmp_path / "file"), *model]) == 1
    assert "is not a folder" in capsys.readouterr().err
    (source / "broken.png").write_bytes(b"not a png")
    assert main(["encode", str(source), "-o", str(tmp_path / "o2"), *model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert any("skipped" in line and "broken.png" in line for line in err)
    assert err[-1].startswith("rpncodec: error: encoded 1 of 2 images")
    assert (tmp_path / "o2" / "a.rpn").exists() and not (tmp_path / "o2" / "broken.rpn").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["encode", str(empty), "-o", str(tmp_path / "o3"), *model]) == 1
    assert "is a directory with no images in it" in capsys.readouterr().err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()
