"""Entropy bottleneck and its coder: tables, rate accuracy, exact round trips, GDN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpncodec.entropy.ans import PRECISION
from rpncodec.entropy.factorized import EntropyBottleneck
from rpncodec.errors import BitstreamError
from rpncodec.layers.gdn import GDN


def fitted_bottleneck(channels: int = 6, steps: int = 300) -> tuple[EntropyBottleneck, Tensor]:
    """A bottleneck fitted to Laplace latents of different scales and offsets."""
    torch.manual_seed(0)
    eb = EntropyBottleneck(channels)
    scales = torch.linspace(0.4, 5.0, channels).view(1, -1, 1, 1)
    shift = torch.linspace(-2.0, 2.0, channels).view(1, -1, 1, 1)
    density = [p for n, p in eb.named_parameters() if n != "quantiles"]
    opt = torch.optim.Adam(density, lr=1e-2)
    aux = torch.optim.Adam([eb.quantiles], lr=5e-2)
    laplace = torch.distributions.Laplace(0.0, 1.0)
    for _ in range(steps):
        y = laplace.sample((4, channels, 16, 16)) * scales + shift
        _, lik = eb(y)
        loss = -torch.log2(lik).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        a = eb.aux_loss()
        aux.zero_grad()
        a.backward()
        aux.step()
    eb.update()
    eb.eval()
    return eb, laplace.sample((1, channels, 48, 64)) * scales + shift


Tensor = torch.Tensor


@pytest.fixture(scope="module")
def fitted() -> tuple[EntropyBottleneck, Tensor]:
    return fitted_bottleneck()


def test_tables_are_normalised_and_give_every_symbol_mass(fitted) -> None:
    eb, _ = fitted
    for row in eb.freqs:
        n = int(row.nonzero().max()) + 1
        assert int(row.sum()) == 1 << PRECISION
        assert (row[:n] >= 1).all()  # every in-range symbol and the escape are codable


def test_coded_size_matches_likelihood_estimate(fitted) -> None:
    eb, y = fitted
    with torch.no_grad():
        _, lik = eb(y)
    estimate = float(-torch.log2(lik).sum()) / 8
    coded = len(eb.compress(y))
    assert coded <= estimate * 1.01 + 16
    assert coded >= estimate * 0.99 - 16


def test_round_trip_is_exact_including_outliers(fitted) -> None:
    eb, y = fitted
    y = y.clone()
    y[0, 0, 0, 0] = 1e6
    y[0, 1, 3, 4] = -12345.7
    y[0, 5, 47, 63] = 2**40
    data = eb.compress(y)
    decoded = eb.decompress(data, (48, 64))
    assert torch.equal(decoded, eb.quantize(y))


def test_tables_survive_a_state_dict_round_trip(fitted) -> None:
    eb, y = fitted
    other = EntropyBottleneck(eb.channels)
    other.load_state_dict(eb.state_dict())
    other.eval()
    assert other.compress(y) == eb.compress(y)


def test_training_mode_adds_noise_and_eval_rounds_around_medians(fitted) -> None:
    eb, y = fitted
    eb.train()
    noisy, _ = eb(y)
    eb.eval()
    rounded, _ = eb(y)
    assert (noisy - y).abs().max() <= 0.5 and not torch.equal(noisy, rounded)
    residue = rounded - eb.medians.view(1, -1, 1, 1)
    assert torch.allclose(residue, residue.round(), atol=1e-4)


def test_damaged_payload_is_a_clean_error_or_other_symbols(fitted) -> None:
    eb, y = fitted
    data = bytearray(eb.compress(y))
    with pytest.raises(BitstreamError):
        eb.decompress(bytes(data[:-1]), (48, 64))  # not a whole number of words
    data[len(data) // 2] ^= 0xFF
    try:
        decoded = eb.decompress(bytes(data), (48, 64))
    except BitstreamError:
        return
    assert not torch.equal(decoded, eb.quantize(y))


def test_coding_before_update_is_refused() -> None:
    with pytest.raises(RuntimeError, match="update"):
        EntropyBottleneck(2).compress(torch.zeros(1, 2, 2, 2))


def test_gdn_matches_its_formula_and_igdn_multiplies() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    gdn, igdn = GDN(4), GDN(4, inverse=True)
    norm = torch.sqrt(1 + 0.1 * x**2)  # initial beta = 1, gamma = 0.1 I
    assert torch.allclose(gdn(x), x / norm, atol=1e-5)
    assert torch.allclose(igdn(x), x * norm, atol=1e-5)


def test_the_table_scales_are_fixed_constants_on_the_documented_log_grid() -> None:
    import math

    from rpncodec.entropy.coding import _SCALES_HEX, LEVELS, SCALE_MAX, SCALE_MIN, SCALES

    assert len(_SCALES_HEX) == LEVELS and SCALES.dtype == np.float64
    assert SCALES[0] == pytest.approx(SCALE_MIN, rel=1e-15)
    assert SCALES[-1] == pytest.approx(SCALE_MAX, rel=1e-15)
    formula = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), LEVELS))
    ulps = np.abs(SCALES - formula) / np.spacing(formula)
    assert ulps.max() <= 2
    assert all(float(v).hex() == h for v, h in zip(SCALES, _SCALES_HEX, strict=True))
    assert (np.diff(SCALES) > 0).all()
