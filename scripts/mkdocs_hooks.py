"""mkdocs hooks (``mkdocs.yml``: ``hooks``): the generated parts of the site.

A page's ``<!-- gen: KIND ARG -->`` marker is replaced by ``scripts/docs_gen.py``'s text for it
(the command-line reference from the argparse parser, tables from ``results/``, model facts
from the weights), and the single-layer model cards are added as pages. Everything is
computed at build time, so a built site is never older than the code and results it shows.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docs_gen
from mkdocs.structure.files import File

MARKER = re.compile(r"<!-- gen: (.+?) -->")


def on_files(files, config):
    """Add one card page per single-layer model (they share one template)."""
    for name in docs_gen.SINGLE_MODELS:
        files.append(File.generated(config, f"models/{name}.md",
                                    content=docs_gen.single_card(name)))
    return files


def on_page_markdown(markdown, page, config, files):
    """Replace every generation marker by its text."""
    return MARKER.sub(lambda m: docs_gen.generate(m.group(1)), markdown)
