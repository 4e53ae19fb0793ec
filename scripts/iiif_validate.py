"""Run the IIIF Image API validator (``iiif-validator-ng``) against a server; JSON results.

    .venv-iiif/bin/python scripts/iiif_validate.py http://127.0.0.1:8000/iiif/3 ID out.json

Runs with the validator's own Python (3.12, its own virtualenv: ``make .venv-iiif``), not the
project's. It runs every test the validator finds applicable to the server's info.json (its
compliance level and extra features), exactly as ``iiif-validator`` does, and writes one
record per check: the test's name and module, its level, passed or not, and for a failure
what was expected and received and at which URL. The module keeps no opinion of its own about
which failures matter; ``tests/test_iiif_validator.py`` reads the records.
"""

from __future__ import annotations

import json
import sys

from iiif_validator.tests.test import IIIFVersion, TargetServer, ValidationFailure  # type: ignore
from iiif_validator.validate import run_tests  # type: ignore


def main(base_url: str, identifier: str, out: str) -> int:
    server = TargetServer(base_url, validation_id=identifier, version=IIIFVersion.V3)
    features = server.feature_set()
    records = []
    for test, result in run_tests(server, max_threads=2):
        level = test.compliance_level
        level = level.get(server.version, level) if isinstance(level, dict) else level
        for one in result if isinstance(result, list) else [result]:
            record = {"module": test.__module__.rsplit(".", 1)[-1], "test": test.name,
                      "level": int(level), "passed": not isinstance(one, ValidationFailure),
                      "details": one.details}
            if isinstance(one, ValidationFailure):
                record.update(expected=one.expected, received=one.received, url=one.url)
            records.append(record)
    records.sort(key=lambda r: (r["module"], r["details"]))
    summary = {"compliance_level": features.compliance_level.name,
               "extra_features": features.extra_features,
               "extra_formats": features.extra_formats,
               "extra_qualities": features.extra_qualities, "results": records}
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
    failed = sum(not r["passed"] for r in records)
    print(f"{len(records) - failed} of {len(records)} checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
