"""``rpncodec web DIR -o SITE``: a static web site that decodes a folder's ``.rpn`` files in
the visitor's browser (docs/browser.md).

The site holds the files themselves (under their names), the viewer pages (``index.html``,
``view.html?src=NAME.rpn``, ``decode.html?src=...``; :mod:`rpncodec.website` ``static/``), the
TypeScript decoder bundle (``web/dist/rpncodec.mjs``, built by ``make web``), onnxruntime-web's
WebAssembly runtime, and the per-level model files (``scripts/web_export.py``) of the models
those files were encoded with, and no others. Any static host serves it; the browser fetches
each file progressively with ``Range`` requests, so the host must honour them (nginx, Apache,
object stores and CDNs do; ``python -m http.server`` does not: the viewer then reads each
file once in full). ``python -m rpncodec.website.preview SITE`` serves it locally with ranges
and the cross-origin-isolation headers that let the decoder use several threads.

Why a copied bundle and not one in the Python package: the decoder is built by npm tooling
(``make web``) that a Python install does not run; in a checkout (editable install) the
command finds ``web/`` next to the package, and ``--web DIR`` points at another build.

The site is written into a temporary folder beside SITE and renamed into place; a SITE that
exists is replaced only if an earlier ``rpncodec web`` wrote it (its ``.rpncodec-site.json``)
or it is empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import InputImageError, ModelError, OutputError, RpncodecError

STATIC = ("index.html", "view.html", "decode.html")  # at the site's root
APP = ("client.js", "decode.js", "fetcher.js", "index.js", "view.js", "worker.js", "style.css")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MARKER = ".rpncodec-site.json"
SITE_FORMAT = 1
REPO = Path(__file__).resolve().parents[2]  # the checkout, for an editable install
BUILD_HINT = "run `make web` in the rpncodec checkout (needs node and npm)"

# COOP + COEP make the page cross-origin isolated: SharedArrayBuffer, so onnxruntime-web can
# run several threads. Without them the decoder runs in one thread (still in a worker).
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin",
                     "Cross-Origin-Embedder-Policy": "require-corp"}


@dataclass(frozen=True)
class Bundle:
    """Where the built browser decoder lives."""

    decoder: Path
    """``rpncodec.mjs``: the TypeScript decoder as one ES module."""
    ort: Path
    """The folder holding onnxruntime-web's :data:`ORT_FILES`."""
    exporter: Path | None
    """``scripts/web_export.py`` (writes the per-level model files), when in a checkout."""
    models: Path | None
    """Prebuilt per-level model files (``NAME/model.json``), if the build wrote them."""


def static_dir() -> Path:
    """The viewer's pages and scripts (package data)."""
    return Path(str(resources.files(__package__) / "static"))


def find_bundle(web: str | os.PathLike | None = None) -> Bundle:
    """The built decoder under ``web`` (default: the checkout's ``web/``, or $RPNCODEC_WEB).

    Raises:
        RpncodecError: the bundle or onnxruntime-web's files are missing (says what to run).
    """
    root = Path(web or os.environ.get("RPNCODEC_WEB") or REPO / "web")
    decoder = root / "dist" / "rpncodec.mjs"
    if not decoder.is_file():
        raise RpncodecError(f"the browser decoder is not built ({decoder} is missing): "
                            f"{BUILD_HINT}, or give --web FOLDER")
    ort = next((d for d in (root / "dist" / "ort", root / "node_modules" / "onnxruntime-web"
                            / "dist") if all((d / f).is_file() for f in ORT_FILES)), None)
    if ort is None:
        raise RpncodecError(f"onnxruntime-web's WebAssembly files are missing under {root}: "
                            f"{BUILD_HINT}")
    exporter = REPO / "scripts" / "web_export.py"
    models = root / "dist" / "models"
    return Bundle(decoder, ort, exporter if exporter.is_file() else None,
                  models if models.is_dir() else None)


