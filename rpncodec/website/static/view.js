// @ts-check
/**
 * view.html?src=NAME.rpn[&layers=K][&threads=N]: the progressive viewer. Downloads the file
 * layer by layer with Range requests, decodes each layer in a worker as it arrives and paints
 * it at once (a layer below the full size, such as a spatial file's 1/4 and 1/2 layers, is
 * scaled up to the full frame), with the
 * bytes fetched and the decode time of every layer. The layer buttons show any decoded layer
 * again, or fetch and decode up to a higher one (`layers=K` stops the first download at K).
 * With `report=URL`, the first download's outcome is POSTed there as JSON (for tests):
 * {"layers": [{"layer", "width", "height", "bytes", "fetched", "decode_ms", "shown_ms"}],
 *  "fetched", "requests", "threads", "isolated", "note", "buttons" (the layer buttons' labels)}
 * or {"error": "..."}.
 */

import { decode, layersWanted, paint, sourceUrl, startWorker, threadsWanted } from "./client.js";

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const canvas = /** @type {HTMLCanvasElement} */ ($("image"));
const rows = /** @type {HTMLElement} */ (document.querySelector("#table tbody"));
const start = performance.now();

/** @type {Map<number, any>} decoded layers, by number */
const decoded = new Map();
/** @type {Map<number, number>} each layer's chunk end in the file */
const ends = new Map();
let full = { width: 0, height: 0, layers: 0, mode: "", model: "",
  shifts: /** @type {number[]} */ ([]) };
let shown = 0;
let busy = false;
let reported = false;
/** @type {Array<Record<string, number>>} */
const timeline = [];
let runtime = { threads: 1, isolated: false };

/** @param {Record<string, unknown>} body */
async function report(body) {
  const target = params.get("report");
  if (!target || reported) return;
  reported = true;
  await fetch(new URL(target, document.baseURI), { method: "POST", body: JSON.stringify(body),
    headers: { "content-type": "application/json" } }).catch(() => null);
}
const worker = startWorker();

/** @param {string} text */
function say(text) {
  $("status").textContent = text;
}

/** @param {number} k */
function show(k) {
  const image = decoded.get(k);
  if (!image) return;
  shown = k;
  paint(canvas, image, full.width, full.height);
  for (const button of $("layers").querySelectorAll("button")) {
    button.classList.toggle("current", Number(button.dataset.layer) === k);
    button.classList.toggle("decoded", decoded.has(Number(button.dataset.layer)));
  }
  for (const tr of rows.querySelectorAll("tr")) {
    tr.classList.toggle("current", Number(tr.dataset.layer) === k);
  }
}

function buttons() {
  const nav = $("layers");
  nav.textContent = "layer: ";
  for (let k = 1; k <= full.layers; k++) {
    const button = document.createElement("button");
    button.dataset.layer = String(k);
    const shift = full.shifts[k - 1] ?? 0;
    button.textContent = shift ? `${k} (1/${2 ** shift})` : `${k}`;
    button.title = `show layer ${k} of ${full.layers}`;
    button.onclick = () => (decoded.has(k) ? show(k) : load(k));
    nav.appendChild(button);
  }
}

/** @param {any} m a "layer" message */
function row(m) {
  const end = ends.get(m.layer) ?? m.bytes;
  const own = end - (m.layer > 1 ? ends.get(m.layer - 1) ?? 0 : 0);
  const tr = document.createElement("tr");
  tr.dataset.layer = String(m.layer);
  const cells = [`${m.layer} of ${full.layers}`, `${m.width}x${m.height}`,
    m.layer > 1 ? own.toLocaleString("en") : `${own.toLocaleString("en")} (with header)`,
    m.bytes.toLocaleString("en"), m.decodeMs.toFixed(1),
    (performance.now() - start).toFixed(0)];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  rows.appendChild(tr);
}

/** @param {number | null} layers */
async function load(layers) {
  if (busy) return;
  busy = true;
  const threads = threadsWanted(params);
  try {
    const src = sourceUrl(params);
    const done = await decode(worker, { src, layers, threads }, {
      header: (m) => {
        runtime = { threads: m.threads, isolated: m.isolated };
        if (!full.layers) {
          full = { ...m.header, model: m.model, shifts: m.shifts };
          $("meta").textContent = `${full.model}, ${full.mode} mode, ${full.width}x${full.height}, ` +
            `${full.layers} layers; ${m.threads} thread${m.threads > 1 ? "s" : ""}` +
            (m.isolated ? " (cross-origin isolated)" : " (not cross-origin isolated: one thread)");
          buttons();
        }
      },
      fetched: (m) => {
        ends.set(m.layer, m.end);
        say(`layer ${m.layer} fetched (${m.fetched.toLocaleString("en")} bytes), decoding`);
      },
      layer: (m) => {
        if (decoded.has(m.layer)) return; // decoded before: already on the table
        decoded.set(m.layer, m);
        timeline.push({ layer: m.layer, width: m.width, height: m.height, bytes: m.bytes,
          fetched: m.fetched, decode_ms: m.decodeMs, shown_ms: performance.now() - start });
        row(m);
        show(m.layer);
        say(`layer ${m.layer} of ${full.layers}: ${m.width}x${m.height}`);
      },
    });
    const total = (performance.now() - start).toFixed(0);
    say(`${done.layers} of ${full.layers} layers, ${done.fetched.toLocaleString("en")} bytes ` +
      `fetched in ${done.requests} requests, ${total} ms` + (done.note ? `; ${done.note}` : ""));
    document.title = `${$("name").textContent}: layer ${shown}, done`;
    document.body.dataset.done = "1";
    const labels = Array.from($("layers").querySelectorAll("button"), (b) => b.textContent);
    await report({ layers: timeline, fetched: done.fetched, requests: done.requests,
      note: done.note, buttons: labels, ...runtime });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    say(`error: ${message}`);
    document.title = `${$("name").textContent}: error`;
    document.body.dataset.done = "error";
    await report({ error: message });
  } finally {
    busy = false;
    show(shown);
  }
}

try {
  const name = decodeURIComponent(new URL(sourceUrl(params)).pathname.split("/").pop() ?? "");
  $("name").textContent = name;
  document.title = name;
  $("how").textContent = "Each layer is fetched with an HTTP Range request and decoded in this " +
    "browser (WebAssembly); nothing is decoded by the server.";
  load(layersWanted(params));
} catch (error) {
  say(`error: ${error instanceof Error ? error.message : error}`);
  document.body.dataset.done = "error";
}
