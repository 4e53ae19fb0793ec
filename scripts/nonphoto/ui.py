"""User-interface pages: random dashboards, forms, tables and settings pages written as HTML
and rendered by headless Chromium (Debian's package), in light and dark themes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import Sample, rng, run
from PIL import Image

LICENSE = "generated HTML rendered by Chromium; words from a fixed list"
WORDS = ("account billing report search settings profile orders invoices customers export "
         "import status active pending archived review team members projects analytics "
         "revenue users sessions storage backup security network alerts messages calendar "
         "tasks notes upload download share delete edit save cancel apply filter sort").split()
FONTS = ["DejaVu Sans", "Liberation Sans", "Liberation Serif", "DejaVu Serif", "Noto Mono"]
THEMES = [("#ffffff", "#1f2328", "#f6f8fa", "#d0d7de"),  # background, text, panel, line
          ("#0d1117", "#e6edf3", "#161b22", "#30363d"),
          ("#f4f5f7", "#172b4d", "#ffffff", "#dfe1e6"),
          ("#1e1e1e", "#d4d4d4", "#252526", "#3c3c3c")]


def _words(gen: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[int(i)] for i in gen.integers(len(WORDS), size=n)).capitalize()


def _component(gen: np.random.Generator, accent: str) -> str:
    kind = int(gen.integers(5))
    if kind == 0:  # table
        rows = "".join(
            "<tr>" + "".join(f"<td>{_words(gen, 1)}</td>" for _ in range(3))
            + f"<td>{gen.integers(1, 99999):,}</td><td><span class=tag>{_words(gen, 1)}</span>"
            "</td></tr>" for _ in range(int(gen.integers(3, 10))))
        return f"<table><tr><th>Name</th><th>Owner</th><th>Type</th><th>Amount</th>" \
               f"<th>Status</th></tr>{rows}</table>"
    if kind == 1:  # form
        fields = "".join(f"<label>{_words(gen, 2)}<input value='{_words(gen, 1)}'></label>"
                         for _ in range(int(gen.integers(2, 5))))
        return f"<form>{fields}<button>{_words(gen, 1)}</button> " \
               f"<button class=sec>{_words(gen, 1)}</button></form>"
    if kind == 2:  # cards
        cards = "".join(f"<div class=card><small>{_words(gen, 2)}</small><b>"
                        f"{gen.integers(1, 9999):,}</b><div class=bar><i style='width:"
                        f"{gen.integers(5, 100)}%'></i></div></div>" for _ in range(3))
        return f"<div class=cards>{cards}</div>"
    if kind == 3:  # alert + list
        items = "".join(f"<li>{_words(gen, int(gen.integers(2, 7)))}</li>"
                        for _ in range(int(gen.integers(3, 8))))
        return f"<div class=alert>{_words(gen, 8)}</div><ul>{items}</ul>"
    return f"<h2>{_words(gen, 3)}</h2><p>{_words(gen, int(gen.integers(20, 60)))}.</p>"


def page(gen: np.random.Generator) -> str:
    bg, fg, panel, line = THEMES[int(gen.integers(len(THEMES)))]
    accent = "#" + "".join(f"{int(v):02x}" for v in gen.integers(0, 200, size=3))
    font = FONTS[int(gen.integers(len(FONTS)))]
    size = int(gen.integers(12, 18))
    nav = "".join(f"<a>{_words(gen, 1)}</a>" for _ in range(int(gen.integers(3, 7))))
    side = "".join(f"<li>{_words(gen, 1)}</li>" for _ in range(int(gen.integers(4, 12))))
    body = "".join(_component(gen, accent) for _ in range(int(gen.integers(2, 5))))
    return f"""<!doctype html><html><head><style>
body{{margin:0;background:{bg};color:{fg};font:{size}px '{font}'}}
header{{background:{accent};color:#fff;padding:10px 16px;display:flex;gap:18px}}
header b{{margin-right:30px}} aside{{float:left;width:170px;padding:8px;background:{panel};
height:100vh;border-right:1px solid {line}}} aside li{{list-style:none;padding:6px}}
main{{margin-left:200px;padding:12px 20px}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid {line};padding:6px;text-align:left}}
.tag{{background:{accent}33;color:{accent};border-radius:9px;padding:1px 8px}}
label{{display:block;margin:8px 0}} input{{display:block;width:60%;padding:5px;
border:1px solid {line};background:{panel};color:{fg};border-radius:4px}}
button{{background:{accent};color:#fff;border:0;padding:7px 14px;border-radius:5px;
margin:6px 4px 0 0}}
.sec{{background:{panel};color:{fg};border:1px solid {line}}}
.cards{{display:flex;gap:12px}} .card{{flex:1;border:1px solid {line};background:{panel};
padding:12px;border-radius:6px}} .card b{{display:block;font-size:1.8em}}
.bar{{background:{line};height:6px;border-radius:3px}} .bar i{{display:block;height:6px;
background:{accent};border-radius:3px}} .alert{{border-left:4px solid {accent};
background:{panel};padding:10px;margin:10px 0}}
</style></head><body><header><b>{_words(gen, 1)}</b>{nav}</header>
<aside><ul>{side}</ul></aside><main>{body}</main></body></html>"""


def screenshot(index: int, browser: str) -> Sample | None:
    gen = rng("ui", index)
    w, h = int(gen.integers(640, 1281)), int(gen.integers(480, 801))
    with tempfile.TemporaryDirectory() as tmp:
        html, png = Path(tmp) / "p.html", Path(tmp) / "p.png"
        html.write_text(page(gen))
        try:
            run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                 f"--window-size={w},{h}", f"--screenshot={png}", html.as_uri()], 60)
            im = Image.open(png).convert("RGB")
        except Exception:
            return None
    return Sample("ui", f"ui-{index:03d}", im, "generated page", LICENSE)


def generate(count: int) -> Iterator[Sample]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("the UI pages need Debian's chromium (apt-get install chromium)")
    for i in range(count):
        s = screenshot(i, browser)
        if s is not None:
            yield s
