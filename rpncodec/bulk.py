"""Encode a folder of images: in parallel processes, resumable, or on a Dask cluster.

One function, :func:`encode_one`, encodes one image to one ``.rpn`` file (written atomically).
:func:`encode_folder` plans the work, drops the files already finished, and maps
:func:`encode_one` over the rest with an executor:

- ``workers=1``: in this process;
- ``workers=N``: a ``concurrent.futures.ProcessPoolExecutor`` of N processes, each with
  ``cores // N`` network threads (N processes of one thread beat one process of N threads on
  these small convolutions, and a 2-core machine is not oversubscribed);
- ``scheduler="tcp://host:8786"``: a running Dask distributed cluster (``rpncodec[cluster]``),
  through its ``concurrent.futures``-style executor. The workers must see the same paths (a
  shared filesystem). No scheduler is written here: those are the engines'.

Resuming: a target counts as finished when it exists, parses completely (every declared layer
present, no damage, nothing after it) and was made by the same weights with the same tile
side. Outputs are written atomically, so an interrupted run leaves only finished files and
temporaries that are ignored; running the same command again encodes only what is missing.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import bitstream
from .errors import InputImageError, OutputError, RpncodecError


@dataclass(frozen=True)
class Settings:
    """How every file is encoded (picklable: it travels to the workers)."""

    model: str | None
    mode: str | None
    tile: int
    device: str = "cpu"
    threads: int | None = None  # network threads per worker (None: the backend's default)
    refine: int = 0  # latent refinement steps (rpncodec.models.refine; torch backend)
    exact_colours: bool = True  # codec.encode's exact (encode --no-exact-colours: False)
    residual_layers: bool = True  # codec.encode's residual (--no-residual-layers: False)
    extra_layers: tuple[int, ...] = ()  # codec.encode's extra (--extra-layers)
    max_pixels: int | None = None  # decompression limit of the images read (rpncodec.limits)


@dataclass(frozen=True)
class Outcome:
    """What happened to one image."""

    source: str
    target: str
    ok: bool
    message: str  # the log line, or why the image was not encoded
    pid: int


def plan(folder: Path, out: Path) -> dict[Path, Path]:
    """``target -> source`` for every image under ``folder`` (same relative paths, .rpn)."""
    from .imageio import list_images

    sources = list_images(folder)
    if not sources:
        raise InputImageError(f"{folder} is a directory with no images in it")
    targets: dict[Path, Path] = {}
    for source in sources:
        target = out / source.relative_to(folder).with_suffix(".rpn")
        if target in targets:
            raise OutputError(f"{targets[target]} and {source} would both be written to {target}")
        targets[target] = source
    return targets


def is_finished(target: Path, digests: set[bytes], tile: int) -> bool:
    """Whether ``target`` is a complete file made with weights of ``digests`` (one model, or
    each candidate of ``--model auto``) and side ``tile``."""
    try:
        data = target.read_bytes()
        c = bitstream.parse(data)
    except (OSError, RpncodecError):
        return False
    h = c.header
    return (c.available == h.layers and c.damaged is None and not c.trailing
            and h.digest in digests and h.tile == tile)


@functools.lru_cache(maxsize=4)
def _model(model: str | None, mode: str | None, device: str, threads: int | None = None,
           backend: str | None = None):
    """The encoder of ``model`` (or of ``mode``'s shipped model), loaded once per process."""
    from .backend import open_model
    from .registry import default_model

    loaded = open_model(model or (mode and default_model(mode)), backend, device, threads)
    if mode and loaded.config.mode != mode:
        raise RpncodecError(f"--mode {mode} but {loaded.name} is a {loaded.config.mode} model")
    return loaded


def _encoders(settings: Settings, threads: int | None = None) -> list:
    """The model that encodes, or for ``--model auto`` every candidate of the mode."""
    from .api import AUTO

    backend = "torch" if settings.refine else None
    if settings.model != AUTO:
        return [_model(settings.model, settings.mode, settings.device, threads, backend)]
    from .auto import candidates

    return [_model(name, settings.mode, settings.device, threads, backend)
            for name in candidates(settings.mode or "quality")]


def encode_one(source: str, target: str, settings: Settings) -> Outcome:
    """Encode the image ``source`` to ``target`` (atomically). Runs in any worker."""
    from . import codec
    from .auto import choose
    from .imageio import atomic_write_bytes, load_image

    try:
        image = load_image(source, settings.max_pixels)
        coders = _encoders(settings, settings.threads or _worker_threads)
        t0 = time.perf_counter()
        chosen = choose(image, coders,
                        lambda img, c: codec.encode(img, c, settings.tile, settings.refine,
                                                    settings.exact_colours,
                                                    settings.residual_layers))
        # above whichever file won
        data = codec.add_extra_layers(chosen.data, image, chosen.coder, settings.extra_layers)
        seconds = time.perf_counter() - t0
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    except RpncodecError as exc:
        return Outcome(source, target, False, str(exc), os.getpid())
    h, w = image.shape[:2]
    return Outcome(source, target, True, f"{target}: {w}x{h}, {len(data)} bytes "
                   f"({8 * len(data) / (h * w):.4f} bpp), {seconds:.2f} s", os.getpid())


_worker_threads: int | None = None  # set in each pool worker: cores // workers


def _init_worker(threads: int) -> None:
    global _worker_threads
    _worker_threads = threads


def _local_map(workers: int) -> Callable[..., Iterator[Outcome]]:
    """``map`` over a pool of ``workers`` processes (in this process for one worker)."""
    if workers == 1:
        return map

    def pool_map(fn, *iterables) -> Iterator[Outcome]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(threads,)) as pool:
            try:
                yield from pool.map(fn, *iterables)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    return pool_map


