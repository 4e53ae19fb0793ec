"""Integer coding tables held as buffers of a density module, saved with the weights."""

from __future__ import annotations

import torch
from torch import nn

from .ans import table_models


class CodingTables(nn.Module):
    """Base of a density with coding tables: ``offsets`` (per table) and ``freqs`` (a row of
    16-bit frequencies per table, :mod:`.ans`), filled by the subclass's ``update()``.

    The tables are buffers, so they are saved and loaded with the weights and never rebuilt
    from floats at load time: that is what keeps encoder and decoder in sync across machines.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("freqs", torch.zeros(0, 0, dtype=torch.int32))
        self._models: list | None = None

    def set_tables(self, offsets: torch.Tensor, freqs: torch.Tensor) -> None:
        self.offsets, self.freqs, self._models = offsets, freqs, None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("offsets", "freqs"):  # their sizes are the saved ones
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key]))
        self._models = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def coding_models(self) -> list[tuple[object, int]]:
        """Per table: (constriction model, length including the escape entry)."""
        if self.freqs.numel() == 0:
            raise RuntimeError("entropy tables are empty: call update() before coding")
        if self._models is None:
            self._models = table_models(self.freqs.cpu().numpy())
        return self._models
