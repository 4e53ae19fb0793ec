"""The trainer on a tiny config: it learns, it checkpoints, and a resume continues exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import smooth_image
from PIL import Image

from rpncodec import codec
from rpncodec.cli import main
from rpncodec.zoo import load_model


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_image(80, 96, seed=i)).save(folder / f"{i}.png")
    return folder


def train(folder: Path, out: Path, steps: int, *extra: str) -> int:
    return main(["train", "--preset", "tiny", "--steps", str(steps), "--batch", "2",
                 "--crop", "64", "--data", str(folder), "--out", str(out),
                 "--checkpoint-every", "2", "--val-every", "2", *extra])


def test_resume_continues_exactly_where_a_straight_run_would_be(image_folder, tmp_path) -> None:
    assert train(image_folder, tmp_path / "straight", 4) == 0
    assert train(image_folder, tmp_path / "split", 2) == 0
    assert train(image_folder, tmp_path / "split", 4, "--resume") == 0
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_export_gives_a_loadable_model_that_codes(image_folder, tmp_path) -> None:
    weights = tmp_path / "m.pt"
    assert train(image_folder, tmp_path / "run", 2, "--export", str(weights)) == 0
    loaded = load_model(str(weights))
    assert all(not v.is_floating_point() or v.dtype == torch.float16
               for v in torch.load(weights, weights_only=True)["state_dict"].values())
    image = smooth_image(32, 32)
    assert codec.decode(codec.encode(image, loaded), None, loaded).image.shape == image.shape
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"val"' in log and '"psnr"' in log
