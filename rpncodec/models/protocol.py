"""The contract between the codec (:mod:`rpncodec.codec`) and a model: what the codec calls.

Both RPN modes satisfy it through :class:`~rpncodec.models.base.LayeredModel`; a stand-in for
tests, or another architecture, only needs these members.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from .config import ModelConfig


@runtime_checkable
class ScalableModel(Protocol):
    """A layered image model the codec can tile, code and decode."""

    config: ModelConfig  # mode and number of layers, checked against a file's header
    pad_multiple: int  # input sides must be multiples of this (the codec pads to it)

    @property
    def layers(self) -> int:
        """Number of layers a full stream holds."""
        ...

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        """What :meth:`decompress` takes for a ``height x width`` input (before padding)."""
        ...

    def compress(self, x: Tensor, layers: int | None = None, reconstruct: bool = True,
                 latents: list[Tensor] | None = None) -> tuple[list[bytes], Tensor | None]:
        """One byte string per layer for a padded ``[1, 3, H, W]`` image in [0, 1] (of
        ``latents`` instead of the analyses' outputs when given)."""
        ...

    def decompress(self, strings: list[bytes], latent: tuple[int, int],
                   layers: int | None = None) -> Tensor:
        """Layer ``layers`` (default: all given) as a float ``[1, 3, h, w]`` image, padded
        (and, for a lower spatial layer, at its own scale)."""
        ...
