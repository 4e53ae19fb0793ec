"""The generated command-line reference (docs/cli.md, built by scripts/docs_gen.py) stays
complete: every option of every subcommand has help text, and every subcommand appears."""

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
