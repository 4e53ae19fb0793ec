// @ts-check
/**
 * decode.html?src=NAME.rpn&layers=K&report=URL[&threads=N]: decode in the page (in a worker)
 * and show the last layer; with `report`, POST the result as JSON:
 *   {"width", "height", "layers", "decode_ms", "bytes_fetched", "png": "data:image/png;..."}
 * plus "threads", "isolated", "requests", "wall_ms" (page start to done), "time_origin" (the
 * page's start, ms since the Unix epoch: the origin of every *_ms time), "note" (the command
 * line's partial-decode warning, or null) and "per_layer": [{"layer", "width", "height",
 * "bytes" (the file's prefix that layer needs), "decode_ms", "shown_ms" (page start to that
 * layer on screen: runtime start, model and file fetches included)}]; or {"error": "..."} worded as
 * `rpncodec decode` words the same problem. `repeat=N` (benchmarks) decodes N times in the same
 * worker (the bytes are fetched once) and adds each layer's fastest later time as "warm_ms".
 * Each layer's "parts" (and "warm_parts") split its decode into entropy decoding, the float64
 * networks and the synthesis: {"entropyMs", "graphsMs", "synthesisMs"}. When done,
 * document.title ends in "done" or "error" and body[data-done] is set (for scripted browsers).
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
  /** @type {Array<Record<string, any>>} */
  const perLayer = [];
  let threads = 1;
  let isolated = false;
  try {
    const src = sourceUrl(params);
    const layers = layersWanted(params);
    threads = threadsWanted(params);
    let full = { width: 0, height: 0 };
    const repeat = Math.max(1, Math.min(50, Number.parseInt(params.get("repeat") ?? "1", 10) || 1));
    const worker = startWorker();
    let done = null;
    for (let run = 0; run < repeat; run++) {
      done = await decode(worker, { src, layers, threads }, {
        header: (m) => { full = m.header; threads = m.threads; isolated = m.isolated; },
        layer: (m) => {
          if (run > 0) {
            const entry = perLayer[m.layer - 1];
            if (m.decodeMs < (entry.warm_ms ?? Infinity)) {
              entry.warm_ms = m.decodeMs;
              entry.warm_parts = m.timings;
            }
            return;
          }
          last = m;
          perLayer.push({ layer: m.layer, width: m.width, height: m.height, bytes: m.bytes,
            decode_ms: m.decodeMs, parts: m.timings, shown_ms: performance.now() - start });
          status.textContent = `layer ${m.layer}: ${m.width}x${m.height}`;
          paint(canvas, m, full.width, full.height);
        },
      });
    }
    const decodeMs = perLayer.reduce((a, b) => a + b.decode_ms, 0);
    const png = canvas.toDataURL("image/png");
    const body = { width: last.width, height: last.height, layers: done.layers,
      decode_ms: decodeMs, bytes_fetched: done.fetched, png, threads, isolated,
      requests: done.requests, per_layer: perLayer, wall_ms: performance.now() - start,
      note: done.note, time_origin: performance.timeOrigin + start };
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
