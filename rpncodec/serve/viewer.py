"""The progressive viewer: ``/view/NAME`` shows layer 1 at once, then replaces it with each
higher layer as it arrives, with the bytes and time of every layer on screen.

The layers are loaded one after the other by one ``<img>`` (it keeps showing the current layer
until the next has loaded). Each load delays the page's load event, so headless Chromium's
``--screenshot`` (taken at load) shows the last layer, with real timings. The image sits at
the page's top-left corner at the full image size (a spatial file's lower
layers are scaled up to it), so what is on screen is directly comparable with the decoded
layers. When the last layer is shown, ``document.title`` ends in "done" and
``body[data-done]`` is set, which the browser test waits for. Each row shows the layer's own
and cumulative ``.rpn`` bytes, the PNG bytes received, the server's decode time (from the
``Server-Timing`` header: the first request decodes, later ones come from the cache) and when
the layer arrived as the browser measured it. The script is a separate file
(``/static/viewer.js``) so the page runs under a strict Content-Security-Policy.
"""

from __future__ import annotations

import html
import json

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
<body data-info="{info}">
<div id="frame"><img id="image" alt="{name}"></div>
<div id="panel">
  <div id="status">{title}: loading</div>
  <table id="layers"><thead><tr><th>layer</th><th>size</th><th>.rpn bytes</th>
  <th>cumulative</th><th>image bytes</th><th>decode ms</th><th>arrived ms</th></tr></thead>
  <tbody></tbody></table>
</div>
<script src="/static/viewer.js"></script>
</body></html>
"""

SCRIPT = r"""'use strict';
(() => {
  const info = JSON.parse(document.body.dataset.info);
  const name = info.name;
  const img = document.getElementById('image');
  const status = document.getElementById('status');
  const rows = document.querySelector('#layers tbody');
  const say = (text) => { status.textContent = text; document.title = text; };
  img.style.width = info.width + 'px';
  img.style.height = info.height + 'px';
  const start = performance.now();
  let index = 0;
  let t0 = 0;
  const finish = (text) => {
    say(text);
    document.body.dataset.done = text.includes('error') ? 'error' : '1';
  };
  const next = () => {
    if (index >= info.per_layer.length) {
      const total = (performance.now() - start).toFixed(0);
      const note = info.available < info.layers ? ' (only ' + info.available + ' of ' +
        info.layers + ' layers decode)' : '';
      finish(name + ': ' + info.available + ' layers in ' + total + ' ms' + note + ', done');
      return;
    }
    t0 = performance.now();
    // the <img> keeps showing the current layer until the next one has loaded; each load
    // delays the page's load event, so a screenshot taken at load shows the last layer
    img.src = info.per_layer[index].url;
  };
  img.addEventListener('load', () => {
    const layer = info.per_layer[index];
    const ms = performance.now() - t0;
    const entry = performance.getEntriesByName(img.currentSrc).pop();
    const size = entry ? entry.encodedBodySize : '-';
    const timing = entry && entry.serverTiming ?
      entry.serverTiming.find((t) => t.name === 'decode') : null;
    for (const tr of rows.querySelectorAll('tr')) tr.className = '';
    const tr = document.createElement('tr');
    tr.className = 'current';
    for (const cell of [layer.layer + ' of ' + info.layers, layer.width + 'x' + layer.height,
                        layer.bytes, layer.cumulative_bytes, size,
                        timing ? timing.duration.toFixed(0) : '-', ms.toFixed(0)]) {
      const td = document.createElement('td');
      td.textContent = cell;
      tr.appendChild(td);
    }
    rows.appendChild(tr);
    say(name + ': layer ' + layer.layer + ' of ' + info.layers + ' (' + info.mode + ')');
    index += 1;
    next();
  });
  img.addEventListener('error', async () => {
    const url = info.per_layer[index].url;
    let message = 'HTTP error';
    try { message = (await (await fetch(url)).json()).error; } catch (e) { /* keep it */ }
    finish(name + ': error: layer ' + (index + 1) + ': ' + message + ', done');
  });
  if (info.per_layer.length === 0) finish(name + ': error: no layer decodes, done');
  else next();
})();
"""


def page(info: dict) -> str:
    """The viewer page of a file, given its ``/images/NAME/info`` JSON (embedded in the page,
    escaped, so the page needs no request before layer 1)."""
    safe = html.escape(info["name"], quote=True)
    return PAGE.format(name=safe, title=safe, info=html.escape(json.dumps(info), quote=True))
