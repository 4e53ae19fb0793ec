"""The site ``rpncodec web`` writes, in headless Chromium: decode.html decodes the golden files
of the default models (quality and spatial, layer 1 and every layer) in the browser, and what
it reports matches the Python decoder: the same size, pixels within one level (>= 99.9% equal:
onnxruntime-web against native ONNX Runtime), exactly the bytes of those layers' prefix
(``bitstream.prefix_size``, also counted by the server), the command line's words for a
damaged, cut or missing file; a file with exact colours and colour corrections (format
version 5, the golden file of ``tests/golden/exact-colours/``) decodes to its committed pixels,
its header and layers fetched byte for byte; view.html paints a spatial file at 1/4, 1/2 and
full size, and a spatial-quality file (a tiny model's) at 1/4, 1/2, then three times at full
size; the page runs several threads when the host sends COOP/COEP and one otherwise.

Skips, saying why, without Chromium or without the built decoder (``make web``). About a
minute of browser starts and WebAssembly compiles on 2 cores, so marked slow: ``make test``
leaves it out and ``.ci/run`` runs it (``pytest -m slow tests/test_web_browser.py``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import rpncodec
from rpncodec import bitstream, website
from rpncodec.cli import main
from rpncodec.errors import RpncodecError
from rpncodec.utils.report import find_chromium

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from web_session import decode_url, png_pixels, run_page, site_server

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = ("rpn-quality-cond", "rpn-spatial-cond")  # the default model of each mode
EXACT = GOLDEN / "exact-colours"  # version-5 golden files and their pixels


def _bundle_problem() -> str | None:
    try:
        bundle = website.find_bundle()
    except RpncodecError as exc:
        return str(exc)
    if "decodeLayers" not in bundle.decoder.read_text(errors="replace"):
        return f"{bundle.decoder} has no decodeLayers (an older build): run make web"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason="no chromium on this machine"),
    pytest.mark.skipif(_bundle_problem() is not None, reason=str(_bundle_problem())),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site of the golden files of the default models, the exact-colour one of the quality
    model (``exact.rpn``) and a copy with layer 4 damaged; then, put there by hand (the site
    writer refuses them), a cut file and a file that is not .rpn."""
    folder = tmp_path_factory.mktemp("coded")
    for name in FILES:
        shutil.copyfile(GOLDEN / f"{name}.rpn", folder / f"{name}.rpn")
    shutil.copyfile(EXACT / "rpn-quality-cond.rpn", folder / "exact.rpn")
    data = bytearray((GOLDEN / "rpn-quality-cond.rpn").read_bytes())
    data[-5] ^= 1
    (folder / "damaged.rpn").write_bytes(bytes(data))
    out = tmp_path_factory.mktemp("web") / "site"
    website.build_site(folder, out)
    (out / "cut.rpn").write_bytes(data[: bitstream.prefix_size(bitstream.parse(bytes(data)), 2)
                                       + 20])
    (out / "notes.rpn").write_bytes(b"hello, not an image")
    return out


