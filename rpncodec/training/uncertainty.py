"""Uncertainty net (``../shared/design/rpn-reference.md``, section 1.11): aleatoric
uncertainty of a lower level's reconstruction, estimated from the next level's decoded latent.
Training only."""

from __future__ import annotations

from torch import Tensor, nn

from ..layers.crcm import up2
from ..models.config import ModelConfig


class UncertaintyNet(nn.Module):
    """Latent ``[cin, h, w]`` -> log-scale map ``s`` of shape ``[3, h*2^steps, w*2^steps]``.

    convT/2 (linear), then ``steps - 1`` x (convT/2, ELU), then conv3x3 -> 3, ELU (so s >= -1).
    ``steps`` is 4 in quality mode (latent at 1/16) and 3 in spatial mode (one level down).
    """

    def __init__(self, cin: int, width: int, steps: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [up2(cin, width)]
        for _ in range(steps - 1):
            layers += [up2(width, width), nn.ELU()]
        layers += [nn.Conv2d(width, 3, 3, padding=1), nn.ELU()]
        self.body = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.body(latent)


class UncertaintyHeads(nn.Module):
    """One uncertainty net per level below the top: level k's map from level k+1's latent
    (at level k's resolution / 8 when level k+1 is twice its size, else / 16)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        widths, shifts = config.widths, config.layer_shifts
        self.nets = nn.ModuleList(
            UncertaintyNet(widths[k + 1], widths[k], 4 - (shifts[k] - shifts[k + 1]))
            for k in range(len(widths) - 1))

    def forward(self, latents: list[Tensor]) -> list[Tensor]:
        return [net(y) for net, y in zip(self.nets, latents, strict=True)]

    def __len__(self) -> int:
        return len(self.nets)
