"""``rpncodec serve`` as a IIIF Image API 3.0 server, over HTTP: what info.json says, that
tile requests decode only their tiles and layers (bytes read are counted), that the pixels are
those ``rpncodec decode`` writes, the IIIF error statuses, slow clients being cut off, and
decoding workers being recycled."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_serve import get, serving

from rpncodec import bitstream, codec
from rpncodec.backend import open_model
from rpncodec.registry import default_model
from rpncodec.serve.catalog import summarize
from rpncodec.serve.config import ServeConfig
from rpncodec.serve.pool import DecodePool
from rpncodec.utils.testing import flat_source, zoom_image


def encode_zoom(folder: Path, width: int = 3072, height: int = 2048) -> bytes:
    """``zoom.rpn``: a generated image of 3x2 tiles, spatial (scale factors 1, 2, 4)."""
    data = codec.encode(zoom_image(height, width), open_model(default_model("spatial")))
    (folder / "zoom.rpn").write_bytes(data)
    return data


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("iiif")
    zoom = encode_zoom(folder)
    image = zoom_image(300, 400, seed=1)
    quality = codec.encode(image, open_model(default_model("quality")), tile=128)
    (folder / "q.rpn").write_bytes(quality)
    both = codec.encode(image, open_model(default_model("spatial-quality")), tile=128)
    (folder / "b.rpn").write_bytes(both)
    exact = codec.encode(flat_source(), open_model(default_model("quality")), tile=64)
    (folder / "e.rpn").write_bytes(exact)
    model = open_model(default_model("quality"))  # a valid file of 16384x16384 empty tiles
    header = bitstream.Header("quality", model.name, model.digest, 16384, 16384, 4, 1024)
    empty = bitstream.join_tiles([b""] * header.tiles)
    (folder / "bomb.rpn").write_bytes(bitstream.pack(header, [empty] * 4))
    return {"folder": folder, "zoom": zoom, "q": quality, "b": both, "e": exact}


@pytest.fixture(scope="module")
def server(files: dict) -> Iterator[str]:
    with serving(files["folder"], "--workers", "1", "--request-timeout", "2") as url:
        yield url


def _image(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


def _tile_bytes(data: bytes, layers: int, tiles: list[int]) -> int:
    """Bytes of the strings of ``tiles`` in the first ``layers`` layers of a file."""
    c = bitstream.parse(data)
    return sum(len(bitstream.split_tiles(c.chunks[k], c.header.tiles)[i])
               for k in range(layers) for i in tiles)


def test_info_json(server, files):
    status, h, body = get(f"{server}/iiif/3/zoom/info.json")
    info = json.loads(body)
    assert status == 200 and h["content-type"] == "application/json"
    assert h["access-control-allow-origin"] == "*" and h["etag"]
    assert (info["id"], info["type"], info["protocol"], info["profile"]) == (
        f"{server}/iiif/3/zoom", "ImageService3", "http://iiif.io/api/image", "level2")
    assert (info["width"], info["height"]) == (3072, 2048)
    assert info["sizes"] == [{"width": 768, "height": 512}, {"width": 1536, "height": 1024},
                             {"width": 3072, "height": 2048}]
    assert info["tiles"] == [{"width": 1024, "height": 1024, "scaleFactors": [1, 2, 4]}]
    assert "webp" in info["extraFormats"] and "mirroring" in info["extraFeatures"]
    status, h, _ = get(f"{server}/iiif/3/zoom/info.json", {"Accept": "application/ld+json"})
    assert h["content-type"].startswith("application/ld+json")
    assert get(f"{server}/iiif/3/zoom/info.json", {"Accept": "application/ld+json",
                                                   "If-None-Match": h["etag"]})[0] == 304
    status, h, _ = get(f"{server}/iiif/3/zoom", method="HEAD")
    assert status == 200  # urllib follows the 303 to info.json
    status, h, _ = get(f"{server}/iiif/3/zoom/info.json", method="OPTIONS")
    assert status == 204 and h["access-control-allow-origin"] == "*"


def test_a_tile_decodes_only_its_strings_and_gives_the_decoders_pixels(server, files,
                                                                       tmp_path):
    zoom = files["zoom"]
    full = codec.decode(zoom, 3).image
    url = f"{server}/iiif/3/zoom/1024,1024,1024,1024/1024,/0/default.png"
    status, h, body = get(url)
    assert status == 200 and h["content-type"] == "image/png"
    assert (h["x-rpn-layers"], h["x-rpn-tiles"], h["x-rpn-tiles-decoded"]) == ("3", "1/6", "1")
    assert int(h["x-rpn-bytes-read"]) == _tile_bytes(zoom, 3, [4]) < len(zoom) / 4
    assert np.array_equal(_image(body), full[1024:2048, 1024:2048])
    assert 'rel="canonical"' in h["link"] and "level2.json" in h["link"]
    assert "decode;dur=" in h["server-timing"]
    # the same tile again: from the cache, nothing read
    status, h, _ = get(f"{server}/iiif/3/zoom/1024,1024,1024,1024/max/0/default.jpg")
    assert (h["x-rpn-tiles-decoded"], h["x-rpn-bytes-read"]) == ("0", "0")
    assert get(url, {"If-None-Match": get(url)[1]["etag"]})[0] == 304


def test_scale_factor_four_reads_layer_one_only(server, files):
    zoom = files["zoom"]
    status, h, body = get(f"{server}/iiif/3/zoom/full/768,/0/default.png")
    assert status == 200 and h["x-rpn-layers"] == "1" and h["x-rpn-tiles"] == "6/6"
    assert int(h["x-rpn-bytes-read"]) == _tile_bytes(zoom, 1, list(range(6)))
    assert np.array_equal(_image(body), codec.decode(zoom, 1).image)
    status, h, _ = get(f"{server}/iiif/3/zoom/2048,0,1024,2048/256,/0/default.jpg")
    assert (h["x-rpn-layers"], h["x-rpn-tiles"]) == ("1", "2/6")  # cached: read before


def _check_layer_policy(server: str, files: dict, name: str,
                        sizes: tuple[tuple[str, str], ...]) -> None:
    """Each full-image request of ``sizes`` (size, layers it must decode) decodes those
    layers, and ``max`` gives the decoder's pixels of every layer."""
    for size, layers in sizes:
        status, h, body = get(f"{server}/iiif/3/{name}/full/{size}/0/default.png")
        assert status == 200 and h["x-rpn-layers"] == layers, (size, body[:200])
    _, _, body = get(f"{server}/iiif/3/{name}/full/max/0/default.png")
    assert np.array_equal(_image(body), codec.decode(files[name]).image)


