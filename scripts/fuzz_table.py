"""The fuzz campaign's table for docs/limits.md from the JSON files of scripts/fuzz_results.sh.

    python scripts/fuzz_table.py results/fuzz/2026-12-07 [--before results/fuzz/OTHER]

One row per (model, backend): cases, decodes, then the outcomes of the decodes, with the decoded
ones split into same pixels / flagged / silent (rpncodec.utils.fuzz.DECODED_KINDS), and the
mutated files (cases) with at least one silent decode; with ``--before``, each count of that
folder's run of the same seeds is shown as ``before -> now``. Then the silent files by what
their mutation changed of what a decoder reads (``rpncodec.utils.fuzz._changed``).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

COLUMNS = (("decoded", "same pixels"), ("decoded", "flagged"), ("decoded", "silent"),
           ("outcomes", "clean error"), ("outcomes", "crash"), ("outcomes", "wrong output"),
           ("outcomes", "slow"), ("outcomes", "too large"))


def load(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def table(now: dict[str, dict], before: dict[str, dict] | None = None) -> str:
    head = ["model, backend", "cases", "decodes"] + [c[1] for c in COLUMNS] + ["silent files"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, run in now.items():
        cells = [f"{run['model']}, {run['backend']}", str(run["cases"]), str(run["decodes"])]
        for group, name in COLUMNS:
            n = run[group][name]
            if before is not None and key in before:
                n = f"{before[key][group][name]} -> {n}"
            cells.append(str(n))
        files = len({s["case"] for s in run["silent"]})
        if before is not None and key in before:
            files = f"{len({s['case'] for s in before[key]['silent']})} -> {files}"
        cells.append(str(files))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def silent_kinds(runs: dict[str, dict]) -> str:
    """Silent files of every run, counted by what they changed."""
    kinds: Counter = Counter()
    for run in runs.values():
        cases = {s["case"]: s.get("changed", ["?"]) for s in run["silent"]}
        kinds.update(", ".join(c) or "nothing" for c in cases.values())
    rows = ["| silent files: what changed | files |", "|---|---|"]
    rows += [f"| {kind} | {n} |" for kind, n in kinds.most_common()]
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--before", type=Path, help="a run of the same seeds on other code")
    args = p.parse_args()
    now = load(args.folder)
    print(table(now, load(args.before) if args.before else None))
    print()
    print(silent_kinds(now))


if __name__ == "__main__":
    main()