@dataclass(frozen=True)
class SiteFile:
    """One ``.rpn`` file of the site, described from its header and chunks."""

    file: str
    model: str
    mode: str
    width: int
    height: int
    layers: int
    available: int
    bytes: int
    problem: str | None

    def to_json(self) -> dict:
        return {"file": self.file, "model": self.model, "mode": self.mode, "width": self.width,
                "height": self.height, "layers": self.layers, "available": self.available,
                "bytes": self.bytes, "problem": self.problem}


def scan(folder: Path) -> list[tuple[Path, SiteFile]]:
    """The ``.rpn`` files directly in ``folder`` (hidden files skipped), each described.

    Raises:
        InputImageError: the folder is missing or holds no ``.rpn`` file.
        RpncodecError: a file's header is unreadable or names a model that is not shipped.
    """
    from .. import bitstream
    from ..api import read_rpn
    from ..registry import REGISTRY

    if not folder.exists():
        raise InputImageError(f"{folder} does not exist")
    if not folder.is_dir():
        raise InputImageError(f"{folder} is not a folder of .rpn files")
    paths = sorted(p for p in folder.iterdir()
                   if p.suffix == ".rpn" and not p.name.startswith(".") and p.is_file())
    if not paths:
        raise InputImageError(f"{folder} holds no .rpn files")
    found = []
    for path in paths:
        data = read_rpn(path)
        try:
            c = bitstream.parse(data)
        except RpncodecError as exc:
            raise type(exc)(f"{path}: {exc}") from None
        h = c.header
        if h.model not in REGISTRY:
            raise ModelError(f"{path}: encoded with {h.model}, which is not a shipped model "
                             "(the browser decoder has the shipped models only)")
        problem = None
        if c.damaged is not None:
            problem = bitstream.damaged_message(c.damaged, h.layers, c.damage or "CRC mismatch")
        elif c.truncated:
            problem = f"file is truncated: only {c.available} of {h.layers} layers are complete"
        found.append((path, SiteFile(path.name, h.model, h.mode, h.width, h.height, h.layers,
                                     c.available, len(data), problem)))
    return found


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete_export(folder: Path, sha256: str) -> bool:
    """``folder`` holds a whole export of the weights ``sha256``: its model.json names them
    and every file it lists is there with its size."""
    try:
        meta = json.loads((folder / "model.json").read_text())
        return meta.get("sha256") == sha256 and all(
            (folder / name).is_file() and (folder / name).stat().st_size == f["bytes"]
            for name, f in meta["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def cache_root() -> Path:
    """Where exported model files are kept between runs (``web-models`` in $RPNCODEC_CACHE
    or ~/.cache/rpncodec, beside the onnx backend's exports)."""
    root = os.environ.get("RPNCODEC_CACHE") or Path.home() / ".cache" / "rpncodec"
    return Path(root) / "web-models"


def model_folder(name: str, bundle: Bundle) -> Path:
    """The per-level model files of shipped model ``name``: prebuilt by ``make web``, cached
    from an earlier export, or exported now with ``scripts/web_export.py`` into the cache.

    Raises:
        ModelError: the model cannot be exported here (no exporter, or the export failed).
    """
    from ..registry import REGISTRY

    sha = REGISTRY[name].sha256
    if bundle.models and _complete_export(bundle.models / name, sha):
        return bundle.models / name
    if bundle.exporter is None:
        raise ModelError(f"no web export of {name} and no scripts/web_export.py to write one "
                         f"(run `make web` in the rpncodec checkout)")
    tag = _file_sha256(bundle.exporter)[:12]
    target = cache_root() / f"{name}-{sha[:16]}-{tag}"
    if _complete_export(target, sha):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
    try:
        run = subprocess.run([sys.executable, str(bundle.exporter), "models", str(temp), name],
                             capture_output=True, text=True, env={**os.environ,
                                                                  "OMP_NUM_THREADS": "1"})
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(f"exporting {name} for the browser failed: {last}")
        if not _complete_export(temp / name, sha):
            raise ModelError(f"exporting {name} for the browser wrote an incomplete export")
        shutil.rmtree(target, ignore_errors=True)
        (temp / name).rename(target)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def _is_site(path: Path) -> bool:
    try:
        return json.loads((path / MARKER).read_text()).get("site") == SITE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_output(out: Path) -> None:
    """Refuse an output that exists and is neither empty nor a site written earlier.

    Raises:
        OutputError: with what is wrong.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputError(f"{out} exists and is not a folder; choose another output")
    if out.is_dir() and any(out.iterdir()) and not _is_site(out):
        raise OutputError(f"{out} exists and is not a site written by rpncodec web; remove it "
                          "or choose another output")
    if not out.parent.resolve().is_dir():
        raise OutputError(f"output folder {out.parent} does not exist")


HEADERS_FILE = """# Netlify and Cloudflare Pages read this file: cross-origin isolation lets the
# decoder use several threads (docs/browser.md gives nginx and Apache equivalents).
/*
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
"""


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the files under ``source`` with the site's permissions (a web server running as
    another user must read them; an export folder may be private), not the source's."""
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def _write(temp: Path, files: list[tuple[Path, SiteFile]], bundle: Bundle,
           models: dict[str, Path]) -> None:
    static = static_dir()
    for name in STATIC:
        shutil.copyfile(static / name, temp / name)
    (temp / "app").mkdir()
    for name in APP:
        shutil.copyfile(static / name, temp / "app" / name)
    shutil.copyfile(bundle.decoder, temp / "app" / "rpncodec.mjs")
    (temp / "ort").mkdir()
    for name in ORT_FILES:
        shutil.copyfile(bundle.ort / name, temp / "ort" / name)
    for name, folder in models.items():
        _copy_tree(folder, temp / "models" / name)
    for path, _ in files:
        shutil.copyfile(path, temp / path.name)
    listing = {"files": [f.to_json() for _, f in files]}
    (temp / "files.json").write_text(json.dumps(listing, indent=1) + "\n")
    (temp / "_headers").write_text(HEADERS_FILE)
    (temp / MARKER).write_text(json.dumps({"site": SITE_FORMAT, "files": len(files),
                                           "models": sorted(models)}) + "\n")


@dataclass(frozen=True)
class SiteSummary:
    """What :func:`build_site` wrote."""

    out: Path
    files: list[SiteFile]
    models: list[str]
    bytes: int


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_site(folder: str | os.PathLike, out: str | os.PathLike,
               web: str | os.PathLike | None = None) -> SiteSummary:
    """Write the static site viewing every ``.rpn`` file directly in ``folder`` to ``out``.

    Args:
        folder: the folder of ``.rpn`` files.
        out: the site's folder: created, or replaced if an earlier call wrote it.
        web: the decoder's ``web/`` folder (default: the checkout's).

    Returns:
        The files, the models and the site's size.

    Raises:
        InputImageError: ``folder`` is missing or holds no ``.rpn`` file.
        OutputError: ``out`` exists and is not a previous site, or cannot be written.
        RpncodecError: a file is unreadable or needs a model without a web export; the
            decoder is not built (the message says what to run).
    """
    folder, out = Path(folder), Path(out)
    files = scan(folder)
    check_output(out)
    bundle = find_bundle(web)
    models = {name: model_folder(name, bundle) for name in sorted({f.model for _, f in files})}
    parent = out.parent.resolve()
    temp = parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    old = parent / f".{out.name}.old-{secrets.token_hex(4)}"
    try:
        temp.mkdir()
        _write(temp, files, bundle, models)
        size = _tree_bytes(temp)
        replacing = out.exists()
        if replacing:
            out.rename(old)  # the previous site (checked above), removed once replaced
        try:
            temp.rename(out)
        except OSError:
            if replacing:
                old.rename(out)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return SiteSummary(out, [f for _, f in files], sorted(models), size)