def test_quality_files_follow_the_layer_policy(server, files):
    _check_layer_policy(server, files, "q", (("max", "4"), ("200,", "4"), ("199,", "3"),
                                             ("50,", "2"), ("25,", "1")))
    status, _, body = get(f"{server}/iiif/3/q/130,0,100,100/max/!90/gray.png")
    expected = np.asarray(Image.fromarray(codec.decode(files["q"], 4).image[0:100, 130:230])
                          .convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                          .transpose(Image.Transpose.ROTATE_270))
    assert status == 200 and np.array_equal(_image(body), expected)


def test_tiles_of_a_file_with_exact_colours_are_snapped_as_the_decoder_snaps(server, files):
    """A version-6 file of two tiles (exact colours; its top layer a residual layer): a
    region across both, and one tile alone, are the decoder's pixels (each tile on its own:
    snapped, then refined by the tile's residual string)."""
    assert bitstream.parse(files["e"]).header.steps[-1]
    expected = codec.decode(files["e"], 4).image
    status, h, body = get(f"{server}/iiif/3/e/0,0,96,64/max/0/default.png")
    assert status == 200 and h["x-rpn-layers"] == "4" and h["x-rpn-tiles"] == "2/2"
    assert np.array_equal(_image(body), expected)
    status, h, body = get(f"{server}/iiif/3/e/64,0,32,64/max/0/default.png")
    assert status == 200 and h["x-rpn-tiles"] == "1/2"
    assert np.array_equal(_image(body), expected[:, 64:96])


