"""The codec end to end with a tiny model: real entropy coding, real container bytes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rpncodec import bitstream, codec
from rpncodec.errors import BitstreamError, ModelError, RpncodecError
from rpncodec.tensors import to_tensor
from rpncodec.utils.testing import smooth_image


@pytest.mark.parametrize("size", [(1, 1), (15, 17), (37, 53), (64, 64), (30, 100)])
def test_every_layer_prefix_decodes_at_the_original_size(tiny, size) -> None:
    image = smooth_image(*size)
    data = codec.encode(image, tiny)
    container = bitstream.parse(data)
    assert container.available == 4
    sizes = [bitstream.prefix_size(container, k) for k in range(1, 5)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4 and sizes[-1] == len(data)
    for k in range(1, 5):
        decoded = codec.decode(data, k, tiny)
        assert decoded.image.shape == image.shape and decoded.image.dtype == np.uint8
        assert decoded.layers == k


def test_decoder_reproduces_the_encoder_side_reconstruction_exactly(tiny) -> None:
    image = smooth_image(40, 56)
    x = to_tensor(codec.pad(image, tiny.model.pad_multiple))
    with torch.inference_mode():
        strings, encoder_side = tiny.model.compress(x)
        decoder_side = tiny.model.decompress(strings, tiny.model.latent_size(40, 56))
    assert torch.equal(encoder_side, decoder_side)


def test_decoding_in_a_fresh_process_gives_identical_pixels(tiny, tiny_model_path, tmp_path):
    image = smooth_image(33, 47)
    data = codec.encode(image, tiny)
    path = tmp_path / "a.rpn"
    path.write_bytes(data)
    out = tmp_path / "a.npy"
    script = ("import sys, numpy as np; from rpncodec import codec; "
              "d = codec.decode(open(sys.argv[1], 'rb').read(), None, sys.argv[2]); "
              "np.save(sys.argv[3], d.image)")
    subprocess.run([sys.executable, "-c", script, str(path), tiny_model_path, str(out)],
                   check=True)
    assert np.array_equal(np.load(out), codec.decode(data, None, tiny).image)


def test_encoding_is_deterministic(tiny) -> None:
    image = smooth_image(20, 30)
    assert codec.encode(image, tiny) == codec.encode(image, tiny)


def test_truncate_output_decodes_identically_to_decoding_fewer_layers(tiny) -> None:
    data = codec.encode(smooth_image(32, 48), tiny)
    for k in range(1, 5):
        cut = bitstream.truncate(data, k)
        assert bitstream.parse(cut).header.layers == k
        assert np.array_equal(codec.decode(cut, None, tiny).image,
                              codec.decode(data, k, tiny).image)


def test_a_file_cut_at_any_byte_decodes_its_complete_layers(tiny) -> None:
    data = codec.encode(smooth_image(16, 16), tiny)
    ends = [end for _, end in bitstream.parse(data).byte_ranges]
    reference = {k: codec.decode(data, k, tiny).image for k in range(1, 5)}
    for cut in range(len(data)):
        complete = sum(end <= cut for end in ends)
        try:
            decoded = codec.decode(data[:cut], None, tiny)
        except BitstreamError:
            assert complete == 0
            continue
        assert decoded.layers == complete
        assert np.array_equal(decoded.image, reference[complete])


def test_a_damaged_chunk_is_named_and_the_layers_before_it_decode(tiny) -> None:
    data = bytearray(codec.encode(smooth_image(32, 32), tiny))
    start, end = bitstream.parse(bytes(data)).byte_ranges[2]
    data[(start + end) // 2] ^= 0x10
    damaged = bytes(data)
    clean = codec.decode(bytes(bitstream.truncate(bytes(data), 2)), None, tiny).image
    assert np.array_equal(codec.decode(damaged, 2, tiny).image, clean)
    with pytest.raises(BitstreamError, match="layer 3 of 4 is damaged"):
        codec.decode(damaged, 3, tiny)
    assert codec.decode(damaged, None, tiny).layers == 2


def test_layers_out_of_range_are_refused(tiny) -> None:
    data = codec.encode(smooth_image(16, 16), tiny)
    for k in (0, 5, -1):
        with pytest.raises(RpncodecError, match="--layers"):
            codec.decode(data, k, tiny)


def test_decoding_with_other_weights_is_refused(tiny) -> None:
    data = bytearray(codec.encode(smooth_image(16, 16), tiny))
    header = bitstream.parse(bytes(data)).header
    other = bitstream.Header(header.mode, header.model, b"\x00" * 8, header.height, header.width,
                             header.layers)
    forged = other.to_bytes() + bytes(data[len(header.to_bytes()):])
    with pytest.raises(ModelError, match="weights"):
        codec.decode(forged, None, tiny)


def test_padding_replicates_edges_to_a_multiple_of_16() -> None:
    x = np.random.default_rng(0).integers(0, 256, (17, 30, 3), dtype=np.uint8)
    p = codec.pad(x, 16)
    assert p.shape == (32, 32, 3)
    assert np.array_equal(p[31, :30], x[16]) and np.array_equal(p[:17, 31], x[:, 29])
    # the same pixels as replicate-padding the float image
    assert torch.equal(to_tensor(p), F.pad(to_tensor(x), (0, 2, 0, 15), mode="replicate"))


def test_missing_shipped_weights_name_the_file_and_the_expected_sha256(tmp_path,
                                                                       monkeypatch) -> None:
    from rpncodec.zoo import REGISTRY, default_model, load_model

    entry = REGISTRY[default_model()]
    monkeypatch.setattr("rpncodec.zoo.WEIGHTS_DIR", tmp_path)
    with pytest.raises(ModelError) as info:
        load_model(entry.name)
    message = str(info.value)
    assert str(tmp_path / entry.file) in message and "missing" in message
    assert f"expected sha256 {entry.sha256}" in message and "\n" not in message


def test_importing_the_codec_imports_neither_training_nor_tools() -> None:
    script = ("import sys, rpncodec.codec, rpncodec.cli; "
              "print(' '.join(m for m in sys.modules if m.startswith(('rpncodec.training', "
              "'rpncodec.utils'))))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == ""
