"""The layered model: a list of levels and the one loop that trains, codes and decodes them.

The modes differ only in what each level's layer is (the configuration's layer shifts: how
many times it halves the input), and that decides the two hooks: what each analysis sees (the
resolution pyramid's image of its layer's size, :meth:`LayeredModel.level_inputs`) and what
each synthesis reads (the decoded latents of the levels up to it at its resolution,
:meth:`LayeredModel.synthesis_input`). The sizes (padding, each level's latent size) are the
configuration's geometry too (:class:`~rpncodec.models.config.ModelConfig`), shared with the
torch-free runtime.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import in_layer
from ..latent_codecs import build_latent_codec
from ..pyramid import pyramid
from .config import ModelConfig
from .level import Level, prediction
from .transforms import analysis, synthesis

INFERENCE_MEMORY_FORMAT = torch.channels_last  # see to_inference_format


def to_inference_format(x: Tensor) -> Tensor:
    """``x`` in the memory format inference runs in (channels-last: measured faster for the
    transposed convolutions and GDNs of the syntheses on CPU, see docs/performance.md).

    Encoder and decoder both call this on every image entering an analysis and every latent
    entering a synthesis (the float32 networks), so both sides use the same kernels; the
    predictions and scale heads run in float64 on contiguous tensors (``latent_codecs.base``).
    """
    return x.contiguous(memory_format=INFERENCE_MEMORY_FORMAT)


class LayeredModel(nn.Module):
    """A model of ``config.layers`` levels with CompressAI's contract (forward / compress /
    decompress / update / aux_loss). Level k is analysis, latent codec, prediction (from level
    k-1, for k > 0) and a synthesis of :meth:`ModelConfig.synthesis_width` inputs; the mode
    classes (:class:`~.quality.QualityRPN`, :class:`~.spatial.SpatialRPN`,
    :class:`~.spatial_quality.SpatialQualityRPN`) differ only in their configuration."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.levels = nn.ModuleList(
            Level(analysis(w[k]), build_latent_codec(config.latent_codecs[k], w, k),
                  synthesis(config.synthesis_width(k), w[k]),
                  prediction(config, k) if k else None)
            for k in range(len(w)))
        self.register_load_state_dict_pre_hook(_rename_legacy_keys)

    @property
    def layers(self) -> int:
        return self.config.layers

    # -- the hooks -------------------------------------------------------------------------
    def level_inputs(self, x: Tensor, levels: int) -> list[Tensor]:
        """The image each of the first ``levels`` analyses sees: ``x`` halved as many times
        as its layer's shift (:mod:`rpncodec.pyramid`), which is what that layer decodes to."""
        shifts = self.config.layer_shifts[:levels]
        images = pyramid(x, shifts[0] + 1)[::-1]  # images[s] = x halved s times
        return [images[s] for s in shifts]

    def synthesis_input(self, k: int, y_hat: list[Tensor]) -> Tensor:
        """What synthesis ``k`` (0-based) reads: the decoded latents of
        :meth:`ModelConfig.synthesis_levels`, concatenated."""
        levels = self.config.synthesis_levels(k)
        return y_hat[k] if len(levels) == 1 else torch.cat(y_hat[levels.start : k + 1], 1)

    # -- sizes: the configuration's geometry --------------------------------------------------
    @property
    def pad_multiple(self) -> int:
        """Input sides must be multiples of this (:attr:`ModelConfig.pad_multiple`)."""
        return self.config.pad_multiple

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        """The latent size that :meth:`decompress` takes for a ``height x width`` input."""
        return self.config.latent_size(height, width)

    def level_sizes(self, latent: tuple[int, int]) -> list[tuple[int, int]]:
        """Each level's latent size, lowest level first, from :meth:`latent_size`."""
        return self.config.level_sizes(latent)

    # -- the loop --------------------------------------------------------------------------
    def forward(self, x: Tensor, levels: int | None = None,
                latents: list[Tensor] | None = None) -> dict:
        """Every layer's reconstruction, likelihoods and decoded latent (of the first
        ``levels`` only, when given: level-by-level training runs nothing above the level it
        trains), the image each layer is compared with (``targets``) and the levels whose bits
        each layer's rate counts (``rate_levels``, :mod:`.objective`). ``latents``, when
        given, replace the analyses' outputs (an encoder refining them, :mod:`.refine`)."""
        inputs = self.level_inputs(x, levels or self.layers)
        x_hat, likelihoods, y_hat = [], [], []
        for k, level_input in enumerate(inputs):
            latent, lik = self.levels[k](level_input, y_hat[-1] if k else None,
                                         latents[k] if latents else None)
            y_hat.append(latent)
            likelihoods.append(lik)
            x_hat.append(self.levels[k].synthesis(self.synthesis_input(k, y_hat)))
        return {"x_hat": x_hat, "likelihoods": likelihoods, "y_hat": y_hat, "targets": inputs,
                "rate_levels": [self.config.synthesis_levels(k) for k in range(len(inputs))]}

    @torch.inference_mode()
    def compress(self, x: Tensor, layers: int | None = None, reconstruct: bool = True,
                 latents: list[Tensor] | None = None) -> tuple[list[bytes], Tensor | None]:
        """Code ``x`` ``[1, 3, H, W]`` (sides multiples of :attr:`pad_multiple`) into one byte
        string per layer, of the first ``layers`` (default: all).

        Each analysis runs once. Each level's context comes from the *decoded* lower latent,
        through the same operations the decoder runs. With ``reconstruct`` the top coded
        layer's reconstruction is returned too (what the decoder will produce); the codec
        passes False, since an encoder has no use for it. ``latents``, when given, are coded
        instead of the analyses' outputs (:func:`.refine.refine_latents`).
        """
        inputs = self.level_inputs(to_inference_format(x), layers or self.layers)
        strings, y_hat = [], []
        for k, level_input in enumerate(inputs):
            data, latent = self.levels[k].compress(to_inference_format(level_input),
                                                   y_hat[-1] if k else None,
                                                   latents[k] if latents else None)
            strings.append(data)
            y_hat.append(latent)
        if not reconstruct:
            return strings, None
        return strings, self._synthesize(len(inputs) - 1, y_hat)

    @torch.inference_mode()
    def decompress(self, strings: list[bytes], latent: tuple[int, int],
                   layers: int | None = None) -> Tensor:
        """Reconstruct layer ``layers`` (default: all given) from the first strings only: the
        entropy decoding and predictions of levels 1..layers and one synthesis, no analysis.
        ``latent`` is :meth:`latent_size` of the padded input."""
        layers = layers or len(strings)
        sizes = self.level_sizes(latent)
        y_hat: list[Tensor] = []
        for k in range(layers):
            with in_layer(k + 1):
                y_hat.append(self.levels[k].decompress(strings[k], sizes[k],
                                                       y_hat[-1] if k else None))
        return self._synthesize(layers - 1, y_hat)

    def _synthesize(self, k: int, y_hat: list[Tensor]) -> Tensor:
        """Layer ``k``'s reconstruction from the decoded latents (held in float64 for coding,
        :data:`~rpncodec.latent_codecs.base.CODING_DTYPE`): the synthesis runs in float32."""
        x = to_inference_format(self.synthesis_input(k, y_hat).float())
        return self.levels[k].synthesis(x)

    # -- entropy models --------------------------------------------------------------------
    def aux_loss(self) -> Tensor:
        """Loss of the latent codecs' auxiliary parameters (their own optimiser)."""
        return sum(level.latent_codec.aux_loss() for level in self.levels)

    def aux_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by :meth:`aux_loss` only."""
        return [p for level in self.levels for p in level.latent_codec.aux_parameters()]

    def update(self) -> None:
        """Rebuild every level's coding tables after training."""
        for level in self.levels:
            level.latent_codec.update()


# Weights written before levels were modules (every shipped file) name parameters by part:
# "analyses.k.…", "syntheses.k.…", "bottlenecks.k.…" and "predictions.j.…" (j = k - 1).
_LEGACY = {"analyses": "analysis", "syntheses": "synthesis",
           "bottlenecks": "latent_codec.bottleneck", "predictions": "prediction"}


def _rename_legacy_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-time rename of legacy keys to ``levels.k.<part>.…`` (the files keep their bytes
    and sha256)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        part, _, rest = key[len(prefix):].partition(".")
        if part in _LEGACY:
            index, _, tail = rest.partition(".")
            k = int(index) + (part == "predictions")
            state_dict[f"{prefix}levels.{k}.{_LEGACY[part]}.{tail}"] = state_dict.pop(key)