def test_spatial_quality_files_give_three_sizes_then_the_qualities_of_the_full_one(server,
                                                                                  files):
    info = json.loads(get(f"{server}/iiif/3/b/info.json")[2])
    assert info["tiles"][0]["scaleFactors"] == [1, 2, 4]
    _check_layer_policy(server, files, "b", (("100,", "1"), ("101,", "2"), ("200,", "2"),
                                             ("201,", "5"), ("max", "5")))
    # a region shown at a quarter of its pixels comes from the quarter-size layer alone
    status, h, _ = get(f"{server}/iiif/3/b/0,0,200,200/50,/0/default.png")
    assert status == 200 and h["x-rpn-layers"] == "1"


@pytest.mark.parametrize("path, status, words", [
    ("nope/info.json", 404, "no file"), ("a/b/info.json", 404, ""),
    ("%5Bfrob%5D/info.json", 400, "invalid name"),
    ("zoom/full/max/0/default.tif", 501, "not produced"),
    ("zoom/full/max/0/default.xyz", 400, "format must be"),
    ("zoom/4000,0,10,10/max/0/default.jpg", 400, "outside"),
    ("zoom/full/4000,/0/default.jpg", 400, "^4000,"),
    ("zoom/full/1000000000000,/0/default.jpg", 400, "above the largest value"),
    ("zoom/full/max/400/default.jpg", 400, "0 to 360"),
    ("zoom/full/max/0/grey.jpg", 400, "quality must be"),
    ("bomb/info.json", 422, "more than twice the limit"),
    ("bomb/0,0,1024,1024/max/0/default.jpg", 422, "more than twice the limit"),
])
def test_iiif_errors(server, path, status, words):
    got, h, body = get(f"{server}/iiif/3/{path}")
    assert got == status, body[:300]
    if words:
        assert words in json.loads(body)["error"]
        assert h["access-control-allow-origin"] == "*"


def test_absurd_width_says_what_is_wrong(server):
    status, _, body = get(f"{server}/images/zoom?width=1000000000000")
    message = json.loads(body)["error"]
    assert status == 400 and "above the largest width" in message and "at least" not in message


def test_slow_clients_are_cut_off(server):
    """Ten clients sending their headers at one byte a second are closed after the request
    timeout (2 s here), while a normal request is still served."""
    port = int(server.rsplit(":", 1)[1])
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
    request = b"GET /iiif/3/zoom/info.json HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20
    start, closed = time.monotonic(), set()
    for byte in request:
        if len(closed) == len(clients) or time.monotonic() - start > 15:
            break
        for i, c in enumerate(clients):
            if i not in closed:
                try:
                    c.sendall(bytes([byte]))
                    c.settimeout(0.01)
                    if c.recv(1) == b"":
                        closed.add(i)
                except (BlockingIOError, TimeoutError):
                    pass
                except OSError:
                    closed.add(i)
        time.sleep(1.0)
    elapsed = time.monotonic() - start
    for c in clients:
        c.close()
    assert len(closed) == len(clients) and elapsed < 6, (len(closed), elapsed)
    assert get(f"{server}/iiif/3/zoom/info.json")[0] == 200


def test_workers_are_recycled(files):
    """After every decode when above the memory limit (1 byte here); after N decodes by
    count. Either way the next decode is still served."""
    config = ServeConfig(files["folder"], workers=1, worker_max_bytes=1,
                         max_decodes_per_worker=2)
    path = files["folder"] / "q.rpn"
    found = summarize("q", path, files["q"], '"x"')

    async def run() -> tuple[int, list[int]]:
        pool = DecodePool(config)
        try:
            for i in range(2):
                await pool.tile(("t", i), str(path), found.header, found.tile_ranges(1, i),
                                128, 128, (128, 128))
            pids = [pool._executor.submit(os.getpid).result() for _ in range(4)]
            return pool.recycled, pids
        finally:
            pool.close()

    recycled, pids = asyncio.run(run())
    assert recycled == 2
    assert len(set(pids)) == 2, pids
