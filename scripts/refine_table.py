"""Print the refinement table of docs/results.md (markdown): a model's Kodak results encoded
plainly and with ``--refine``, each beside JPEG 2000 matched to its own per-image rates.

    .venv/bin/python scripts/refine_table.py PLAIN.json PLAIN-ANCHOR.json REFINED.json \
        REFINED-ANCHOR.json

The anchors are ``rpncodec anchors --match`` runs (``jpeg2000-layered`` in quality mode,
``jpeg2000-resolutions`` in spatial mode, whose full-resolution layer is the one compared).
"""

from __future__ import annotations

import json
import sys


def _load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def main(plain: str, plain_anchor: str, refined: str, refined_anchor: str) -> None:
    spatial = _load(plain)["mode"] == "spatial"
    p, pa, r, ra = (_load(x)["results"] for x in (plain, plain_anchor, refined, refined_anchor))
    print("| layer | plain: bytes / PSNR | refined: bytes / PSNR | change | gap to JPEG 2000 at "
          "the same bytes: plain → refined |")
    print("|---|---|---|---|---|")
    for i, layer in enumerate(p["layer"]):
        gap = ""  # spatial: JPEG 2000's lower resolutions hold other bytes than ours
        if not spatial or i == len(p["layer"]) - 1:
            gap = (f"{p['psnr-rgb'][i] - pa['psnr-rgb'][i]:+.2f} → "
                   f"{r['psnr-rgb'][i] - ra['psnr-rgb'][i]:+.2f} dB")
        change = (f"{100 * (r['bytes'][i] / p['bytes'][i] - 1):+.1f}% bytes, "
                  f"{r['psnr-rgb'][i] - p['psnr-rgb'][i]:+.2f} dB")
        print(f"| {layer} | {p['bytes'][i]:.0f} / {p['psnr-rgb'][i]:.2f} | "
              f"{r['bytes'][i]:.0f} / {r['psnr-rgb'][i]:.2f} | {change} | {gap} |")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
