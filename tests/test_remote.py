"""Reading .rpn files from URLs: only the bytes of the layers asked for travel.

The HTTP server here is the standard library's, with single-range support and a count of every
body byte it sends: a plain static host, nothing rpncodec-specific.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpncodec import bitstream, codec, remote
from rpncodec.cli import main
from rpncodec.errors import RpncodecError
from rpncodec.utils.testing import smooth_image


class CountingServer:
    """Serves ``files`` (name -> bytes); counts body bytes and requests per path."""

    def __init__(self, files: dict[str, bytes], honour_range: bool = True) -> None:
        self.files, self.honour_range = files, honour_range
        self.sent: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                data = outer.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                outer.requests[name] = outer.requests.get(name, 0) + 1
                match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if match and outer.honour_range:
                    start, last = int(match[1]), min(int(match[2]), len(data) - 1)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = data[start : last + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{last}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # counted before the write: the client may read the count as soon as it has
                # the body (counting after was a race on a busy machine)
                outer.sent[name] = outer.sent.get(name, 0) + len(body)
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def rpn(tiny) -> bytes:
    """A 4-tile file of the tiny model (several layers, several tiles per layer)."""
    return codec.encode(smooth_image(96, 128, seed=3), tiny, tile=64)


@pytest.fixture
def server(rpn: bytes) -> Iterator[CountingServer]:
    cut = rpn[: bitstream.parse(rpn).byte_ranges[1][1] + 5]  # layers 1-2 and 5 bytes of 3
    s = CountingServer({"a.rpn": rpn, "cut.rpn": cut})
    yield s
    s.close()


def _decode_cli(args: list[str], model: str) -> int:
    return main(["decode", *args, "--model", model])


def test_layer_one_transfers_only_its_bytes(server, rpn, tiny, tiny_model_path, tmp_path,
                                            capsys):
    c = bitstream.parse(rpn)
    assert c.header.layers >= 3
    out = tmp_path / "l1.png"
    assert _decode_cli([f"{server.url}/a.rpn", "-o", str(out), "--layers", "1", "-v"],
                       tiny_model_path) == 0
    # header probe + layer 1's payload + layer 2's 8-byte length field, in two requests
    assert server.sent["a.rpn"] == c.byte_ranges[0][1] + bitstream.CHUNK_OVERHEAD
    assert server.requests["a.rpn"] == 2
    assert server.sent["a.rpn"] < len(rpn) / 2
    err = capsys.readouterr().err
    assert f"total            {server.sent['a.rpn']} bytes in 2 requests" in err
    expected = codec.decode(rpn, 1, tiny).image
    assert np.array_equal(np.asarray(Image.open(out)), expected)


def test_every_layer_is_the_local_decode(server, rpn, tiny, tiny_model_path, tmp_path):
    layers = bitstream.parse(rpn).header.layers
    for k in (2, layers):
        out = tmp_path / f"l{k}.png"
        assert _decode_cli([f"{server.url}/a.rpn", "-o", str(out), "--layers", str(k)],
                           tiny_model_path) == 0
        assert np.array_equal(np.asarray(Image.open(out)), codec.decode(rpn, k, tiny).image)


def test_all_layers_read_the_file_exactly_once(server, rpn):
    source = remote.open(f"{server.url}/a.rpn")
    assert source.prefix() == rpn
    assert server.sent["a.rpn"] == len(rpn) == source.bytes_read


def test_api_reads_lazily_and_reuses_what_it_has(server, rpn, tiny):
    source = remote.open(f"{server.url}/a.rpn")
    assert source.header == bitstream.parse(rpn).header
    assert source.bytes_read == remote.PROBE
    first = source.decode(1, tiny)
    after_one = source.bytes_read
    second = source.decode(2, tiny)
    assert first.layers == 1 and second.layers == 2
    ends = bitstream.parse(rpn).byte_ranges
    assert after_one == ends[0][1] + 8 and source.bytes_read == ends[1][1] + 8
    with pytest.raises(RpncodecError, match="--layers must be between 1 and"):
        source.decode(99, tiny)
    assert source.bytes_read == ends[1][1] + 8  # refused before reading


def test_info_reads_length_fields_only(server, rpn, capsys):
    assert main(["info", f"{server.url}/a.rpn", "--remote"]) == 0
    out = capsys.readouterr().out
    c = bitstream.parse(rpn)
    for start, end in c.byte_ranges:
        assert f"{start:>8}-{end:<8}" in out
    layers = c.header.layers
    assert server.sent["a.rpn"] == remote.PROBE + 8 * (layers - 1)
    assert f"total            {server.sent['a.rpn']} bytes" in out


def test_truncate_from_url_matches_local(server, rpn, tmp_path):
    out = tmp_path / "t.rpn"
    assert main(["truncate", f"{server.url}/a.rpn", "-o", str(out), "--layers", "2"]) == 0
    assert out.read_bytes() == bitstream.truncate(rpn, 2)
    assert server.sent["a.rpn"] == bitstream.parse(rpn).byte_ranges[1][1] + 8


def test_cut_remote_file_behaves_like_a_cut_local_file(server, tiny_model_path, tmp_path,
                                                       capsys):
    out = tmp_path / "x.png"
    url = f"{server.url}/cut.rpn"
    assert _decode_cli([url, "-o", str(out)], tiny_model_path) == 0
    assert "file is truncated: decoded 2 of" in capsys.readouterr().err
    assert _decode_cli([url, "-o", str(out), "--layers", "3"], tiny_model_path) == 1
    assert "only 2 of" in capsys.readouterr().err


def test_server_ignoring_range_still_works(rpn, tiny):
    s = CountingServer({"a.rpn": rpn}, honour_range=False)
    try:
        source = remote.open(f"{s.url}/a.rpn")
        assert np.array_equal(source.decode(2, tiny).image, codec.decode(rpn, 2, tiny).image)
        assert s.requests["a.rpn"] == 1  # read once in full, then served from memory
    finally:
        s.close()


def test_fsspec_urls(rpn, tiny, tmp_path):
    path = tmp_path / "a.rpn"
    path.write_bytes(rpn)
    source = remote.open(path.as_uri())  # file://
    assert source.decode(1, tiny).image.shape == (96, 128, 3)
    assert source.bytes_read == bitstream.parse(rpn).byte_ranges[0][1] + 8
    import fsspec

    with fsspec.open("memory://rpncodec-test/a.rpn", "wb") as f:
        f.write(rpn)
    assert remote.open("memory://rpncodec-test/a.rpn").prefix(2) == rpn[
        : bitstream.parse(rpn).byte_ranges[1][1]]


@pytest.mark.parametrize("path, message", [("missing.rpn", "HTTP 404"),
                                           ("a.rpn", "cannot read")])
def test_bad_urls_are_one_line_errors(server, path, message, tmp_path, capsys):
    url = f"{server.url}/{path}" if path == "missing.rpn" else "http://127.0.0.1:9/a.rpn"
    assert main(["info", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_not_an_rpn_url(tmp_path, capsys):
    bad = tmp_path / "bad.rpn"
    bad.write_bytes(b"hello, this is not an rpn file at all")
    assert main(["info", bad.as_uri()]) == 1
    assert "not an .rpn file" in capsys.readouterr().err


def test_is_url():
    assert remote.is_url("http://x/y.rpn") and remote.is_url("s3://b/k.rpn")
    assert not remote.is_url("/tmp/a.rpn") and not remote.is_url("C:\\a.rpn")
    with pytest.raises(RpncodecError, match="does not exist"):
        remote.open(str(Path("no-such-dir") / "a.rpn"))


def test_package_level_open_reads_urls_and_paths(server, rpn, tiny, tmp_path):
    import rpncodec

    local = tmp_path / "a.rpn"
    local.write_bytes(rpn)
    for location in (f"{server.url}/a.rpn", str(local)):
        source = rpncodec.open(location)
        assert source.header == bitstream.parse(rpn).header
        assert np.array_equal(source.decode(1, tiny).image, codec.decode(rpn, 1, tiny).image)
