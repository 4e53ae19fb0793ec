#!/usr/bin/env bash
# The IIIF clients the tests check `rpncodec serve` with, none of them written here:
#   .venv-iiif/            iiif-validator-ng (the IIIF Image API validator) and pyvips-binary,
#                          in their own Python 3.12 virtualenv (the validator uses 3.12 syntax)
#   tests/browser/node_modules/   OpenSeadragon and Mirador, as locked by
#                          tests/browser/package-lock.json
# tests/test_iiif_validator.py and tests/test_iiif_browser.py skip, saying why, without them.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python312() {
    for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x .venv-iiif/bin/iiif-validator ]; then
    if py=$(find_python312); then
        "$py" -m venv .venv-iiif
        .venv-iiif/bin/pip install --quiet iiif-validator-ng==0.1.0 pyvips-binary==8.18.7 \
            pyvips==3.2.0
    else
        echo "iiif_setup: no Python 3.12; the IIIF validator test will be skipped" >&2
    fi
fi

if command -v npm >/dev/null 2>&1; then
    npm ci --prefix tests/browser --no-audit --no-fund --silent
else
    echo "iiif_setup: no npm; the OpenSeadragon and Mirador tests will be skipped" >&2
fi