def _dask_map(scheduler: str) -> Callable[..., Iterator[Outcome]]:
    """``map`` on a running Dask distributed cluster at ``scheduler``."""
    try:
        from distributed import Client
    except ImportError:
        raise RpncodecError("--scheduler needs Dask distributed: pip install "
                            "'rpncodec[cluster]'") from None

    def dask_map(fn, *iterables) -> Iterator[Outcome]:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise RpncodecError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") \
                from None
        with client:
            # pure=False: each call is a distinct task even when its arguments repeat
            yield from client.get_executor(pure=False).map(fn, *iterables)

    return dask_map


def encode_folder(folder: Path, out: Path, settings: Settings, workers: int = 1,
                  scheduler: str | None = None, force: bool = False,
                  log: Callable[[str], None] | None = None) -> list[Outcome]:
    """Encode every image under ``folder`` into ``out``, skipping finished targets.

    Raises :class:`InputImageError` at the end when some images could not be read (the others
    are encoded and kept), like the single-process path always did.
    """
    log = log or (lambda line: print(line, file=sys.stderr))
    if workers < 1:
        raise RpncodecError("--workers must be at least 1")
    targets = plan(folder, out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {out} is not a folder (a folder is encoded into a folder)")
    if not out.parent.is_dir():
        raise OutputError(f"output folder {out.parent} does not exist")
    digests = {c.digest for c in _encoders(settings)}  # fail early, here
    out.mkdir(exist_ok=True)
    todo = {t: s for t, s in targets.items()
            if force or not is_finished(t, digests, settings.tile)}
    if len(todo) < len(targets):
        log(f"rpncodec: {len(targets) - len(todo)} of {len(targets)} files already finished "
            f"in {out}; encoding the other {len(todo)}")
    mapper = _dask_map(scheduler) if scheduler else _local_map(min(workers, len(todo) or 1))
    outcomes = list(_run(mapper, todo, settings, log))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise InputImageError(f"encoded {len(targets) - len(failed)} of {len(targets)} images "
                              f"into {out}; could not encode "
                              f"{', '.join(Path(o.source).name for o in failed)}")
    return outcomes


def _run(mapper: Callable[..., Iterable[Outcome]], todo: dict[Path, Path], settings: Settings,
         log: Callable[[str], None]) -> Iterator[Outcome]:
    sources = [str(s) for s in todo.values()]
    targets = [str(t) for t in todo]
    for outcome in mapper(encode_one, sources, targets, [settings] * len(sources)):
        log(outcome.message if outcome.ok else f"rpncodec: warning: skipped {outcome.message}")
        yield outcome
