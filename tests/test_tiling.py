"""Tiled coding: independent tiles, exact assembly, truncation, and scaled (spatial) placement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpncodec import bitstream, codec
from rpncodec.errors import BitstreamError, ModelError
from rpncodec.models import ScalableModel
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import LoadedModel

SIZE = (100, 150)  # 2 x 3 tiles of 64, the last row and column partial


@pytest.fixture(scope="module")
def tiled(tiny) -> tuple[np.ndarray, bytes]:
    image = smooth_image(*SIZE, seed=3)
    return image, codec.encode(image, tiny, tile=64)


def test_tiled_file_records_its_tiles_and_every_layer_decodes(tiny, tiled) -> None:
    image, data = tiled
    container = bitstream.parse(data)
    assert container.header.tile == 64 and container.header.tiles == 6
    previous = None
    for k in range(1, 5):
        decoded = codec.decode(data, k, tiny)
        assert decoded.image.shape == image.shape and decoded.layers == k
        assert previous is None or not np.array_equal(decoded.image, previous)
        previous = decoded.image


def test_each_tile_decodes_exactly_as_that_crop_coded_alone(tiny, tiled) -> None:
    image, data = tiled
    decoded = codec.decode(data, None, tiny).image
    for top, left, h, w in bitstream.tile_grid(*SIZE, 64):
        crop = image[top : top + h, left : left + w]
        alone = codec.decode(codec.encode(crop, tiny, tile=64), None, tiny).image
        assert np.array_equal(decoded[top : top + h, left : left + w], alone), (top, left)


def test_an_image_that_fits_one_tile_codes_as_without_tiling(tiny) -> None:
    image = smooth_image(64, 64, seed=4)
    small, large = (codec.encode(image, tiny, tile=t) for t in (64, bitstream.MAX_TILE))
    head = bitstream.header_size(tiny.name, tiny.model.config.layers)
    assert small[head:] == large[head:]  # identical layer chunks: one string per layer
    strings = tiny.encode_tile(codec.pad(image, tiny.model.pad_multiple))
    assert bitstream.parse(large).chunks == strings


def test_truncation_of_a_tiled_file_keeps_every_tile_of_the_first_layers(tiny, tiled) -> None:
    _, data = tiled
    for k in (1, 2, 3):
        cut = bitstream.truncate(data, k)
        assert np.array_equal(codec.decode(cut, None, tiny).image,
                              codec.decode(data, k, tiny).image)
        end = bitstream.parse(data).byte_ranges[k][1]
        assert codec.decode(data[: end - 1], None, tiny).layers == k  # cut inside layer k+1


def test_bad_tile_sides_are_refused_by_the_encoder(tiny) -> None:
    for tile in (0, 32, 100, bitstream.MAX_TILE + 64):
        with pytest.raises(ModelError, match="tile side"):
            codec.encode(smooth_image(8, 8), tiny, tile=tile)


class Subsampled:
    """A stand-in for a spatial model (no nn.Module: only the codec's model protocol):
    decodes every tile at 1/``factor`` resolution."""

    def __init__(self, inner: ScalableModel, factor: int) -> None:
        self.inner, self.factor, self.config = inner, factor, inner.config
        self.pad_multiple = inner.pad_multiple

    @property
    def layers(self) -> int:
        return self.inner.layers

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        return self.inner.latent_size(height, width)

    def compress(self, x, layers=None, reconstruct=True):
        return self.inner.compress(x, layers, reconstruct)

    def decompress(self, strings, latent, layers=None) -> torch.Tensor:
        return self.inner.decompress(strings, latent, layers)[..., :: self.factor, :: self.factor]


@pytest.mark.parametrize("factor", [2, 4])
def test_scaled_tiles_are_placed_at_scaled_positions(tiny, tiled, factor) -> None:
    _, data = tiled
    full = codec.decode(data, None, tiny).image
    stand_in = Subsampled(tiny.model, factor)
    assert isinstance(stand_in, ScalableModel)
    scaled = LoadedModel(tiny.name, tiny.digest, stand_in)
    decoded = codec.decode(data, None, scaled).image
    h, w = (-(-side // factor) for side in SIZE)
    assert decoded.shape == (h, w, 3)
    assert np.array_equal(decoded, full[::factor, ::factor])


def test_a_tile_with_a_damaged_table_is_a_clean_error_naming_the_layer(tiny, tiled) -> None:
    _, data = tiled
    container = bitstream.parse(data)
    payload = container.chunks[1]
    bad = (2**31).to_bytes(4, "big") + payload[4:]
    forged = bitstream.pack(container.header, [container.chunks[0], bad, *container.chunks[2:]])
    assert codec.decode(forged, None, tiny).layers == 1
    with pytest.raises(BitstreamError, match="layer 2 of 4 is damaged"):
        codec.decode(forged, 2, tiny)
