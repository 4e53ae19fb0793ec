"""The progressive viewer: ``/view/NAME`` shows layer 1 at once, then replaces it with each
higher layer as it arrives, with the bytes and time of every layer on screen.

The image sits at the page's top-left corner at the full image size (a spatial file's lower
layers are scaled up to it), so what is on screen is directly comparable with the decoded
layers. When the last layer is shown, ``document.title`` ends in "done" and
``body[data-done]`` is set, which the browser test waits for. The script is a separate file
(``/static/viewer.js``) so the page runs under a strict Content-Security-Policy.
"""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}: loading</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  html, body {{ margin: 0; padding: 0; background: #fff; color: #222;
               font: 14px/1.4 system-ui, sans-serif; }}
  #frame {{ display: block; line-height: 0; }}
  #image {{ display: block; image-rendering: auto; }}
  #panel {{ padding: 8px 12px; }}
  table {{ border-collapse: collapse; }}
  th, td {{ padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd; }}
  th:first-child, td:first-child {{ text-align: left; }}
  tr.current {{ background: #e8f4e8; font-weight: 600; }}
  #status {{ font-weight: 600; margin: 4px 0 8px; }}
</style></head>
<body data-name="{name}">
<div id="frame"><img id="image" alt="{name}"></div>
<div id="panel">
  <div id="status">{title}: loading</div>
  <table id="layers"><thead><tr><th>layer</th><th>size</th><th>.rpn bytes</th>
  <th>cumulative</th><th>image bytes</th><th>time ms</th></tr></thead><tbody></tbody></table>
</div>
<script src="/static/viewer.js"></script>
</body></html>
"""

SCRIPT = r"""'use strict';
(async () => {
  const name = document.body.dataset.name;
  const base = '/images/' + encodeURIComponent(name);
  const img = document.getElementById('image');
  const status = document.getElementById('status');
  const rows = document.querySelector('#layers tbody');
  const say = (text) => { status.textContent = text; document.title = text; };
  try {
    const response = await fetch(base + '/info');
    const info = await response.json();
    if (!response.ok) throw new Error(info.error || response.statusText);
    img.style.width = info.width + 'px';
    img.style.height = info.height + 'px';
    const start = performance.now();
    for (const layer of info.per_layer) {
      const t0 = performance.now();
      const r = await fetch(layer.url);
      if (!r.ok) {
        const e = await r.json().catch(() => ({}));
        throw new Error('layer ' + layer.layer + ': ' + (e.error || r.statusText));
      }
      const blob = await r.blob();
      const url = URL.createObjectURL(blob);
      const next = new Image();
      next.src = url;
      await next.decode();
      const previous = img.src;
      img.src = url;
      if (previous.startsWith('blob:')) URL.revokeObjectURL(previous);
      const ms = performance.now() - t0;
      for (const tr of rows.querySelectorAll('tr')) tr.className = '';
      const tr = document.createElement('tr');
      tr.className = 'current';
      for (const cell of [layer.layer + ' of ' + info.layers, layer.width + 'x' + layer.height,
                          layer.bytes, layer.cumulative_bytes, blob.size, ms.toFixed(0)]) {
        const td = document.createElement('td');
        td.textContent = cell;
        tr.appendChild(td);
      }
      rows.appendChild(tr);
      say(name + ': layer ' + layer.layer + ' of ' + info.layers + ' (' + info.mode + ')');
    }
    const total = (performance.now() - start).toFixed(0);
    let note = '';
    if (info.available < info.layers) note = ' (only ' + info.available + ' layers decode)';
    say(name + ': ' + info.available + ' layers in ' + total + ' ms' + note + ', done');
    document.body.dataset.done = '1';
  } catch (error) {
    say(name + ': error: ' + error.message + ', done');
    document.body.dataset.done = 'error';
  }
})();
"""


def page(name: str) -> str:
    """The viewer page for the file ``name`` (already validated; escaped anyway)."""
    safe = html.escape(name, quote=True)
    return PAGE.format(name=safe, title=safe)
