"""A layered model on numpy and ONNX Runtime: the coding loop of
:class:`rpncodec.models.base.LayeredModel` without torch.

The heavy float32 transforms (each level's analysis and synthesis) run as ONNX graphs on ONNX
Runtime; everything the entropy coder depends on (predictions, latent codecs) runs in float64
numpy, the networks among it being the torch modules' exported float64 graphs
(:mod:`.graph`), as the torch backend runs them in float64 (``rpncodec.latent_codecs.base``,
"Precision"), so files written by either backend decode with the other. A session is created
when a level's graph is first needed: decoding layer k loads one synthesis and no analysis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from ..errors import ModelError, in_layer
from ..models.config import ModelConfig
from .graph import Graph, Graphs
from .images import pyramid, to_array, to_image
from .latent import build_latent_codec


def _sub(params: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def one_blas_thread() -> AbstractContextManager:
    """numpy's BLAS held to one thread for the float64 networks, then restored.

    Their matrix products are small (a 768x512 image's latent is 48x32), and after a
    multi-threaded product OpenBLAS's idle threads spin for a while, taking a core from the
    ONNX Runtime synthesis that follows: a library decode with numpy's default threads took
    10-40% longer than the command line, which sets ``OPENBLAS_NUM_THREADS=1`` at start-up
    (``rpncodec.console``; then there is nothing to do here).
    """
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


class _Session:
    """One ONNX graph (path, sha256), read, checked and given a session on first call."""

    def __init__(self, source: tuple[Path, str], threads: int | None) -> None:
        self.source, self.threads = source, threads
        self._session = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._session is None:
            import onnxruntime as ort

            from .store import read_checked

            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
            # idle worker threads must not spin: numpy (and other processes) need the cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(read_checked(*self.source), options,
                                                 providers=["CPUExecutionProvider"])
        return self._session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]


class RuntimeLevel:
    """Analysis and synthesis (ONNX Runtime), prediction and latent codec (numpy and float64
    graphs) of one level."""

    def __init__(self, onnx: Mapping[str, tuple[Path, str]], graphs: Graphs, k: int,
                 config: ModelConfig, params: Mapping[str, np.ndarray],
                 threads: int | None) -> None:
        self.analysis = _Session(onnx[f"analysis{k}.onnx"], threads)
        self.synthesis = _Session(onnx[f"synthesis{k}.onnx"], threads)
        self.prediction: Graph | None = graphs[f"levels.{k}.prediction"] if k else None
        self.codec = build_latent_codec(config.latent_codecs[k], _sub(params, "latent_codec."),
                                        lambda net: graphs[f"levels.{k}.latent_codec.{net}"])

    def context(self, lower: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
        """The resolution field for this level's latent ``size`` (None at level 1)."""
        if self.prediction is None or lower is None:
            return None
        return self.prediction(lower)[..., : size[0], : size[1]]

    def compress(self, x: np.ndarray, lower: np.ndarray | None) -> tuple[bytes, np.ndarray]:
        y = self.analysis(x).astype(np.float64)
        return self.codec.compress(y, lower, self.context(lower, y.shape[-2:]))

    def decompress(self, data: bytes, size: tuple[int, int],
                   lower: np.ndarray | None) -> np.ndarray:
        return self.codec.decompress(data, size, lower, self.context(lower, size))


class RuntimeModel:
    """A shipped or exported model on the ONNX backend, with the codec's tile interface
    (:class:`rpncodec.backend.Coder`)."""

    backend = "onnx"

    def __init__(self, name: str, sha256: str, config: ModelConfig, folder: Path,
                 files: Mapping[str, str], params: Mapping[str, np.ndarray], graphs: Graphs,
                 threads: int | None = None) -> None:
        """``folder`` holds the export, ``files`` its manifest's file -> sha256, ``params``
        the arrays, ``graphs`` the float64 networks; ONNX graphs are read (and checked) when
        first run."""
        self.name, self.sha256, self.config, self.folder = name, sha256, config, folder
        self.digest = bytes.fromhex(sha256[:16])
        self._onnx = {f: (folder / f, sha) for f, sha in files.items() if f.endswith(".onnx")}
        self._params, self.graphs, self._threads = params, graphs, threads
        self._levels: dict[int, RuntimeLevel] = {}

    @property
    def layers(self) -> int:
        return self.config.layers

    @property
    def pad_multiple(self) -> int:
        return self.config.pad_multiple

    def level(self, k: int) -> RuntimeLevel:
        """Level ``k`` (0-based), built on first use: a layer-1 decode builds one level."""
        if k not in self._levels:
            self._levels[k] = RuntimeLevel(self._onnx, self.graphs, k, self.config,
                                           _sub(self._params, f"levels.{k}."), self._threads)
        return self._levels[k]

    # -- the hooks (as LayeredModel's, from the configuration's layer shifts) -----------------
    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        return self.config.latent_size(height, width)

    def _level_inputs(self, x: np.ndarray, levels: int) -> list[np.ndarray]:
        shifts = self.config.layer_shifts[:levels]
        images = pyramid(x, shifts[0] + 1)[::-1]  # images[s] = x halved s times
        return [images[s] for s in shifts]

    def _synthesize(self, k: int, y_hat: list[np.ndarray]) -> np.ndarray:
        levels = self.config.synthesis_levels(k)
        x = np.concatenate(y_hat[levels.start : k + 1], 1)
        return self.level(k).synthesis(x.astype(np.float32))

    # -- the loop ------------------------------------------------------------------------------
    def compress(self, x: np.ndarray, layers: int | None = None) -> list[bytes]:
        """One byte string per layer for a padded float ``[1, 3, H, W]`` image."""
        strings, y_hat = [], []
        with one_blas_thread():
            for k, level_input in enumerate(self._level_inputs(x, layers or self.layers)):
                data, latent = self.level(k).compress(level_input, y_hat[-1] if k else None)
                strings.append(data)
                y_hat.append(latent)
        return strings

    def decompress(self, strings: list[bytes], latent: tuple[int, int],
                   layers: int | None = None) -> np.ndarray:
        """Layer ``layers`` (default: all given) as a float32 ``[1, 3, h, w]`` image."""
        layers = layers or len(strings)
        sizes = self.config.level_sizes(latent)
        y_hat: list[np.ndarray] = []
        with one_blas_thread():
            for k in range(layers):
                with in_layer(k + 1):
                    y_hat.append(self.level(k).decompress(strings[k], sizes[k],
                                                           y_hat[-1] if k else None))
        return self._synthesize(layers - 1, y_hat)

    # -- the codec's interface -----------------------------------------------------------------
    def encode_tile(self, tile: np.ndarray, refine: int = 0) -> list[bytes]:
        """One byte string per layer for one padded uint8 tile ``[H, W, 3]`` (latent
        refinement needs gradients: the torch backend)."""
        if refine:
            raise ModelError("latent refinement (--refine) needs the torch backend: "
                             "--backend torch")
        return self.compress(to_array(tile))

    def decode_tile(self, strings: list[bytes], height: int, width: int) -> np.ndarray:
        """One tile of ``height x width`` coded pixels from its first layer strings, as a
        padded uint8 image (at the layer's scale)."""
        return to_image(self.decompress(strings, self.latent_size(height, width)))
