"""The IIIF Image API validator (``iiif-validator-ng``, PyPI) against ``rpncodec serve``.

The validator's own validation image (1000x1000 flat coloured squares) is encoded with the
default model and served; scripts/iiif_validate.py runs every check the validator finds
applicable to the level the server claims (level 2 and its extra features). Every check
passes except some pixel comparisons, which fail because the model changes the squares'
colours a little (see docs/iiif.md), not because the server puts the wrong pixels in the wrong
place. So for each failed check the test also renders the same request from the validation
image itself with the server's own geometry (serve/compose.py) and measures the difference:
small (the model's error), never a misplaced region or a wrong size.

    RPNCODEC_IIIF_RESULTS=results/serve/iiif_validator.json pytest tests/test_iiif_validator.py

writes the records with the measured differences (the table in docs/iiif.md).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_serve import get, serving

from rpncodec import codec
from rpncodec.backend import open_model
from rpncodec.imageio import load_image
from rpncodec.registry import default_model
from rpncodec.serve import iiif
from rpncodec.serve.compose import finish

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-iiif" / "bin" / "python"
IDENTIFIER = "67352ccc-d1b0-11e1-89ae-279075081939"  # the validator's default
# what the validator reports when the pixels, not the size, format or status, differ
PIXEL_MISMATCH = {"Region does not match expected image region", "Different image content",
                  "An incorrectly rotated region.", "An incorrectly rotated image.",
                  "Square region did not match expected image",
                  "Full image did not match expected image"}

pytestmark = pytest.mark.skipif(not PYTHON.is_file(), reason="the IIIF validator is not "
                                "installed: run scripts/iiif_setup.sh (.venv-iiif)")


def _validation_image() -> Path:
    out = subprocess.run([str(PYTHON), "-c", "import importlib.resources as r; "
                          "print(r.files('iiif_validator') / 'validation_image.png')"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _difference(server: str, url: str, original: np.ndarray) -> dict:
    """Mean and largest absolute difference between what the server sent for ``url`` and
    the same request rendered from the validation image itself."""
    path = urllib.parse.urlsplit(url).path
    region, size, rotation, quality_format = path.split("/")[-4:]
    h, w = original.shape[:2]
    limits = iiif.limits_for(w, h, 2**24)
    request = iiif.parse(region, size, rotation, quality_format, w, h, limits)
    x, y, rw, rh = request.region
    expected = np.asarray(finish(original[y : y + rh, x : x + rw], request.size, request))
    status, _, body = get(server + path)
    sent = np.asarray(Image.open(io.BytesIO(body)))
    assert status == 200 and sent.shape == expected.shape, (url, sent.shape, expected.shape)
    diff = np.abs(sent.astype(int) - expected.astype(int))
    return {"mean": round(float(diff.mean()), 2), "max": int(diff.max())}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("validator")
    image = load_image(_validation_image())
    data = codec.encode(image, open_model(default_model()))
    (folder / f"{IDENTIFIER}.rpn").write_bytes(data)
    with serving(folder, "--workers", "2") as url:
        yield url, image, len(data)


def test_the_validator_passes_everything_but_pixel_comparisons(server, tmp_path):
    url, original, size = server
    out = tmp_path / "validator.json"
    subprocess.run([str(PYTHON), str(ROOT / "scripts" / "iiif_validate.py"), f"{url}/iiif/3",
                    IDENTIFIER, str(out)], check=True, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    assert report["compliance_level"] == "LEVEL_2"
    records = report["results"]
    failed = [r for r in records if not r["passed"]]
    assert len(records) > 100 and len(failed) < len(records) / 4, len(failed)
    for r in failed:
        assert r["received"] in PIXEL_MISMATCH, r  # a size, status or header: a server bug
        r["difference"] = _difference(url, r["url"], original)
        assert r["difference"]["mean"] < 16, r  # the model's error, not misplaced pixels
    full = _difference(url, f"{url}/iiif/3/{IDENTIFIER}/full/max/0/default.png", original)
    squares = max(  # the validator's own measure: inside each square's 74x74 centre
        int(np.abs(_decoded(url).astype(int) - original.astype(int))[
            y * 100 + 13 : y * 100 + 87, x * 100 + 13 : x * 100 + 87].max())
        for x in range(10) for y in range(10))
    results = os.environ.get("RPNCODEC_IIIF_RESULTS")
    if results:
        Path(results).write_text(json.dumps({
            "image": "iiif-validator-ng 0.1.0 validation_image.png, 1000x1000",
            "model": default_model(), "bytes": size, "full_image_difference": full,
            "largest_square_centre_difference": squares, **report}, indent=1) + "\n")


def _decoded(url: str) -> np.ndarray:
    body = get(f"{url}/iiif/3/{IDENTIFIER}/full/max/0/default.png")[2]
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
