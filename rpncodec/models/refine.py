"""Encoder-side latent refinement: better files for the same decoder.

An analysis transform is trained to give good latents on average; for one image, the latents
that minimise the model's own rate-distortion loss are elsewhere (the *amortisation gap*,
Cremer et al. 2018; Campos et al. 2019). Since the decoder reads only the coded latents, an
encoder may search for them: starting from the analyses' outputs, a few gradient steps on the
sum over layers of ``lambda_k * bpp_k + 255^2 * MSE_k`` (the training loss, through every
latent codec, prediction and synthesis, so a lower level's change is charged for what it does
to the levels above), with stochastic Gumbel annealing in place of rounding
(:mod:`rpncodec.entropy.quantization`). The decoder and the file format are unchanged.

The search keeps the candidate with the lowest *real* loss (rounded latents, the coder's own
likelihoods), checked every few steps, starting with the analyses' own latents: the
result is never worse on that loss than not refining. Cost: one forward and backward pass of
every level per step (for a Kodak image in quality mode on this project's 2-core CPU, about
1.2 s with both cores and 1.9 s with one); the search is seeded, so the same image gives the
same file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from ..entropy.quantization import soft_rounding
from ..errors import ModelError
from .base import LayeredModel
from .config import QUALITY_LAMBDAS, SPATIAL_LAMBDAS
from .objective import rate_distortion

LEARNING_RATE = 0.01
START_TEMPERATURE = 0.5
CHECK_EVERY = 5


def default_lambdas(mode: str) -> tuple[float, ...]:
    """The rate multipliers the shipped models of ``mode`` were trained with (a single-layer
    model's depends on which rate it was trained for: pass it)."""
    if mode == "single":
        raise ModelError("latent refinement needs a quality or spatial model (a single-layer "
                         "model's rate multiplier is not recorded)")
    return QUALITY_LAMBDAS if mode == "quality" else SPATIAL_LAMBDAS


@contextmanager
def _codecs_training(model: LayeredModel) -> Iterator[None]:
    """The latent codecs in training mode (their quantisation is then the annealed rounding
    of :func:`soft_rounding`); the predictions stay as inference runs them."""
    codecs = [(level.latent_codec, level.latent_codec.training) for level in model.levels]
    try:
        for codec, _ in codecs:
            codec.train()
        yield
    finally:
        for codec, was_training in codecs:
            codec.train(was_training)


def _loss(model: LayeredModel, x: Tensor, latents: list[Tensor],
          lambdas: tuple[float, ...]) -> Tensor:
    out = model(x, len(latents), latents)
    return rate_distortion(out, x, lambdas[: len(latents)])["loss"]


def temperature(step: int, steps: int) -> float:
    """The annealing schedule: from :data:`START_TEMPERATURE` down by e^-4 over the run."""
    return START_TEMPERATURE * math.exp(-4 * step / steps)


def refine_latents(model: LayeredModel, x: Tensor, steps: int,
                   lambdas: tuple[float, ...] | None = None, layers: int | None = None,
                   lr: float = LEARNING_RATE, seed: int = 0) -> list[Tensor]:
    """The latents of the first ``layers`` levels of ``x`` ``[1, 3, H, W]`` (padded) after
    ``steps`` steps of Adam on the model's loss: the analyses' own when no candidate
    did better (:func:`LayeredModel.compress` takes them as ``latents``)."""
    lambdas = lambdas or default_lambdas(model.config.mode)
    layers = layers or model.layers
    with torch.no_grad():
        latents = [level.analysis(inp) for level, inp in
                   zip(model.levels, model.level_inputs(x, layers), strict=False)]
        best, best_loss = latents, float(_loss(model, x, latents, lambdas))
    params = [y.clone().requires_grad_() for y in latents]
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    with torch.enable_grad():
        for step in range(steps):
            with _codecs_training(model), soft_rounding(temperature(step, steps), generator):
                loss = _loss(model, x, params, lambdas)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (step + 1) % CHECK_EVERY == 0 or step + 1 == steps:
                with torch.no_grad():
                    real = float(_loss(model, x, params, lambdas))
                if real < best_loss:
                    best, best_loss = [p.detach().clone() for p in params], real
    return best
