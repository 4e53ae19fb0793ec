"""``rpncodec serve`` as a user meets it: the real server on a free localhost port, over HTTP.

One server (one decoding process) serves a folder holding a quality and a spatial file of the
shipped models, plus hostile ones: cut, damaged, not an .rpn, empty, a huge declared size, a
307-byte-style decompression bomb, and symlinks pointing out of the folder.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from rpncodec import bitstream, codec
from rpncodec.cli import main
from rpncodec.imageio import load_image
from rpncodec.serve.cache import ByteLRU
from rpncodec.serve.render import render
from rpncodec.utils.report import find_chromium
from rpncodec.zoo import default_model, load_model

SAMPLE = Path(__file__).resolve().parents[1] / "rpncodec" / "samples" / "kodim23.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and body of one request; an error status is a result."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _bomb(loaded) -> bytes:
    """A valid file of a few hundred bytes declaring an 8192x8192 image (empty tile strings)."""
    header = bitstream.Header("quality", loaded.name, loaded.digest, 8192, 8192,
                              loaded.config.layers, 1024)
    empty = bitstream.join_tiles([b""] * header.tiles)
    return bitstream.pack(header, [empty] * header.layers)


def _huge(loaded) -> bytes:
    """A header declaring 65536x65536 pixels (past the decoder's limit), with a valid CRC."""
    name = loaded.name.encode()
    body = (struct.pack(">4sBBB", bitstream.MAGIC, bitstream.FORMAT_VERSION, 0, len(name)) + name
            + struct.pack(">8sIIIB", loaded.digest, 65536, 65536, 1024, 4) + bytes(4))
    return body + struct.pack(">I", zlib.crc32(body)) + b"\0" * 16


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The served folder: name -> bytes, and the folder itself under key ``folder``."""
    folder = tmp_path_factory.mktemp("served")
    outside = tmp_path_factory.mktemp("outside")
    sample = load_image(SAMPLE)
    quality = load_model(default_model("quality"))
    spatial = load_model(default_model("spatial"))
    q = codec.encode(sample[:96, :128], quality)
    s = codec.encode(sample[:128, :192], spatial)
    b = codec.encode(sample[:128, :192], load_model(default_model("spatial-quality")))
    ends = bitstream.parse(q).byte_ranges
    damaged = bytearray(q)
    damaged[ends[1][0] + 12] ^= 0xFF  # a payload byte of layer 2: its CRC no longer matches
    content = {"q": q, "s": s, "b": b, "cut": q[: ends[1][1] + 3], "damaged": bytes(damaged),
               "garbage": b"GIF89a not an rpn file" * 4, "empty": b"",
               "bomb": _bomb(quality), "huge": _huge(quality)}
    for name, data in content.items():
        (folder / f"{name}.rpn").write_bytes(data)
    (outside / "secret.rpn").write_bytes(q)
    (folder / "escape.rpn").symlink_to(outside / "secret.rpn")
    (folder / "passwd.rpn").symlink_to("/etc/passwd")
    (folder / ".hidden.rpn").write_bytes(q)
    return {"folder": folder, **content}


@contextmanager
def serving(folder: Path, *options: str) -> Iterator[str]:
    """``rpncodec serve folder options...`` on a free port, in its own process group (its
    decoding processes die with it); yields its base URL and checks its log has no
    traceback."""
    port = _free_port()
    log = folder.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "rpncodec", "serve", str(folder),
                                 "--port", str(port), *options],
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if get(url + "/")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log.read_text()
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def server(files: dict) -> Iterator[str]:
    with serving(files["folder"], "--workers", "1") as url:
        yield url


def _png(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def _cli_decode(path: Path, layers: int, out: Path) -> np.ndarray:
    assert main(["decode", str(path), "-o", str(out), "--layers", str(layers)]) == 0
    return np.asarray(Image.open(out))


def test_files_are_served_with_ranges(server, files):
    q = files["q"]
    status, h, body = get(server + "/files/q.rpn")
    assert (status, body, h["accept-ranges"]) == (200, q, "bytes")
    etag = h["etag"]
    status, h, body = get(server + "/files/q.rpn", {"Range": "bytes=0-9"})
    assert (status, body, h["content-range"]) == (206, q[:10], f"bytes 0-9/{len(q)}")
    assert get(server + "/files/q.rpn", {"Range": "bytes=-5"})[2] == q[-5:]
    assert get(server + "/files/q.rpn", {"Range": "bytes=0-99999999999999999999"})[2] == q
    status, h, body = get(server + "/files/q.rpn", {"Range": "bytes=0-1,4-5"})
    assert status == 206 and h["content-type"].startswith("multipart/byteranges")
    assert get(server + "/files/q.rpn", {"If-None-Match": etag})[0] == 304
    status, h, _ = get(server + "/files/q.rpn", {"Range": f"bytes={len(q) + 10}-"})
    assert status == 416 and h["content-range"] == f"bytes */{len(q)}"
    for bad in ("bytes=abc", "items=0-1", "bytes=5-2", "bytes=", "bytes=-"):
        assert get(server + "/files/q.rpn", {"Range": bad})[0] == 400, bad
    status, h, body = get(server + "/files/q.rpn", method="HEAD")
    assert status == 200 and body == b"" and h["content-length"] == str(len(q))


def test_decode_from_the_server_reads_only_layer_one(server, files, tmp_path, capsys):
    out = tmp_path / "l1.png"
    url = f"{server}/files/q.rpn"
    assert main(["decode", url, "-o", str(out), "--layers", "1", "-v"]) == 0
    err = capsys.readouterr().err
    ends = bitstream.parse(files["q"]).byte_ranges
    assert f"total            {ends[0][1] + 8} bytes in 2 requests" in err
    expected = _cli_decode(files["folder"] / "q.rpn", 1, tmp_path / "local.png")
    assert np.array_equal(np.asarray(Image.open(out)), expected)


@pytest.mark.parametrize("name", ["q", "s", "b"])
def test_served_pixels_are_what_decode_writes(server, files, name, tmp_path):
    layers = bitstream.parse(files[name]).header.layers
    for k in range(1, layers + 1):
        status, h, body = get(f"{server}/images/{name}?layers={k}")
        assert status == 200 and h["content-type"] == "image/png", body[:200]
        assert h["x-rpn-layer"] == str(k) and "max-age" in h["cache-control"]
        expected = _cli_decode(files["folder"] / f"{name}.rpn", k, tmp_path / f"{k}.png")
        assert np.array_equal(_png(body), expected)
    status, h, body = get(f"{server}/images/{name}?layers={layers}&format=webp")
    assert status == 200 and h["content-type"] == "image/webp"
    assert np.array_equal(_png(body), expected)  # lossless WebP: the same pixels
    status, h, _ = get(f"{server}/images/{name}?layers=1", {"If-None-Match": h["etag"]})
    assert status == 200  # another layer's validator does not match
    etag = get(f"{server}/images/{name}?layers=1")[1]["etag"]
    assert get(f"{server}/images/{name}?layers=1", {"If-None-Match": etag})[0] == 304


def test_width_picks_the_smallest_spatial_layer_wide_enough(server):
    for width, layer in ((1, 1), (48, 1), (49, 2), (97, 3), (100000, 3)):
        status, h, body = get(f"{server}/images/s?width={width}")
        assert status == 200 and h["x-rpn-layer"] == str(layer), (width, body[:200])
    assert _png(get(f"{server}/images/s?width=49")[2]).shape == (64, 96, 3)
    status, _, body = get(f"{server}/images/q?width=10")
    assert status == 400 and b"several resolutions" in body
    status, h, _ = get(f"{server}/images/s?width=49&layers=3")  # the width's layer, within 3
    assert status == 200 and h["x-rpn-layer"] == "2"
    # spatial-quality: the width picks the resolution, layers the quality within it
    for query, layer in (("width=49", 2), ("width=192", 5), ("width=192&layers=4", 4),
                         ("width=100&layers=3", 3), ("layers=4", 4)):
        status, h, body = get(f"{server}/images/b?{query}")
        assert status == 200 and h["x-rpn-layer"] == str(layer), (query, body[:200])
    assert _png(get(f"{server}/images/b?width=192&layers=4")[2]).shape == (128, 192, 3)
    status, _, body = get(f"{server}/images/b?width=192&layers=2")
    assert status == 400 and b"needs at least 3 layers" in body


def test_info_json(server, files):
    status, h, body = get(f"{server}/images/s/info")
    info = json.loads(body)
    c = bitstream.parse(files["s"])
    assert status == 200 and h["content-type"] == "application/json"
    assert (info["mode"], info["model"], info["layers"], info["available"]) == (
        "spatial", c.header.model, c.header.layers, c.header.layers)
    assert [(r["start"], r["end"]) for r in info["per_layer"]] == c.byte_ranges
    assert [(r["width"], r["height"]) for r in info["per_layer"]] == [(48, 32), (96, 64),
                                                                       (192, 128)]
    cut = json.loads(get(f"{server}/images/cut/info")[2])
    assert cut["available"] == 2 and cut["truncated"]
    damaged = json.loads(get(f"{server}/images/damaged/info")[2])
    assert damaged["available"] == 1 and damaged["damaged"] == 2


HOSTILE = [
    # path traversal, in every spelling, and links out of the folder
    ("/files/..%2F..%2Fetc%2Fpasswd", 404), ("/files/%2e%2e%2fsecret.rpn", 404),
    ("/files/..%252Fsecret.rpn", 400), ("/files//etc/passwd", 404),
    ("/files/%2Fetc%2Fpasswd.rpn", 404), ("/files/..\\secret.rpn", 400),
    ("/files/escape.rpn", 404), ("/files/passwd.rpn", 404), ("/images/escape/info", 404),
    ("/images/passwd?layers=1", 404), ("/view/escape", 404), ("/files/.hidden.rpn", 400),
    ("/images/..", 400), ("/images/%00", 400), ("/images/" + "a" * 300, 400),
    # unknown names and bad parameters
    ("/images/nope", 404), ("/view/nope", 404), ("/files/nope.rpn", 404), ("/files/q", 404),
    ("/images/q?layers=0", 400), ("/images/q?layers=99", 400), ("/images/q?layers=abc", 400),
    ("/images/q?layers=-1", 400), ("/images/q?layers=1.5", 400), ("/images/q?layers=", 400),
    ("/images/q?layers=" + "9" * 5000, 400), ("/images/q?format=gif", 400),
    ("/images/s?width=0", 400), ("/images/s?width=x", 400), ("/images/s?width=60&layers=1", 400),
    # damaged, cut and hostile files in the folder
    ("/images/cut?layers=3", 422), ("/images/damaged?layers=2", 422),
    ("/images/garbage/info", 422), ("/images/garbage?layers=1", 422),
    ("/images/empty/info", 422), ("/images/huge/info", 422), ("/images/huge", 422),
    ("/images/bomb?layers=1", 422),
]


@pytest.mark.parametrize("path, expected", HOSTILE)
def test_hostile_requests_get_a_clear_4xx(server, path, expected):
    status, h, body = get(server + path)
    assert status == expected, (path, body[:300])
    assert h["content-type"] == "application/json"
    message = json.loads(body)["error"]
    assert message and "Traceback" not in message and "root:" not in message


def test_what_hostile_files_say(server, files):
    assert b"only 2 of" in get(f"{server}/images/cut?layers=3")[2]
    assert b"damaged" in get(f"{server}/images/damaged?layers=2")[2]
    assert b"not an .rpn file" in get(f"{server}/images/garbage/info")[2]
    assert b"above the limit" in get(f"{server}/images/huge/info")[2]
    status, _, body = get(f"{server}/images/bomb?layers=1")
    assert b"8192x8192" in body and b"limit of 16777216" in body
    assert json.loads(get(f"{server}/images/bomb/info")[2])["width"] == 8192  # info is cheap
    # the layers of a cut or damaged file that decode are served
    for name, k in (("cut", 2), ("damaged", 1)):
        status, h, body = get(f"{server}/images/{name}")
        assert status == 200 and h["x-rpn-layer"] == str(k)
    assert get(f"{server}/images/q", method="POST")[0] == 405
    big = {"Range": "bytes=" + ",".join(f"{i}-{i}" for i in range(500))}
    status, _, body = get(f"{server}/files/q.rpn", big)  # too many ranges: Range is ignored
    assert (status, body) == (200, files["q"])


def test_time_budget_stops_a_decode(files):
    result = render(str(files["folder"] / "q.rpn"), 4, "png", 1e-4, 2**24)
    assert result[:2] == ("error", 503) and "time budget" in result[2]
    assert render(str(files["folder"] / "q.rpn"), 1, "png", 60, 2**24)[0] == "ok"


def test_byte_lru_is_bounded():
    cache = ByteLRU(100)
    for i in range(10):
        cache.put(i, (bytes(20), 0.0))
    assert cache.size <= 100 and len(cache) == 5 and cache.get(0) is None
    assert cache.get(9) == (bytes(20), 0.0)
    cache.put("big", (bytes(26), 0.0))  # over a quarter of the bound: not kept
    assert cache.get("big") is None


def test_serve_refuses_a_missing_folder(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 1
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.skipif(find_chromium() is None, reason="no chromium on this machine")
@pytest.mark.parametrize("name", ["q", "s", "b"])
def test_viewer_shows_the_final_layer(server, files, name, tmp_path):
    layers = bitstream.parse(files[name]).header.layers
    final = _png(get(f"{server}/images/{name}?layers={layers}")[2])
    first = _png(get(f"{server}/images/{name}?layers=1")[2])
    shot = tmp_path / "view.png"
    browser = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--hide-scrollbars"]
    subprocess.run([*browser, f"--screenshot={shot}", "--window-size=400,500",
                    f"{server}/view/{name}"], check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*browser, "--dump-dom", f"{server}/view/{name}"], check=True,
                         capture_output=True, timeout=120, text=True).stdout
    assert 'data-done="1"' in dom and f"{layers} layers in" in dom
    assert dom.count("<tr") == layers + 1  # header row + one row per layer, with bytes
    h, w = final.shape[:2]
    seen = np.asarray(Image.open(shot).convert("RGB"))[:h, :w].astype(int)
    to_final = np.abs(seen - final).mean()
    assert to_final < 1.0, to_final
    if first.shape == final.shape:
        assert to_final < np.abs(seen - first).mean()
