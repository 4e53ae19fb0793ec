"""Text and source code rendered with real fonts: prose from the Python standard library's
docstrings, code from its modules with Pygments' syntax colouring, light and dark themes,
several sizes."""

from __future__ import annotations

import ast
import io
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import Sample, font, fonts, rng
from PIL import Image, ImageDraw
from pygments import highlight
from pygments.formatters import ImageFormatter
from pygments.lexers import PythonLexer

STDLIB = Path(sysconfig.get_paths()["stdlib"])
LICENSE = "Python Software Foundation License (Python standard library text)"
THEMES = [
    ((255, 255, 255), (20, 20, 20)),
    ((250, 247, 240), (50, 45, 40)),
    ((30, 30, 30), (220, 220, 220)),
    ((13, 17, 23), (201, 209, 217)),
    ((255, 255, 255), (30, 60, 140)),
]
CODE_STYLES = [
    "default",
    "friendly",
    "monokai",
    "solarized-dark",
    "solarized-light",
    "github-dark",
    "vs",
    "dracula",
    "nord",
    "xcode",
]
CODE_FONTS = ["DejaVu Sans Mono", "Liberation Mono", "Fira Code", "Noto Mono"]


def _modules() -> list[Path]:
    return sorted(p for p in STDLIB.glob("*.py") if p.stat().st_size > 4000)


def _docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    docs = (ast.get_docstring(n) for n in nodes)
    return [d for d in docs if d and len(d) > 80]


def _wrap(draw: ImageDraw.ImageDraw, text: str, fnt, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}".strip()
            if draw.textlength(trial, font=fnt) <= width or not line:
                line = trial
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def prose(index: int, modules: list[Path]) -> Sample:
    gen = rng("text-prose", index)
    w, h = int(gen.integers(560, 1025)), int(gen.integers(400, 769))
    bg, fg = THEMES[int(gen.integers(len(THEMES)))]
    size = int(gen.choice([11, 12, 13, 14, 16, 18, 20, 24, 28]))
    body, head = font(fonts("text"), gen, size), font(fonts("text"), gen, int(size * 1.6))
    first = int(gen.integers(len(modules)))
    im = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(im)
    margin = int(gen.integers(8, 40))
    y = margin
    used = []
    for path in modules[first:] + modules[:first]:  # until the page is full
        used.append(path.name)
        draw.text((margin, y), path.stem.replace("_", " ").strip().title(), font=head, fill=fg)
        y += int(size * 2.4)
        for line in (
            ln for doc in _docstrings(path) for ln in [*_wrap(draw, doc, body, w - 2 * margin), ""]
        ):
            if y + size > h - margin:
                return Sample(
                    "text", f"prose-{index:03d}", im, f"docstrings of {', '.join(used)}", LICENSE
                )
            draw.text((margin, y), line, font=body, fill=fg)
            y += int(size * 1.35)
    raise RuntimeError("the standard library's docstrings did not fill a page")


def code(index: int, modules: list[Path]) -> Sample:
    gen = rng("text-code", index)
    path = modules[int(gen.integers(len(modules)))]
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    n = int(gen.integers(25, 60))
    start = int(gen.integers(max(1, len(lines) - n)))
    snippet = "\n".join(lines[start : start + n])
    style = CODE_STYLES[int(gen.integers(len(CODE_STYLES)))]
    formatter = ImageFormatter(
        style=style,
        font_name=CODE_FONTS[int(gen.integers(4))],
        font_size=int(gen.choice([11, 12, 13, 14, 16, 18])),
        line_numbers=bool(gen.integers(2)),
        image_pad=8,
    )
    im = Image.open(io.BytesIO(highlight(snippet, PythonLexer(), formatter))).convert("RGB")
    w = min(im.width, int(gen.integers(640, 1025)))
    im = im.crop((0, 0, w, min(im.height, 900)))
    return Sample(
        "text",
        f"code-{index:03d}",
        im,
        f"{path.name} lines {start + 1}-{start + n}, Pygments style {style}",
        LICENSE,
    )


def generate(count: int) -> Iterator[Sample]:
    """``count`` images, alternating prose and code."""
    modules = _modules()
    for i in range(count):
        yield (prose if i % 2 == 0 else code)(i // 2, modules)


if __name__ == "__main__":
    for s in generate(int(np.int64(4))):
        s.image.save(f"/tmp/{s.name}.png")
        print(s.name, s.image.size, s.source)
