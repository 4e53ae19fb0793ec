"""Bulk coding: ``encode DIR -o OUT --workers N``, resuming, and a local Dask cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from rpncodec import bitstream, bulk
from rpncodec.cli import main
from rpncodec.utils.testing import smooth_image, tiny_model

IMAGES = 4


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for i in range(IMAGES):
        where = root / "sub" if i % 2 else root
        Image.fromarray(smooth_image(40 + 8 * i, 64, seed=i)).save(where / f"img{i}.png")
    return root


@pytest.fixture(scope="module")
def reference(photos, tiny_model_path, tmp_path_factory) -> dict[str, bytes]:
    """The files one process writes: relative path -> bytes."""
    out = tmp_path_factory.mktemp("ref") / "out"
    assert main(["encode", str(photos), "-o", str(out), "--model", tiny_model_path]) == 0
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.rpn"))}


def _written(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.rpn"))}


def test_workers_write_the_same_files_from_other_processes(photos, reference, tiny_model_path,
                                                           tmp_path):
    assert len(reference) == IMAGES
    out = tmp_path / "out"
    settings = bulk.Settings(tiny_model_path, None, 1024)
    outcomes = bulk.encode_folder(photos, out, settings, workers=2, log=lambda line: None)
    assert len(outcomes) == IMAGES and all(o.ok for o in outcomes)
    assert os.getpid() not in {o.pid for o in outcomes}  # the work ran in the pool
    assert _written(out) == reference


def test_rerun_resumes_without_redoing_finished_files(photos, reference, tiny_model_path,
                                                      tmp_path, capsys):
    out = tmp_path / "out"
    model = ["--model", tiny_model_path]
    assert main(["encode", str(photos), "-o", str(out), *model, "--workers", "2"]) == 0
    names = sorted(reference)
    kept = {n: (out / n).stat().st_mtime_ns for n in names[2:]}
    (out / names[0]).unlink()  # never written
    cut = out / names[1]
    cut.write_bytes(cut.read_bytes()[:-3])  # a damaged leftover (not from rpncodec)
    (out / f".{Path(names[2]).name}.tmp-1234").write_bytes(b"half")  # an interrupted temp
    capsys.readouterr()
    assert main(["encode", str(photos), "-o", str(out), *model]) == 0
    err = capsys.readouterr().err
    assert f"2 of {IMAGES} files already finished" in err
    assert err.count(".rpn: ") == 2  # exactly two files encoded again
    assert {n: (out / n).stat().st_mtime_ns for n in names[2:]} == kept
    assert _written(out) == reference
    assert main(["encode", str(photos), "-o", str(out), *model]) == 0
    assert f"{IMAGES} of {IMAGES} files already finished" in capsys.readouterr().err
    assert main(["encode", str(photos), "-o", str(out), *model, "--force"]) == 0
    assert capsys.readouterr().err.count(".rpn: ") == IMAGES


def test_other_weights_are_not_finished(photos, reference, tmp_path):
    out = tmp_path / "out"
    other = tiny_model(tmp_path, seed=1, settle_steps=20)  # other weights, same name
    out.mkdir()
    name = sorted(reference)[0]
    (out / name).write_bytes(reference[name])
    assert not bulk.is_finished(out / name, other.digest, 1024)
    assert bulk.is_finished(out / name, bitstream.parse(reference[name]).header.digest, 1024)
    assert not bulk.is_finished(out / name, bitstream.parse(reference[name]).header.digest, 64)


def test_bad_worker_count_is_one_line(photos, tiny_model_path, tmp_path, capsys):
    assert main(["encode", str(photos), "-o", str(tmp_path / "o"), "--model", tiny_model_path,
                 "--workers", "0"]) == 1
    assert capsys.readouterr().err.strip() == "rpncodec: error: --workers must be at least 1"


def test_dask_cluster_of_two_workers(photos, reference, tiny_model_path, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            out = tmp_path / "out"
            assert main(["encode", str(photos), "-o", str(out), "--model", tiny_model_path,
                         "--scheduler", cluster.scheduler_address]) == 0
    assert _written(out) == reference
