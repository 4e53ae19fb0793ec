"""The shipped models: name -> weights file, sha256 and what it is (torch-free).

Loading a model is :func:`rpncodec.zoo.load_model` (torch) or
:func:`rpncodec.runtime.load_runtime` (ONNX Runtime); both check the file's sha256 against
this registry first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model."""

    name: str
    file: str
    sha256: str
    mode: str
    layers: int
    description: str
    default: bool = False
    onnx_manifest: str = ""  # sha256 of its shipped ONNX export's manifest.json ("": none)
    auto: bool = False  # a candidate of ``--model auto`` in its mode (rpncodec.auto)


REGISTRY: dict[str, ModelEntry] = {
    e.name: e for e in [
        ModelEntry("rpn-quality-cond", "rpn-quality-cond.pt",
                   "0095b8ca58b2a7865718e7f65f49b98b3d06e86794af6f5c412aeae9bca5e8c2", "quality", 4,
                   "quality mode: rpn-quality-cpu with a hyperprior at level 1 and conditional "
                   "Gaussian codecs at levels 2-4, then a joint CPU fine-tune (docs/models/"
                   "rpn-quality-cond.md)",
                   default=True, auto=True,
                   onnx_manifest="6999bd8058d89e51e7281c51c08873951019145d7e2961e86de1ae7f48e09d44"),
        ModelEntry("rpn-quality-screen", "rpn-quality-screen.pt",
                   "305796ff9da2e86527120848ac47d3eb70843b6c7fc0f02ad53ab38fa3a6087f", "quality", 4,
                   "quality mode, for text, screenshots, charts and drawings: rpn-quality-cond "
                   "fine-tuned on the non-photographic data set mixed with photos; a candidate "
                   "of encode --model auto (docs/models/rpn-quality-screen.md)",
                   auto=True,
                   onnx_manifest="962b6902dba0a6368d0ba64fc2d0d5a2158e5cd7b68316caf0c30bd677ccb346"),
        ModelEntry("rpn-spatial-cond", "rpn-spatial-cond.pt",
                   "f3e202c5a2b68725ef84bfa2c508d30490eaccfa2c44407ca33f64e2779b3387", "spatial", 3,
                   "spatial mode: rpn-spatial-cpu with conditional Gaussian codecs at levels 2-3, "
                   "then a joint CPU fine-tune (docs/models/rpn-spatial-cond.md)",
                   onnx_manifest="e06c6c45847e52dbc63c78e72f357e43b1f9a4c416a4a1e0b9cfdf33f039c369"),
        ModelEntry("rpn-spatial-quality", "rpn-spatial-quality.pt",
                   "5c236f7fda032bd1df84dff75bc39f4d7afe4dcd67d41e89e6e2379f1d36d430",
                   "spatial-quality", 5,
                   "spatial-quality mode: 1/4, 1/2 and full resolution (rpn-spatial-cond's "
                   "levels, frozen: the same bytes and pixels), then two full-size quality "
                   "layers from rpn-quality-cond's upper levels, trained on a CPU (docs/models/"
                   "rpn-spatial-quality.md)",
                   onnx_manifest="9b8a20ab63e13d679fffdd423b2481c119a87c3d4d4961f2a6c69d40e278add2"),
        ModelEntry("rpn-quality-cpu", "rpn-quality-cpu.pt",
                   "b0735007eb288ccb108293e36c58fe34a8592d6349dd274b978cfb2ffab1ce49", "quality", 4,
                   "quality mode, CPU preset (64/64/64/64), the paper's factorized entropy "
                   "model: progressive CPU training, then a guided joint fine-tune on a GPU "
                   "(docs/models/rpn-quality-cpu.md)"),
        ModelEntry("rpn-spatial-cpu", "rpn-spatial-cpu.pt",
                   "74d125f364169c81a40a39070d3268ed38148461a314e1839f81373d21996649", "spatial", 3,
                   "spatial mode, CPU preset (64/64/64): 1/4, 1/2, full resolution; levels "
                   "warm-started from rpn-single-cpu-l500/l240/l120 (docs/models/"
                   "rpn-spatial-cpu.md)"),
        ModelEntry("rpn-single-cpu-l500", "rpn-single-cpu-l500.pt",
                   "47b7a0ce10717ee48814ab45de4f1fd237f6f332909f608df1728ce254d401c5", "single", 1,
                   "single layer, CPU preset (64), lambda 500: simulcast member"),
        ModelEntry("rpn-single-cpu-l240", "rpn-single-cpu-l240.pt",
                   "902b29d94d0273b0944ad620746609a0f7e7742e44cefd21536131ecc6fdd83f", "single", 1,
                   "single layer, CPU preset (64), lambda 240: simulcast member"),
        ModelEntry("rpn-single-cpu-l120", "rpn-single-cpu-l120.pt",
                   "20c3cfaf0c609535c0c5e86d97943b689c5fbb31364bed6c0b7e3c259351869c", "single", 1,
                   "single layer, CPU preset (64), lambda 120: simulcast member"),
        ModelEntry("rpn-single-cpu-l45", "rpn-single-cpu-l45.pt",
                   "c53c7f8e9e2b0aba9f27f63d04bad0fa8f7f5eeb9415cb206d6baf5f1287962e", "single", 1,
                   "single layer, CPU preset (64), lambda 45: simulcast member"),
        ModelEntry("rpn-single-cpu-l20", "rpn-single-cpu-l20.pt",
                   "00b1b4b04c4115effb581a57de1f97e033447f13bbd49aff0475d6169d2c7cb7", "single", 1,
                   "single layer, CPU preset (64), lambda 20: reference for the quality top layer"),
    ]
}


def default_model(mode: str | None = None) -> str:
    """The default model, or the first shipped model of ``mode`` (quality, spatial)."""
    if mode is None:
        return next(e.name for e in REGISTRY.values() if e.default)
    try:
        return next(e.name for e in REGISTRY.values() if e.mode == mode)
    except StopIteration:
        raise ModelError(f"no shipped model for {mode} mode") from None


def safe_name(stem: str) -> str:
    """A model name from a file or folder name: what a header can record (``[A-Za-z0-9._-]``,
    at most 64 characters)."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem)[:64]
    return cleaned or "custom"
