"""Write the starting weights of a spatial-quality model from two shipped models.

    python scripts/spatial_quality_init.py runs/sq-init.pt

Levels 1-3 are rpn-spatial-cond's, levels 4 and 5 take rpn-quality-cond's levels 3 and 4
(:func:`rpncodec.training.warmstart.spatial_quality_from`). Train from the file with
``rpncodec train --mode spatial-quality --latent-codecs factorized conditional conditional
conditional conditional --init OUT --freeze-levels 3`` (docs/training.md).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from rpncodec.models import build_model, preset
from rpncodec.training.export import save_atomic
from rpncodec.training.warmstart import spatial_quality_from
from rpncodec.zoo import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="weights file to write (loadable by train --init)")
    parser.add_argument("--spatial", default="rpn-spatial-cond", help="spatial model")
    parser.add_argument("--quality", default="rpn-quality-cond", help="quality model")
    args = parser.parse_args()
    spatial, quality = load_model(args.spatial).model, load_model(args.quality).model
    levels = len(preset("spatial-quality", "cpu").widths)
    codecs = spatial.config.latent_codecs + quality.config.latent_codecs[2:levels - 1]
    config = replace(preset("spatial-quality", "cpu"), latent_codecs=codecs)
    model = build_model(config)
    spatial_quality_from(model, spatial, quality)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    save_atomic({"config": config.to_dict(), "state_dict": state}, args.out)
    print(f"wrote {args.out}: {config}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
