"""``rpncodec web DIR -o SITE`` (rpncodec/website): the site's layout, its errors, atomic
replacement, and the viewer's progressive download (fetcher.js, in Node) reading exactly the
bytes each layer needs. No browser here: tests/test_web_browser.py decodes in Chromium.

Most tests use a stand-in decoder folder (a ``web/`` with placeholder bundle, onnxruntime-web
and prebuilt model files), so they check what the site writer does without ``make web``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rpncodec import bitstream, website
from rpncodec.cli import main
from rpncodec.registry import REGISTRY
from rpncodec.website.preview import SiteHandler

GOLDEN = Path(__file__).resolve().parent / "golden"
NODE = shutil.which("node")
FETCHER = website.static_dir() / "fetcher.js"


def _fake_model(folder: Path, name: str) -> None:
    """A prebuilt per-level export of ``name`` as model.json describes one (placeholder
    contents, real sha256 of the weights)."""
    folder.mkdir(parents=True)
    files = {}
    for k in range(REGISTRY[name].layers):
        for part in (f"level{k}.json", f"level{k}.bin", f"synthesis{k}.onnx"):
            (folder / part).write_bytes(f"{name} {part}".encode())
            files[part] = {"sha256": "-", "bytes": (folder / part).stat().st_size}
    (folder / "model.json").write_text(json.dumps({"format": 1, "name": name,
                                                   "sha256": REGISTRY[name].sha256,
                                                   "files": files}))


@pytest.fixture
def fake_web(tmp_path: Path) -> Path:
    """A built decoder's folder with placeholder files: dist/rpncodec.mjs, dist/models/NAME,
    node_modules/onnxruntime-web/dist/."""
    web = tmp_path / "web"
    (web / "dist").mkdir(parents=True)
    (web / "dist" / "rpncodec.mjs").write_text("export const placeholder = 1;\n")
    ort = web / "node_modules" / "onnxruntime-web" / "dist"
    ort.mkdir(parents=True)
    for name in website.ORT_FILES:
        (ort / name).write_text(f"// {name}\n")
    for name in ("rpn-quality-cpu", "rpn-spatial-cpu", "rpn-quality-cond"):
        _fake_model(web / "dist" / "models" / name, name)
    return web


@pytest.fixture
def rpn_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "coded"
    folder.mkdir()
    for name in ("rpn-quality-cpu", "rpn-spatial-cpu"):
        shutil.copyfile(GOLDEN / f"{name}.rpn", folder / f"{name}.rpn")
    return folder


def run_cli(capsys, *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpncodec: error: "), err
    return lines[0][len("rpncodec: error: "):]


def leftovers(parent: Path, name: str) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_site_holds_the_files_pages_decoder_and_only_the_models_used(capsys, fake_web,
                                                                      rpn_dir, tmp_path):
    site = tmp_path / "site"
    code, err = run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)
    assert code == 0, err
    assert f"{site}: 2 files, models rpn-quality-cpu, rpn-spatial-cpu" in err
    for name in ("rpn-quality-cpu.rpn", "rpn-spatial-cpu.rpn"):
        assert (site / name).read_bytes() == (rpn_dir / name).read_bytes()
    for name in website.STATIC:
        assert (site / name).read_text() == (website.static_dir() / name).read_text()
    for name in website.APP:
        assert (site / "app" / name).is_file()
    assert (site / "app" / "rpncodec.mjs").read_text() == "export const placeholder = 1;\n"
    assert sorted(p.name for p in (site / "ort").iterdir()) == sorted(website.ORT_FILES)
    # the models of the files, every file of each, and not rpn-quality-cond
    assert sorted(p.name for p in (site / "models").iterdir()) == ["rpn-quality-cpu",
                                                                    "rpn-spatial-cpu"]
    meta = json.loads((site / "models" / "rpn-quality-cpu" / "model.json").read_text())
    assert sorted(meta["files"]) == sorted(p.name for p in (site / "models" / "rpn-quality-cpu")
                                           .iterdir() if p.name != "model.json")
    listing = json.loads((site / "files.json").read_text())["files"]
    assert [f["file"] for f in listing] == ["rpn-quality-cpu.rpn", "rpn-spatial-cpu.rpn"]
    quality = listing[0]
    assert (quality["model"], quality["mode"], quality["layers"], quality["available"],
            quality["bytes"], quality["problem"]) == (
        "rpn-quality-cpu", "quality", 4, 4, (rpn_dir / "rpn-quality-cpu.rpn").stat().st_size, None)
    assert listing[1]["mode"] == "spatial" and listing[1]["layers"] == 3
    assert "Cross-Origin-Embedder-Policy: require-corp" in (site / "_headers").read_text()
    assert json.loads((site / website.MARKER).read_text())["site"] == website.SITE_FORMAT
    assert leftovers(tmp_path, "site") == []


def test_a_previous_site_is_replaced_whole(capsys, fake_web, rpn_dir, tmp_path):
    site = tmp_path / "site"
    assert run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)[0] == 0
    (site / "stale.rpn").write_bytes(b"old")
    (rpn_dir / "rpn-spatial-cpu.rpn").unlink()
    assert run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)[0] == 0
    assert not (site / "stale.rpn").exists() and not (site / "rpn-spatial-cpu.rpn").exists()
    assert sorted(p.name for p in (site / "models").iterdir()) == ["rpn-quality-cpu"]
    assert leftovers(tmp_path, "site") == []


def test_an_empty_folder_may_be_the_output(capsys, fake_web, rpn_dir, tmp_path):
    site = tmp_path / "empty"
    site.mkdir()
    assert run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)[0] == 0
    assert (site / "index.html").is_file()


def test_a_failed_write_leaves_the_previous_site_and_no_temporary_folder(
        capsys, fake_web, rpn_dir, tmp_path, monkeypatch):
    site = tmp_path / "site"
    assert run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)[0] == 0
    before = sorted(str(p.relative_to(site)) for p in site.rglob("*"))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(website, "_copy_tree", full_disk)
    code, err = run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)
    assert code == 1
    assert one_error(err) == f"cannot write {site}: No space left on device"
    assert sorted(str(p.relative_to(site)) for p in site.rglob("*")) == before
    assert leftovers(tmp_path, "site") == []


@pytest.mark.parametrize("case", ["missing", "file", "no-rpn"])
def test_a_bad_input_folder_is_one_line(capsys, fake_web, tmp_path, case):
    folder = tmp_path / "in"
    if case == "file":
        folder.write_bytes(b"x")
    elif case == "no-rpn":
        folder.mkdir()
        (folder / "a.png").write_bytes(b"x")
        (folder / ".hidden.rpn").write_bytes((GOLDEN / "rpn-quality-cpu.rpn").read_bytes())
    code, err = run_cli(capsys, "web", folder, "-o", tmp_path / "site", "--web", fake_web)
    assert code == 1
    assert one_error(err) == {"missing": f"{folder} does not exist",
                              "file": f"{folder} is not a folder of .rpn files",
                              "no-rpn": f"{folder} holds no .rpn files"}[case]
    assert not (tmp_path / "site").exists()


def test_an_output_that_is_not_a_previous_site_is_refused(capsys, fake_web, rpn_dir, tmp_path):
    site = tmp_path / "photos"
    site.mkdir()
    (site / "keep.jpg").write_bytes(b"precious")
    code, err = run_cli(capsys, "web", rpn_dir, "-o", site, "--web", fake_web)
    assert code == 1
    assert one_error(err) == (f"{site} exists and is not a site written by rpncodec web; "
                              "remove it or choose another output")
    assert [p.name for p in site.iterdir()] == ["keep.jpg"]
    afile = tmp_path / "afile"
    afile.write_bytes(b"x")
    code, err = run_cli(capsys, "web", rpn_dir, "-o", afile, "--web", fake_web)
    assert one_error(err) == f"{afile} exists and is not a folder; choose another output"
    code, err = run_cli(capsys, "web", rpn_dir, "-o", tmp_path / "no" / "site", "--web",
                        fake_web)
    assert one_error(err) == f"output folder {tmp_path / 'no'} does not exist"


def test_a_file_that_is_not_rpn_or_needs_an_unshipped_model_is_named(capsys, fake_web, rpn_dir,
                                                                     tmp_path):
    (rpn_dir / "notes.rpn").write_bytes(b"hello")
    _, err = run_cli(capsys, "web", rpn_dir, "-o", tmp_path / "site", "--web", fake_web)
    assert one_error(err) == f"{rpn_dir / 'notes.rpn'}: not an .rpn file (wrong magic)"
    (rpn_dir / "notes.rpn").unlink()
    data = (GOLDEN / "rpn-quality-cpu.rpn").read_bytes()
    c = bitstream.parse(data)
    other = replace(c.header, model="my-model").to_bytes() + data[c.byte_ranges[0][0]:]
    (rpn_dir / "mine.rpn").write_bytes(other)
    _, err = run_cli(capsys, "web", rpn_dir, "-o", tmp_path / "site", "--web", fake_web)
    assert one_error(err) == (f"{rpn_dir / 'mine.rpn'}: encoded with my-model, which is not a "
                              "shipped model (the browser decoder has the shipped models only)")
    assert not (tmp_path / "site").exists()


def test_a_damaged_file_is_kept_with_a_warning(capsys, fake_web, rpn_dir, tmp_path):
    data = bytearray((GOLDEN / "rpn-quality-cpu.rpn").read_bytes())
    data[-5] ^= 1  # inside layer 4's payload
    (rpn_dir / "rpn-quality-cpu.rpn").write_bytes(bytes(data))
    code, err = run_cli(capsys, "web", rpn_dir, "-o", tmp_path / "site", "--web", fake_web)
    assert code == 0
    problem = "layer 4 of 4 is damaged (CRC mismatch); layers 1-3 decode (use --layers 3)"
    assert f"rpncodec: warning: rpn-quality-cpu.rpn: {problem}" in err
    listing = json.loads((tmp_path / "site" / "files.json").read_text())["files"]
    assert listing[0]["problem"] == problem and listing[0]["available"] == 3


def test_a_missing_decoder_build_says_what_to_run(capsys, rpn_dir, tmp_path):
    _, err = run_cli(capsys, "web", rpn_dir, "-o", tmp_path / "site", "--web",
                     tmp_path / "nothing")
    message = one_error(err)
    assert "the browser decoder is not built" in message and "make web" in message
    assert not (tmp_path / "site").exists()


def test_a_missing_model_export_without_an_exporter_is_one_line(capsys, fake_web, rpn_dir,
                                                                tmp_path, monkeypatch):
    shutil.rmtree(fake_web / "dist" / "models" / "rpn-spatial-cpu")
    monkeypatch.setattr(website, "REPO", tmp_path / "elsewhere")  # no scripts/web_export.py
    _, err = run_cli(capsys, "web", rpn_dir, "-o", tmp_path / "site", "--web", fake_web)
    assert "no web export of rpn-spatial-cpu" in one_error(err)


# -- the progressive download, in Node --------------------------------------------------------

@contextmanager
def http_folder(folder: Path, ranges: bool = True):
    """Serve ``folder`` on localhost: with Range support (the preview server) or without
    (the standard library's, which answers every request with the whole file)."""
    handler = SiteHandler if ranges else SimpleHTTPRequestHandler
    quiet = type("Quiet", (handler,), {"log_message": lambda *a: None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


FETCH_SCRIPT = """
import { PrefixFetcher } from %s;
const out = [];
for (const [url, wanted] of JSON.parse(process.argv.at(-1))) {
  const f = new PrefixFetcher(url);
  const ends = [];
  try {
    await f.layers(wanted, (k, end) => ends.push(end));
    out.push({ fetched: f.fetched, requests: f.requests, held: f.length, ends, whole: f.whole });
  } catch (error) { out.push({ error: error.message }); }
}
console.log(JSON.stringify(out));
"""


def fetch_in_node(jobs: list[tuple[str, int | None]]) -> list[dict]:
    script = FETCH_SCRIPT % json.dumps(FETCHER.as_uri())
    run = subprocess.run([NODE, "--input-type=module", "-e", script, json.dumps(jobs)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


needs_node = pytest.mark.skipif(NODE is None, reason="no node on this machine")


@needs_node
@pytest.mark.parametrize("name", ["rpn-quality-cpu", "rpn-spatial-cpu", "rpn-quality-cond",
                                  "rpn-spatial-cond"])
def test_the_viewer_fetches_exactly_each_layers_prefix(tmp_path, name):
    shutil.copyfile(GOLDEN / f"{name}.rpn", tmp_path / "f.rpn")
    c = bitstream.parse((tmp_path / "f.rpn").read_bytes())
    layers = c.header.layers
    with http_folder(tmp_path) as url:
        got = fetch_in_node([(f"{url}/f.rpn", k) for k in range(1, layers + 1)]
                            + [(f"{url}/f.rpn", None)])
    prefixes = [bitstream.prefix_size(c, k) for k in range(1, layers + 1)]
    for k, result in enumerate(got[:-1], 1):
        assert result["fetched"] == result["held"] == prefixes[k - 1], (k, result)
        assert result["ends"] == prefixes[:k]
        assert result["requests"] <= k + 3  # header: 2-3 requests, then one per layer
    assert got[-1]["fetched"] == (tmp_path / "f.rpn").stat().st_size
    assert got[-1]["ends"] == prefixes


@needs_node
def test_the_fetch_stops_where_a_file_is_cut_or_missing(tmp_path):
    data = (GOLDEN / "rpn-quality-cpu.rpn").read_bytes()
    c = bitstream.parse(data)
    first, second = bitstream.prefix_size(c, 1), bitstream.prefix_size(c, 2)
    (tmp_path / "cut.rpn").write_bytes(data[:second - 10])  # inside layer 2
    (tmp_path / "tiny.rpn").write_bytes(b"hello")
    with http_folder(tmp_path) as url:
        cut, tiny, missing = fetch_in_node([(f"{url}/cut.rpn", None), (f"{url}/tiny.rpn", 2),
                                            (f"{url}/gone.rpn", 1)])
    assert cut["held"] == second - 10 and cut["ends"] == [first]
    assert tiny["held"] == 5 and tiny["ends"] == []
    assert missing == {"error": "gone.rpn does not exist"}  # the command line's words


@needs_node
def test_a_host_without_range_support_is_read_once_in_full(tmp_path):
    data = (GOLDEN / "rpn-quality-cpu.rpn").read_bytes()
    (tmp_path / "f.rpn").write_bytes(data)
    with http_folder(tmp_path, ranges=False) as url:
        (result,) = fetch_in_node([(f"{url}/f.rpn", 1)])
    assert result["whole"] and result["fetched"] == len(data) and result["requests"] == 1
    assert result["ends"] == [bitstream.prefix_size(bitstream.parse(data), 1)]


# -- rpncodec serve's /web routes --------------------------------------------------------------

@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]  # lower-cased names
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self):
        return json.loads(self.content)


class AsgiClient:
    """GET requests straight into an ASGI app, without its lifespan (so no decoders) and
    without a network or an HTTP client library."""

    def __init__(self, app) -> None:
        self.app = app

    def get(self, url: str, headers: dict[str, str] | None = None) -> Reply:
        path, _, query = url.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": query.encode(),
                 "headers": [(b"host", b"testserver")] + [
                     (k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
                 "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
        sent: list[dict] = []

        async def run() -> None:
            done = asyncio.Event()
            requested = False

            async def receive() -> dict:
                nonlocal requested
                if not requested:
                    requested = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await done.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                sent.append(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    done.set()

            await self.app(scope, receive, send)

        asyncio.run(run())
        start = sent[0]
        return Reply(start["status"],
                     {k.decode().lower(): v.decode() for k, v in start["headers"]},
                     b"".join(m.get("body", b"") for m in sent[1:]))


def _client(folder: Path, web: Path, monkeypatch) -> AsgiClient:
    pytest.importorskip("starlette")
    from rpncodec.serve import ServeConfig
    from rpncodec.serve.app import create_app

    monkeypatch.setenv("RPNCODEC_WEB", str(web))
    return AsgiClient(create_app(ServeConfig(folder, workers=1)))


def test_serve_offers_the_in_browser_viewer_cross_origin_isolated(fake_web, rpn_dir,
                                                                  monkeypatch):
    client = _client(rpn_dir, fake_web, monkeypatch)
    for path in ("/web/", "/web/view.html", "/web/decode.html"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["cross-origin-opener-policy"] == "same-origin"
        assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert client.get("/web/view.html").text == (website.static_dir() / "view.html").read_text()
    listing = client.get("/web/files.json").json()["files"]
    assert [(f["file"], f["layers"], f["bytes"]) for f in listing] == [
        (f"{n}.rpn", layers, (rpn_dir / f"{n}.rpn").stat().st_size)
        for n, layers in (("rpn-quality-cpu", 4), ("rpn-spatial-cpu", 3))]
    r = client.get("/web/rpn-quality-cpu.rpn", headers={"Range": "bytes=0-40"})
    assert r.status_code == 206 and r.content == (rpn_dir / "rpn-quality-cpu.rpn").read_bytes()[:41]
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert client.get("/web/app/rpncodec.mjs").text == "export const placeholder = 1;\n"
    assert client.get("/web/app/worker.js").headers["content-type"].startswith("text/javascript")
    wasm = client.get("/web/ort/ort-wasm-simd-threaded.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert client.get("/web/models/rpn-quality-cpu/model.json").json()["name"] == "rpn-quality-cpu"
    assert client.get("/web/models/rpn-quality-cpu/level0.bin").content == \
        b"rpn-quality-cpu level0.bin"
    for path, status in [("/web/app/secret.py", 404), ("/web/ort/ort.all.js", 404),
                         ("/web/models/not-a-model/model.json", 404),
                         ("/web/models/rpn-quality-cpu/.hidden", 400),
                         ("/web/models/rpn-quality-cpu/missing.bin", 404),
                         ("/web/nope.rpn", 404), ("/web/admin.html", 404)]:
        r = client.get(path)
        assert r.status_code == status and "error" in r.json(), path
    assert "/web/view.html?src=rpn-quality-cpu.rpn" in client.get("/").text


def test_serve_without_the_decoder_build_says_what_to_run(rpn_dir, tmp_path, monkeypatch):
    client = _client(rpn_dir, tmp_path / "unbuilt", monkeypatch)
    r = client.get("/web/view.html")
    assert r.status_code == 404 and "make web" in r.json()["error"]
    assert client.get("/images/rpn-quality-cpu/info").status_code == 200  # the rest still works
