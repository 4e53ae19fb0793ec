"""What the quality and spatial models share: their levels' entropy models and bookkeeping."""

from __future__ import annotations

from torch import Tensor, nn

from .config import ModelConfig


class LayeredModel(nn.Module):
    """A model of ``config.layers`` levels, each with an entropy bottleneck in
    ``self.bottlenecks`` (set by the subclass)."""

    bottlenecks: nn.ModuleList

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def layers(self) -> int:
        return self.config.layers

    def aux_loss(self) -> Tensor:
        """Loss of the entropy models' quantile parameters (their own optimiser)."""
        return sum(eb.aux_loss() for eb in self.bottlenecks)

    def update(self) -> None:
        """Rebuild every level's coding tables after training."""
        for eb in self.bottlenecks:
            eb.update()
