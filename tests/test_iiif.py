"""The IIIF Image API 3.0 syntax (serve/iiif.py) and the decode plan (serve/plan.py): pure
functions, checked against the specification's own examples and the codec's tile layout."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rpncodec import bitstream
from rpncodec.serve import iiif
from rpncodec.serve.compose import assemble, finish
from rpncodec.serve.plan import layer_scale, plan, quality_layers

W, H = 6000, 4000  # the specification's examples use a 6000x4000 image
LIMITS = iiif.limits_for(W, H, 2**26)


@pytest.mark.parametrize("text, expected", [
    ("full", (0, 0, 6000, 4000)), ("square", (1000, 0, 4000, 4000)),
    ("125,15,120,140", (125, 15, 120, 140)), ("pct:41.6,7.5,40,70", (2496, 300, 2400, 2800)),
    ("125,15,200,200", (125, 15, 200, 200)), ("5900,3900,500,500", (5900, 3900, 100, 100)),
    ("pct:0,0,100,100", (0, 0, 6000, 4000)),
])
def test_regions(text, expected):
    assert iiif.parse_region(text, W, H) == expected


@pytest.mark.parametrize("text, status", [
    ("6000,0,10,10", 400), ("0,4000,10,10", 400), ("0,0,0,10", 400), ("pct:0,0,0,5", 400),
    ("1,2,3", 400), ("-1,0,5,5", 400), ("fulll", 400), ("pct:a,0,1,1", 400),
    ("1" * 40 + ",0,1,1", 400),
])
def test_bad_regions(text, status):
    with pytest.raises(iiif.IIIFError) as info:
        iiif.parse_region(text, W, H)
    assert info.value.status == status


@pytest.mark.parametrize("text, expected", [
    ("max", (600, 400)), ("150,", (150, 100)), (",150", (225, 150)), ("pct:50", (300, 200)),
    ("225,100", (225, 100)), ("!225,100", (150, 100)), ("^max", (600, 400)),
    ("^1200,", (1200, 800)), ("^pct:200", (1200, 800)), ("^!2000,500", (750, 500)),
    ("^,800", (1200, 800)),
])
def test_sizes(text, expected):
    assert iiif.parse_size(text, 600, 400, LIMITS) == expected


@pytest.mark.parametrize("text, words", [
    ("601,", "^601,"), ("pct:101", "upscale"), ("!700,500", "upscale"), ("0,", "empty"),
    (",", "size must be"), ("!10,", "size must be"), ("^30000,", "limit"),
    ("1000000000000,", "above the largest value"), ("big", "size must be"),
])
def test_bad_sizes_say_what_is_wrong(text, words):
    with pytest.raises(iiif.IIIFError) as info:
        iiif.parse_size(text, 600, 400, LIMITS)
    assert info.value.status == 400 and words in str(info.value)


def test_max_is_bounded_by_the_area_limit():
    limits = iiif.limits_for(8192, 8192, 2**24)
    assert iiif.parse_size("max", 8192, 8192, limits) == (4096, 4096)
    info = iiif.info_json("http://x/iiif/3/a", 8192, 8192, [(8192, 8192)], 1024, [1], limits)
    assert info["maxArea"] == 2**24
    small = iiif.info_json("http://x/iiif/3/a", 100, 50, [(100, 50)], 1024, [1],
                           iiif.limits_for(100, 50, 2**24))
    assert "maxArea" not in small and small["type"] == "ImageService3"
    assert small["profile"] == "level2" and small["tiles"][0]["scaleFactors"] == [1]


@pytest.mark.parametrize("text, expected", [
    ("0", (False, 0)), ("90", (False, 90)), ("!180", (True, 180)), ("22.5", (False, 22.5)),
    ("360", (False, 0)), ("!0", (True, 0)),
])
def test_rotations(text, expected):
    assert iiif.parse_rotation(text) == expected


@pytest.mark.parametrize("text, status", [("361", 400), ("-90", 400), ("!!90", 400),
                                          ("9O", 400), ("", 400)])
def test_bad_rotations(text, status):
    with pytest.raises(iiif.IIIFError) as info:
        iiif.parse_rotation(text)
    assert info.value.status == status


@pytest.mark.parametrize("text, status", [("default.tif", 501), ("default.gif", 501),
                                          ("default.xyz", 400), ("grey.jpg", 400),
                                          ("default", 400), ("Default.jpg", 400)])
def test_bad_quality_or_format(text, status):
    with pytest.raises(iiif.IIIFError) as info:
        iiif.parse_quality_format(text)
    assert info.value.status == status


def test_canonical_forms():
    def canonical(*segments: str) -> str:
        return iiif.parse(*segments, W, H, LIMITS).canonical(W, H, LIMITS)

    assert canonical("full", "max", "0", "default.jpg") == "full/max/0/default.jpg"
    assert canonical("square", "max", "0", "default.jpg") == "1000,0,4000,4000/max/0/default.jpg"
    assert canonical("pct:0,0,100,100", "pct:50", "!90.0", "gray.png") == \
        "full/3000,2000/!90/gray.png"
    assert canonical("0,0,10,10", "^20,", "22.50", "color.webp") == \
        "0,0,10,10/^20,20/22.5/color.webp"


def test_quality_policy():
    assert [quality_layers(s, 4, 0.5) for s in (2, 1, 0.5, 0.49, 0.25, 0.2, 0.125, 0.01)] == \
        [4, 4, 4, 3, 3, 2, 2, 1]
    assert quality_layers(0.01, 4, 0) == 4  # 0: always every layer


def _header(mode: str, w: int, h: int, tile: int, layers: int) -> bitstream.Header:
    return bitstream.Header(mode, "m", bytes(8), h, w, layers, tile)


def test_spatial_plan_picks_the_layer_and_only_the_tiles_a_request_needs():
    h = _header("spatial", 3072, 2048, 1024, 3)  # 3x2 tiles; layers at 1/4, 1/2, 1
    assert layer_scale(h, 1) == Fraction(1, 4)
    p = plan(h, 3, (1024, 1024, 1024, 1024), (1024, 1024))  # a tile at scale factor 1
    assert (p.layers, [t.index for t in p.tiles], p.crop) == (3, [4], (1024, 1024, 2048, 2048))
    p = plan(h, 3, (0, 0, 2048, 2048), (1024, 1024))  # scale factor 2: layer 2, four tiles
    assert (p.layers, [t.index for t in p.tiles], p.crop) == (2, [0, 1, 3, 4], (0, 0, 1024,
                                                                               1024))
    p = plan(h, 3, (2048, 0, 1024, 2048), (256, 512))  # scale factor 4, right column: layer 1
    assert (p.layers, [t.index for t in p.tiles], p.crop) == (1, [2, 5], (512, 0, 768, 512))
    p = plan(h, 3, (0, 0, 3072, 2048), (768, 512))  # the whole image at 1/4: layer 1
    assert (p.layers, len(p.tiles), p.crop_pixels) == (1, 6, 768 * 512)
    p = plan(h, 3, (0, 0, 3072, 2048), (769, 513))  # one pixel more: layer 2
    assert p.layers == 2
    assert plan(h, 1, (0, 0, 3072, 2048), (3072, 2048)).layers == 1  # only layer 1 decodes


def test_quality_plan_follows_the_policy():
    h = _header("quality", 3072, 2048, 1024, 4)
    assert plan(h, 4, (0, 0, 3072, 2048), (3072, 2048)).layers == 4
    assert plan(h, 4, (0, 0, 3072, 2048), (768, 512)).layers == 3
    assert plan(h, 4, (0, 0, 3072, 2048), (96, 64)).layers == 1
    assert plan(h, 2, (0, 0, 3072, 2048), (3072, 2048)).layers == 2
    assert plan(h, 4, (0, 0, 3072, 2048), (96, 64), full_scale=0).layers == 4


def test_assembled_tiles_are_the_layer_image_cropped():
    """Tiles decoded at a layer's scale, pasted by the plan, give the crop of that layer."""
    h = _header("spatial", 200, 136, 64, 3)
    rng = np.random.default_rng(0)
    for k in (1, 2, 3):
        s = layer_scale(h, k)
        full = rng.integers(0, 255, (-(-136 * s.numerator // s.denominator),
                                     -(-200 * s.numerator // s.denominator), 3), np.uint8)
        p = plan(h, 3, (50, 30, 120, 90), (round(120 * s), round(90 * s)))
        assert p.layers == k
        tiles = []
        for t in p.tiles:
            y0, x0 = -(-t.top * s.numerator // s.denominator), -(-t.left * s.numerator //
                                                                 s.denominator)
            tiles.append(full[y0 : y0 + t.rows, x0 : x0 + t.cols])
        x0, y0, x1, y1 = p.crop
        assert np.array_equal(assemble(p, tiles), full[y0:y1, x0:x1])


def test_finish_rotates_clockwise_and_mirrors():
    canvas = np.zeros((2, 3, 3), np.uint8)
    canvas[0, 0] = 255  # top-left pixel white
    request = iiif.parse("full", "max", "90", "default.png", 3, 2, iiif.limits_for(3, 2, 100))
    turned = np.asarray(finish(canvas, (3, 2), request))
    assert turned.shape == (3, 2, 3) and turned[0, 1].tolist() == [255] * 3  # now top-right
    request = iiif.parse("full", "max", "!0", "gray.png", 3, 2, iiif.limits_for(3, 2, 100))
    mirrored = np.asarray(finish(canvas, (3, 2), request))
    assert mirrored.shape == (2, 3) and mirrored[0, 2] == 255 and mirrored[0, 0] == 0
