"""The latent-codec contract: what one level entropy-codes, and how.

A level's analysis makes a latent ``y``; its latent codec turns ``y`` into bytes and back,
given a :class:`Context` of what the decoder already holds when it reads this level (the lower
level's decoded latent and the resolution field predicted from it). This is CompressAI's
``LatentCodec`` idea, written for a layered stream: a codec may use the context as it likes
(subtract the field and code the residual, condition a density on it, add side information
of its own), as long as ``decompress`` can rebuild exactly the ``y_hat`` that ``compress``
returned from the same bytes and the same context.

Swapping a level's entropy model is one new subclass plus its name in
:data:`rpncodec.latent_specs.LATENT_CODECS` (both backends).

Precision: training runs in float32. Coding (``compress``/``decompress``) holds decoded latents
in :data:`CODING_DTYPE`, float64, and runs every network whose output the entropy decoder
depends on (the predictions, scale heads, hyperprior synthesis) in it. A scale index then
depends on float64 arithmetic only, whose differences between implementations (torch and the
numpy runtime, CPU and GPU, BLAS builds) are ~1e-15 against table boundaries 0.1 apart in log
scale, where float32 kernels differ by ~1e-7: enough to flip some index of a Kodak image in a
sizeable share of files. The index CRC (:mod:`rpncodec.entropy.coding`) still catches any
disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

CODING_DTYPE = torch.float64


@dataclass(frozen=True)
class Context:
    """What the decoder holds before it reads a level (both ``None`` for level 1).

    lower: the decoded latent of the level below, ``ŷ_{k-1}``.
    prior: the resolution field ``P_k(ŷ_{k-1})``, a prediction of this level's latent,
        already cut to its size.
    """

    lower: Tensor | None = None
    prior: Tensor | None = None


class LatentCodec(nn.Module):
    """One level's entropy coding. Subclasses implement every method below."""

    #: Names of the submodules that coding runs as networks (each maps one float64 map to
    #: another); they are exported as graphs for the torch-free runtime
    #: (:mod:`rpncodec.graph_export`).
    networks: tuple[str, ...] = ()

    def forward(self, y: Tensor, context: Context) -> tuple[Tensor, Tensor]:
        """Training and estimation: ``(y_hat, likelihoods)``. ``y_hat`` is what the synthesis
        and the next level see; ``likelihoods`` (any shape) give the rate, ``-sum(log2)``."""
        raise NotImplementedError

    def compress(self, y: Tensor, context: Context) -> tuple[bytes, Tensor]:
        """Code ``y`` (batch of one) into bytes; also return the ``y_hat`` the decoder will
        rebuild (the next level's prediction must start from it)."""
        raise NotImplementedError

    def decompress(self, data: bytes, size: tuple[int, int], context: Context) -> Tensor:
        """Rebuild ``y_hat`` ``[1, C, *size]`` from :meth:`compress`'s bytes."""
        raise NotImplementedError

    def update(self) -> None:
        """Build the integer coding tables from the trained densities (before export)."""
        raise NotImplementedError

    def aux_loss(self) -> Tensor:
        """Loss of the auxiliary parameters (trained by their own optimiser)."""
        raise NotImplementedError

    def aux_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by :meth:`aux_loss` only, never by the rate-distortion loss."""
        raise NotImplementedError
