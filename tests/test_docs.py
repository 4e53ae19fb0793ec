"""The generated documentation stays complete and current: the command-line reference
(docs/cli.md, built by scripts/docs_gen.py) has help for every option and lists every
subcommand, and the README's status table is what the results files give today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _docs_gen():
    spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "scripts" / "docs_gen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_option_has_help() -> None:
    assert _docs_gen().options_without_help() == []


def test_reference_lists_every_subcommand_and_option() -> None:
    from rpncodec.cli import build_parser

    gen = _docs_gen()
    parser = build_parser()
    page = gen.cli_reference(parser)
    for name, _, sub in gen._subcommands(parser):
        assert f"### `rpncodec {name}`" in page
        for action in gen._options(sub):
            for flag in action.option_strings:
                assert f"`{flag}`" in page, (name, flag)


def test_reference_fails_on_missing_help() -> None:
    """The check itself can fail: an option without help is reported."""
    import argparse

    gen = _docs_gen()
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers().add_parser("cmd", help="a command")
    sub.add_argument("--bare")
    assert gen.options_without_help(parser) == ["cmd --bare"]


def test_readme_status_table_is_current() -> None:
    """README.md's table of the default models is ``scripts/docs_gen.py status`` verbatim."""
    table = _docs_gen().status_table()
    assert table in (ROOT / "README.md").read_text(), \
        "README status table is stale: paste `python scripts/docs_gen.py status`"
