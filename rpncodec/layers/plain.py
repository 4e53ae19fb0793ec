"""A plain predictor: the ablation baseline for cross-resolution context mining.

Three 3x3 convolutions (ReLU between) from the lower decoded latent to the resolution field,
in spatial mode after a stride-2 transposed convolution that doubles the size. It sees the same
input and makes the same output as :mod:`.crcm`'s modules, without their information-enhance,
redundancy-removal, global-context and mask blocks: what those blocks buy is the difference
(the equal-budget ablation's variant (d); ``ModelConfig.prediction = "plain"``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .crcm import up2


class PlainPrediction(nn.Module):
    """``[Ff, h, w] -> [Fl, h, w]`` (quality) or ``[Fl, 2h, 2w]`` (``upsample``)."""

    def __init__(self, ff: int, fl: int, upsample: bool = False) -> None:
        super().__init__()
        self.up = up2(ff, ff) if upsample else None
        self.body = nn.Sequential(nn.Conv2d(ff, fl, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(fl, fl, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(fl, fl, 3, padding=1))

    def forward(self, z: Tensor) -> Tensor:
        if self.up is not None:
            z = torch.relu(self.up(z))
        return self.body(z)

    @torch.no_grad()
    def zero_output(self) -> None:
        """Make the field exactly zero (as the context-mining modules' ``zero_output``)."""
        self.body[-1].weight.zero_()
        self.body[-1].bias.zero_()
