"""Inference-time caching of tensors derived from parameters (reparameterised GDN weights,
spectrally normalised weights, softmaxed masks folded into convolutions).

Training recomputes these on every forward because their parameters change at every step.
At inference they are constants, and recomputing them costs many small operations per call
(and, for spectral norm, the parametrisation machinery). :func:`inference_cached` computes
such a tensor once and reuses it for as long as the tensors it was derived from are unchanged
(same storage, device, dtype and version counter: an optimiser step, ``load_state_dict`` or
``.to(device)`` all invalidate it). Caching applies only outside autograd (``no_grad`` or
``inference_mode``) in eval mode, so training never sees a cached tensor.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

_PREFIX = "_rpn_inference_cache_"


def inference_active(module: nn.Module) -> bool:
    """True when ``module`` runs for inference: eval mode and no autograd recording."""
    return not module.training and not torch.is_grad_enabled()


def _key(sources: tuple[Tensor, ...]) -> tuple:
    return tuple((t.data_ptr(), t.device, t.dtype, t.shape, t._version) for t in sources)


def inference_cached(module: nn.Module, name: str, compute: Callable[[], object],
                     *sources: Tensor) -> object:
    """``compute()``, cached on ``module`` under ``name`` while ``sources`` are unchanged.

    ``sources`` must be ordinary tensors (parameters and buffers), not inference tensors. Call
    only when :func:`inference_active` holds; the result may be an inference tensor.
    """
    key = _key(sources)
    hit = module.__dict__.get(_PREFIX + name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = compute()
    module.__dict__[_PREFIX + name] = (key, value)
    return value


def in_dtype(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``module`` itself if its parameters are ``dtype``, else (at inference only) a copy
    converted to ``dtype``, cached while the module's parameters and buffers are unchanged.

    Coding runs the networks whose outputs choose entropy tables in float64
    (:data:`rpncodec.latent_codecs.base.CODING_DTYPE`); training runs them in float32.
    """
    if next(module.parameters()).dtype == dtype:
        return module

    def convert() -> nn.Module:
        for m in module.modules():  # cached inference tensors are not copied
            for key in [k for k in m.__dict__ if k.startswith(_PREFIX)]:
                del m.__dict__[key]
        with torch.inference_mode(False), torch.no_grad():  # ordinary tensors, cacheable
            return copy.deepcopy(module).to(dtype)

    sources = (*module.parameters(), *module.buffers())
    return inference_cached(module, f"as-{dtype}", convert, *sources)
