"""How a latent is rounded: at coding, in training, and when an encoder refines its latents.

Coding rounds half up (``floor(x + 1/2)``) around each codec's mean. Training cannot
differentiate through that, so it uses *mixed* quantisation (Minnen & Singh 2020): the rate is
measured on the value plus uniform noise, while the synthesis and the next level see the
rounded value with a straight-through gradient.

Neither suits an encoder that optimises its own latents against the fixed decoder
(:mod:`rpncodec.models.refine`): the noisy rate and the straight-through gradient both point
away from what the discrete loss rewards (measured: both made the real loss *worse* with every
step). Stochastic Gumbel annealing (Yang et al. 2020, "Improving inference for neural image
compression") replaces rounding by a random soft choice between the two nearest integers,
tighter as a temperature falls, and is what :func:`soft_rounding` switches on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

_SOFT: ContextVar[tuple[float, torch.Generator | None] | None] = ContextVar("soft_rounding",
                                                                          default=None)


def round_half_up(x: Tensor) -> Tensor:
    """``floor(x + 1/2)``: the coders' rounding (the factorized coder's, so the Gaussian codecs
    give the same latents)."""
    return torch.floor(x + 0.5)


@contextmanager
def soft_rounding(temperature: float, generator: torch.Generator | None = None
                  ) -> Iterator[None]:
    """While active, training-mode quantisation is stochastic Gumbel annealing at
    ``temperature`` (:func:`annealed_round`, drawing from ``generator``) for both the rate and
    the reconstruction."""
    token = _SOFT.set((temperature, generator))
    try:
        yield
    finally:
        _SOFT.reset(token)


def soft_temperature() -> float | None:
    """The active :func:`soft_rounding` temperature, or None."""
    soft = _SOFT.get()
    return None if soft is None else soft[0]


def annealed_round(x: Tensor, temperature: float) -> Tensor:
    """A differentiable random rounding of ``x`` to ``floor(x)`` or ``floor(x) + 1``: the
    weights are a Gumbel-softmax over the two, whose logits ``-atanh(distance) / temperature``
    favour the nearer integer, the more so as ``temperature`` falls (at 0 it is rounding)."""
    low = torch.floor(x)
    frac = (x - low).clamp(1e-6, 1 - 1e-6)
    logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)]) / temperature
    soft = _SOFT.get()
    uniform = torch.rand(logits.shape, generator=soft and soft[1], dtype=logits.dtype,
                         device=logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))
    return low + torch.softmax(logits + gumbel, 0)[1]


def mixed_quantize(r: Tensor, training: bool) -> tuple[Tensor, Tensor]:
    """Quantisation of a mean-centred ``r`` for the loss: ``(r_hat, r_rate)``, what the
    decoder side sees and what the rate is measured on.

    Training: mixed (``r_hat`` rounded with a straight-through gradient, ``r_rate`` = ``r``
    plus uniform noise), or under :func:`soft_rounding` one annealed rounding for both.
    Otherwise both are the rounded ``r``.
    """
    temperature = soft_temperature() if training else None
    if temperature is not None:
        soft = annealed_round(r, temperature)
        return soft, soft
    rounded = round_half_up(r)
    r_hat = r + (rounded - r).detach()
    return r_hat, (r + torch.empty_like(r).uniform_(-0.5, 0.5) if training else rounded)
