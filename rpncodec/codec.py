"""Image <-> .rpn bytes: padding, layer coding, cropping, and which model decodes a file.

Padding: each side is extended to a multiple of 16 (the transforms' total stride) by
*replicating* the edge pixels. Replication adds no new edges, so the padded area costs few
bits (zero padding would create a strong step at the border), and it is cropped on decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from . import bitstream
from .errors import ModelError
from .zoo import REGISTRY, LoadedModel, load_model

MODEL_STRIDE = 16


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float ``[1, 3, H, W]`` in [0, 1]."""
    return torch.tensor(image).permute(2, 0, 1)[None].float().div(255)


def to_image(x: torch.Tensor) -> np.ndarray:
    """float ``[1, 3, H, W]`` -> uint8 ``[H, W, 3]`` (clipped and rounded)."""
    return x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def pad(x: torch.Tensor, multiple: int = MODEL_STRIDE) -> torch.Tensor:
    """Replicate-pad the bottom and right so both sides are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


@dataclass
class Decoded:
    """A decoded layer and what the file held."""

    image: np.ndarray
    layers: int  # layers used
    declared: int  # layers the header declares
    container: bitstream.Container


def encode(image: np.ndarray, loaded: LoadedModel) -> bytes:
    """Encode a uint8 RGB image into one .rpn file holding all of the model's layers."""
    h, w = image.shape[:2]
    problem = bitstream.size_problem(h, w)
    if problem:
        raise ModelError(f"cannot encode {problem}")
    with torch.inference_mode():
        strings, _ = loaded.model.compress(pad(to_tensor(image)))
    header = bitstream.Header(mode=loaded.config.mode, model=loaded.name, digest=loaded.digest,
                              height=h, width=w, layers=len(strings))
    return bitstream.pack(header, strings)


def model_for(header: bitstream.Header, model: str | LoadedModel | None = None) -> LoadedModel:
    """The model that decodes a file (``model`` if given, else the one its header names),
    checked against the weights digest, mode and layer count the header records."""
    if model is None and header.model not in REGISTRY:
        raise ModelError(f"file was encoded with model {header.model!r}, which rpncodec does not "
                         "ship; give its weights file with --model FILE")
    loaded = model if isinstance(model, LoadedModel) else load_model(model or header.model)
    if loaded.digest != header.digest:
        raise ModelError(f"file was encoded with {header.model} weights {header.digest.hex()}, "
                         f"but {loaded.name} has {loaded.digest.hex()}; decode with those weights")
    if loaded.config.mode != header.mode or header.layers > loaded.config.layers:
        raise ModelError(f"file declares a {header.mode} stream of {header.layers} layers, "
                         f"which {loaded.name} ({loaded.config.mode}, "
                         f"{loaded.config.layers} layers) cannot decode")
    return loaded


def decode(data: bytes, layers: int | None = None,
           model: str | LoadedModel | None = None) -> Decoded:
    """Decode the first ``layers`` layers (default: every complete layer) of a .rpn file."""
    container = bitstream.parse(data)
    chunks = bitstream.select(container, layers)
    header = container.header
    loaded = model_for(header, model)
    net = loaded.model
    with torch.inference_mode():
        x_hat = net.decompress(chunks, net.latent_size(header.height, header.width), len(chunks))
    image = to_image(x_hat[..., : header.height, : header.width])
    return Decoded(image, len(chunks), header.layers, container)
