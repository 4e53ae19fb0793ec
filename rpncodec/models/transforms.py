"""Analysis and synthesis transforms of one level (Ballé 2017;
``../shared/design/rpn-reference.md``, section 1.3)."""

from __future__ import annotations

from torch import nn

from ..layers.crcm import up2
from ..layers.gdn import GDN
from .config import LATENT_STRIDE

__all__ = ["LATENT_STRIDE", "analysis", "synthesis"]


def analysis(width: int, cin: int = 3) -> nn.Sequential:
    """4 x [conv5x5 stride 2], GDN after the first three: ``[3, H, W] -> [width, H/16, W/16]``."""
    layers: list[nn.Module] = []
    for i in range(4):
        layers.append(nn.Conv2d(cin if i == 0 else width, width, 5, stride=2, padding=2))
        if i < 3:
            layers.append(GDN(width))
    return nn.Sequential(*layers)


def synthesis(cin: int, width: int) -> nn.Sequential:
    """4 x [convT5x5 up 2], IGDN after the first three: ``[cin, h, w] -> [3, 16h, 16w]``."""
    layers: list[nn.Module] = []
    for i in range(4):
        layers.append(up2(cin if i == 0 else width, width if i < 3 else 3, kernel=5))
        if i < 3:
            layers.append(GDN(width, inverse=True))
    return nn.Sequential(*layers)