@pytest.fixture(scope="module")
def sq_model(site: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny spatial-quality model's file ``sq.rpn`` and model files, put into the site by
    hand (the site writer takes shipped models only); the model's weights file."""
    from rpncodec.api import encode
    from rpncodec.utils.testing import smooth_image, tiny_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import web_export

    folder = tmp_path_factory.mktemp("sq-model")
    tiny_model(folder, mode="spatial-quality")
    model = str(folder / "tiny-spatial-quality.pt")
    (site / "sq.rpn").write_bytes(encode(smooth_image(69, 101, seed=4), model=model))
    web_export.export_web_model(model, site / "models")
    return model


@pytest.fixture(scope="module")
def served(site: Path):
    with site_server(site) as running:
        yield running


def cli_says(capsys, *args: object) -> str:
    """The command line's error or warning line for ``rpncodec decode args``, without its
    ``rpncodec: error: `` / ``rpncodec: warning: `` prefix."""
    main(["decode", *map(str, args)])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    return line.split(": ", 2)[2]


def assert_close(browser: np.ndarray, python: np.ndarray) -> None:
    assert browser.shape == python.shape
    diff = np.abs(browser.astype(int) - python.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, (diff.max(), (diff == 0).mean())


def decode_page(served, tmp_path: Path, src: str, layers: int | None = None, **query) -> dict:
    origin, reports, sent = served
    sent.clear()
    report = run_page(find_chromium(), decode_url(origin, src, layers, **query), reports,
                      tmp_path / "profile")
    report["sent"] = sent.get(src, 0)
    return report


@pytest.mark.parametrize("layers", [1, None], ids=["layer1", "all"])
@pytest.mark.parametrize("name", FILES)
def test_decode_page_gives_the_python_decoders_image_from_the_prefix(served, site, tmp_path,
                                                                    name, layers):
    report = decode_page(served, tmp_path, f"{name}.rpn", layers)
    assert "error" not in report, report
    c = bitstream.parse((site / f"{name}.rpn").read_bytes())
    k = layers or c.header.layers
    python = np.asarray(rpncodec.decode(site / f"{name}.rpn", layers=k).convert("RGB"))
    assert (report["height"], report["width"], report["layers"]) == (*python.shape[:2], k)
    assert_close(png_pixels(report), python)
    prefixes = [bitstream.prefix_size(c, j) for j in range(1, k + 1)]
    assert report["bytes_fetched"] == prefixes[-1] == report["sent"]
    assert [p["bytes"] for p in report["per_layer"]] == prefixes
    sizes = [(p["width"], p["height"]) for p in report["per_layer"]]
    assert sizes == [bitstream.layer_size(c.header, j) for j in range(1, k + 1)]
    assert report["decode_ms"] > 0 and report["note"] is None
    assert report["isolated"] and report["threads"] >= 1


@pytest.mark.parametrize("layers", [1, None], ids=["layer1", "all"])
def test_a_file_with_exact_colours_decodes_to_its_committed_pixels(served, site, tmp_path,
                                                                   layers):
    report = decode_page(served, tmp_path, "exact.rpn", layers)
    assert "error" not in report, report
    c = bitstream.parse((site / "exact.rpn").read_bytes())
    assert c.header.version == 5 and c.header.corrected and c.header.tiles > 1
    k = layers or c.header.layers
    committed = np.load(EXACT / "pixels.npz")[f"rpn-quality-cond/{k}"]
    python = np.asarray(rpncodec.decode(site / "exact.rpn", layers=k).convert("RGB"))
    assert np.array_equal(python, committed)
    assert (report["height"], report["width"], report["layers"]) == (*committed.shape[:2], k)
    assert_close(png_pixels(report), committed)
    prefixes = [bitstream.prefix_size(c, j) for j in range(1, k + 1)]
    assert report["bytes_fetched"] == prefixes[-1] == report["sent"]
    assert [p["bytes"] for p in report["per_layer"]] == prefixes


def test_two_threads_where_isolated_and_one_thread_otherwise(served, site, tmp_path):
    report = decode_page(served, tmp_path, "rpn-quality-cond.rpn", 2, threads=2)
    assert report["threads"] == 2 and report["isolated"]
    python = np.asarray(rpncodec.decode(site / "rpn-quality-cond.rpn", layers=2).convert("RGB"))
    assert_close(png_pixels(report), python)
    with site_server(site, isolate=False) as plain:
        report = decode_page(plain, tmp_path, "rpn-quality-cond.rpn", 2, threads=2)
    assert report["threads"] == 1 and not report["isolated"]
    assert_close(png_pixels(report), python)


def test_a_damaged_layer_is_reported_in_the_command_lines_words(served, site, tmp_path, capsys):
    out = tmp_path / "x.png"
    report = decode_page(served, tmp_path, "damaged.rpn", 4)
    assert report == {"error": cli_says(capsys, site / "damaged.rpn", "-o", out, "--layers", 4),
                      "sent": report["sent"]}
    # no layers asked: every intact layer, with the command line's warning
    report = decode_page(served, tmp_path, "damaged.rpn")
    assert report["layers"] == 3 and report["note"] == cli_says(capsys, site / "damaged.rpn",
                                                                "-o", out)
    python = np.asarray(rpncodec.decode(site / "damaged.rpn", layers=3).convert("RGB"))
    assert_close(png_pixels(report), python)


@pytest.mark.parametrize("src", ["cut.rpn", "notes.rpn", "gone.rpn"])
def test_a_cut_foreign_or_missing_file_is_the_command_lines_error(served, site, tmp_path,
                                                                  capsys, src):
    report = decode_page(served, tmp_path, src, 4)
    path = site / src
    expected = cli_says(capsys, path, "-o", tmp_path / "x.png", "--layers", 4)
    assert report["error"] == expected.replace(str(path), src)


def test_the_viewer_paints_a_spatial_file_at_a_quarter_half_and_full_size(served, site,
                                                                          tmp_path):
    origin, reports, sent = served
    sent.clear()
    report = run_page(find_chromium(), decode_url(origin, "rpn-spatial-cond.rpn",
                                                  page="view.html"), reports,
                      tmp_path / "profile")
    c = bitstream.parse((site / "rpn-spatial-cond.rpn").read_bytes())
    h, w = c.header.height, c.header.width
    assert [(p["width"], p["height"]) for p in report["layers"]] == [
        (-(-w // 4), -(-h // 4)), (-(-w // 2), -(-h // 2)), (w, h)]
    assert [p["bytes"] for p in report["layers"]] == [bitstream.prefix_size(c, k)
                                                      for k in (1, 2, 3)]
    assert report["fetched"] == sent["rpn-spatial-cond.rpn"] == (site / "rpn-spatial-cond.rpn"
                                                                 ).stat().st_size
    assert report["requests"] <= 3 + 3


def test_the_viewer_shows_a_spatial_quality_file_small_then_full_size_sharpening(
        served, site, sq_model, tmp_path):
    origin, reports, sent = served
    sent.clear()
    report = run_page(find_chromium(), decode_url(origin, "sq.rpn", page="view.html"), reports,
                      tmp_path / "profile")
    assert "error" not in report, report
    c = bitstream.parse((site / "sq.rpn").read_bytes())
    assert c.header.shifts == (2, 1, 0, 0, 0)
    assert [(p["width"], p["height"]) for p in report["layers"]] == [
        bitstream.layer_size(c.header, k) for k in range(1, 6)] == [
        (26, 18), (51, 35), (101, 69), (101, 69), (101, 69)]
    assert report["buttons"] == ["1 (1/4)", "2 (1/2)", "3", "4", "5"]
    assert [p["bytes"] for p in report["layers"]] == [bitstream.prefix_size(c, k)
                                                      for k in range(1, 6)]
    assert report["fetched"] == sent["sq.rpn"] == (site / "sq.rpn").stat().st_size
    for layers in (1, 4):  # the pixels of a small layer and of a full-size quality layer
        report = decode_page(served, tmp_path, "sq.rpn", layers)
        assert "error" not in report, report
        python = np.asarray(rpncodec.decode(site / "sq.rpn", layers=layers, model=sq_model)
                            .convert("RGB"))
        assert_close(png_pixels(report), python)
        assert report["bytes_fetched"] == bitstream.prefix_size(c, layers) == report["sent"]


def test_rpncodec_serve_offers_the_same_in_browser_decoder(site, tmp_path):
    """/web/ of ``rpncodec serve``: the page is cross-origin isolated, fetches the file with
    ranges from the service, the model files the service exports on first use, and reports to
    another origin (CORS)."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    from test_serve import serving

    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copyfile(site / "rpn-spatial-cond.rpn", folder / "rpn-spatial-cond.rpn")
    with site_server(tmp_path, isolate=False) as (harness, reports, _), \
            serving(folder, "--workers", "1") as service:
        report = run_page(find_chromium(), decode_url(service, "rpn-spatial-cond.rpn", 2,
                                                      report=f"{harness}/report",
                                                      page="web/decode.html"), reports,
                          tmp_path / "profile")
    assert "error" not in report, report
    assert report["isolated"] and report["layers"] == 2
    c = bitstream.parse((folder / "rpn-spatial-cond.rpn").read_bytes())
    assert report["bytes_fetched"] == bitstream.prefix_size(c, 2)
    python = np.asarray(rpncodec.decode(folder / "rpn-spatial-cond.rpn", layers=2).convert("RGB"))
    assert_close(png_pixels(report), python)


def test_on_a_slow_link_the_first_layer_is_painted_before_the_file_has_arrived(site, tmp_path):
    name = "rpn-spatial-cond.rpn"
    size = (site / name).stat().st_size
    with site_server(site, delay_s=1.0) as (origin, reports, _):
        report = run_page(find_chromium(), decode_url(origin, name, page="view.html"), reports,
                          tmp_path / "profile")
    layers = report["layers"]
    assert [p["layer"] for p in layers] == [1, 2, 3] and report["fetched"] == size
    assert layers[0]["fetched"] < size  # on screen while the rest was still on its way
