// @ts-check
/**
 * decode.html?src=NAME.rpn&layers=K&report=URL[&threads=N]: decode in the page (in a worker)
 * and show the last layer; with `report`, POST the result as JSON:
 *   {"width", "height", "layers", "decode_ms", "bytes_fetched", "png": "data:image/png;..."}
 * plus "threads", "requests", "layer_ms" (per layer), "wall_ms" (page start to done) and
 * "note" (the command line's partial-decode warning, or null); or {"error": "..."} worded as
 * `rpncodec decode` words the same problem. When done, document.title ends in "done" or
 * "error" and body[data-done] is set (for scripted browsers).
 */

import { decode, layersWanted, paint, sourceUrl, startWorker, threadsWanted } from "./client.js";

const params = new URLSearchParams(location.search);
const status = /** @type {HTMLElement} */ (document.getElementById("status"));
const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById("image"));
const report = params.get("report");
const start = performance.now();

/** @param {Record<string, unknown>} body */
async function send(body) {
  if (!report) return;
  try {
    await fetch(new URL(report, document.baseURI), { method: "POST", body: JSON.stringify(body),
      headers: { "content-type": "application/json" } });
  } catch (error) {
    status.textContent += ` (report not sent: ${error})`;
  }
}

/**
 * @param {string} text
 * @param {string} state
 */
function finish(text, state) {
  status.textContent = text;
  document.title = `rpncodec decode: ${text}, ${state}`;
  document.body.dataset.done = state;
}

async function main() {
  /** @type {any} */
  let last = null;
  /** @type {number[]} */
  const layerMs = [];
  let threads = 1;
  try {
    const src = sourceUrl(params);
    const layers = layersWanted(params);
    threads = threadsWanted(params);
    let full = { width: 0, height: 0 };
    const done = await decode(startWorker(), { src, layers, threads }, {
      header: (m) => { full = m.header; threads = m.threads; },
      layer: (m) => {
        last = m;
        layerMs.push(m.decodeMs);
        status.textContent = `layer ${m.layer}: ${m.width}x${m.height}`;
        paint(canvas, m, full.width, full.height);
      },
    });
    const decodeMs = layerMs.reduce((a, b) => a + b, 0);
    const png = canvas.toDataURL("image/png");
    const body = { width: last.width, height: last.height, layers: done.layers,
      decode_ms: decodeMs, bytes_fetched: done.fetched, png, threads,
      requests: done.requests, layer_ms: layerMs, wall_ms: performance.now() - start,
      note: done.note };
    await send(body);
    finish(`${done.layers} layers, ${last.width}x${last.height}, ${done.fetched} bytes, ` +
      `${decodeMs.toFixed(0)} ms` + (done.note ? ` (${done.note})` : ""), "done");
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await send({ error: message });
    finish(`error: ${message}`, "error");
  }
}

main();
