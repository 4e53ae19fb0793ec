"""Model configurations: frozen dataclasses with named presets, round-tripping through JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..bitstream import MODES, default_shifts

PREDICTIONS = ("crcm", "plain")
LATENT_STRIDE = 16  # a level's analysis halves the image four times
# The rate multipliers every shipped scalable model was trained with (the reference's
# defaults; the loss convention is rpncodec.training.losses'). Quality: CompressAI 0.0042,
# 0.0083, 0.022, 0.05; spatial (1/4, 1/2, full): 0.0020, 0.0033, 0.0067.
QUALITY_LAMBDAS = (240.0, 120.0, 45.0, 20.0)
SPATIAL_LAMBDAS = (500.0, 300.0, 150.0)
# spatial-quality: the spatial levels', then quality levels 3 and 4's (the full-size levels
# above the spatial top start from rpn-quality-cond's levels 3 and 4)
SPATIAL_QUALITY_LAMBDAS = (*SPATIAL_LAMBDAS, 45.0, 20.0)
SPATIAL_LEVELS = 3  # 1/4, 1/2 and full size (spatial and spatial-quality modes)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a model's architecture.

    mode: "quality" (levels at full resolution), "spatial" (1/4, 1/2, full), "spatial-quality"
    (1/4, 1/2, full, then more full-resolution levels of higher quality) or "single" (one
    level of the quality family: the single-layer baseline).
    widths: channels of each level's latent (and its transforms' hidden width).
    mask_axis: softmax axis of the sparse-mask block's channel mask ("pair" = fixed,
    "channel" = the reference's behaviour).
    latent_codecs: each level's latent codec, by name in
    :data:`rpncodec.latent_specs.LATENT_CODECS` (default: the paper's factorized residual).
    prediction: what predicts level k from level k-1: "crcm" (the paper's cross-resolution
    context mining, default) or "plain" (three convolutions: the ablation baseline).
    """

    mode: str
    widths: tuple[int, ...]
    mask_axis: str = "pair"
    latent_codecs: tuple[str, ...] = ()
    prediction: str = "crcm"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")
        expected = {"quality": None, "spatial": SPATIAL_LEVELS, "single": 1,
                    "spatial-quality": None}[self.mode]
        if expected is not None and len(self.widths) != expected:
            raise ValueError(f"{self.mode} mode needs {expected} widths, got {len(self.widths)}")
        if self.mode == "spatial-quality" and len(self.widths) <= SPATIAL_LEVELS:
            raise ValueError(f"spatial-quality mode needs more than {SPATIAL_LEVELS} widths, "
                             f"got {len(self.widths)}")
        if any(w < 4 or w % 4 for w in self.widths):
            raise ValueError(f"widths must be positive multiples of 4, got {self.widths}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        codecs = tuple(self.latent_codecs) or ("factorized",) * self.layers
        if len(codecs) != self.layers:
            raise ValueError(f"need one latent codec per level ({self.layers}), got {codecs}")
        object.__setattr__(self, "latent_codecs", codecs)
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {self.prediction!r}; expected one of "
                             f"{', '.join(PREDICTIONS)}")

    @property
    def layers(self) -> int:
        return len(self.widths)

    # -- geometry (both backends: rpncodec.models and rpncodec.runtime) ---------------------
    @property
    def layer_shifts(self) -> tuple[int, ...]:
        """What each layer is: how many times its image halves the input size (0 = full
        size). Written into every file's header (:attr:`rpncodec.bitstream.Header.shifts`)."""
        return default_shifts(self.mode, self.layers)

    @property
    def pad_multiple(self) -> int:
        """Input sides must be multiples of this: the transforms' stride, times 2 per halving
        of the lowest level (each level's latent is then exactly twice the one below)."""
        return LATENT_STRIDE << self.layer_shifts[0]

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        """The top level's latent size for an input of ``height x width`` (before padding)."""
        m, f = self.pad_multiple, self.pad_multiple // LATENT_STRIDE
        return -(-height // m) * f, -(-width // m) * f

    def synthesis_levels(self, k: int) -> range:
        """The levels (0-based) whose decoded latents synthesis ``k`` reads, concatenated: the
        levels up to ``k`` at its resolution. Quality: 0..k; spatial: k alone; spatial-quality:
        k alone below the full size, then the full-size spatial level up to ``k``."""
        shifts = self.layer_shifts
        start = k
        while start and shifts[start - 1] == shifts[k]:
            start -= 1
        return range(start, k + 1)

    def synthesis_width(self, k: int) -> int:
        """Channels synthesis ``k`` reads (:meth:`synthesis_levels`)."""
        return sum(self.widths[j] for j in self.synthesis_levels(k))

    def level_sizes(self, latent: tuple[int, int]) -> list[tuple[int, int]]:
        """Each level's latent size, lowest level first, from :meth:`latent_size`."""
        return [(latent[0] >> s, latent[1] >> s) for s in self.layer_shifts]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["latent_codecs"] = list(self.latent_codecs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return cls(mode=d["mode"], widths=tuple(d["widths"]), mask_axis=d.get("mask_axis", "pair"),
                   latent_codecs=tuple(d.get("latent_codecs", ())),
                   prediction=d.get("prediction", "crcm"))


# (mode, preset) -> widths. "paper" is the reference's; "cpu" is sized for two CPU cores
# (docs/how-it-works.md, presets); "small" is for equal-budget ablations; "tiny" is for tests only.
PRESETS: dict[tuple[str, str], tuple[int, ...]] = {
    ("quality", "paper"): (96, 120, 144, 196),
    ("quality", "cpu"): (64, 64, 64, 64),
    ("quality", "small"): (32, 32, 32, 32),
    ("quality", "tiny"): (8, 8, 8, 8),
    ("spatial", "paper"): (96, 96, 96),
    ("spatial", "cpu"): (64, 64, 64),
    ("spatial", "small"): (32, 32, 32),
    ("spatial", "tiny"): (8, 8, 8),
    ("spatial-quality", "cpu"): (64, 64, 64, 64, 64),
    ("spatial-quality", "tiny"): (8, 8, 8, 8, 8),
    ("single", "paper"): (196,),
    ("single", "cpu"): (64,),
    ("single", "small"): (32,),
    ("single", "tiny"): (8,),
}


def preset(mode: str, name: str) -> ModelConfig:
    """The named preset of a mode, e.g. ``preset("quality", "cpu")``."""
    try:
        return ModelConfig(mode, PRESETS[(mode, name)])
    except KeyError:
        names = sorted(p for m, p in PRESETS if m == mode)
        raise ValueError(f"no preset {name!r} for {mode} mode; choose from {names}") from None
