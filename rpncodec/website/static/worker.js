// @ts-check
/**
 * The decoding worker: downloads an .rpn file progressively (fetcher.js) and decodes each
 * layer as its bytes arrive with the TypeScript decoder (rpncodec.mjs) on onnxruntime-web, so
 * the page never blocks. Jobs run one after the other; the bytes of a file fetched by earlier
 * jobs are kept, so a job asking for more layers reads only the missing ones.
 *
 * Messages in:  {type: "decode", src (absolute URL), layers (number | null), threads}
 * Messages out: {type: "header", header, model, shifts, threads, isolated} (`shifts`: how many
 *                times each declared layer halves the full size)
 *               {type: "fetched", layer, end, fetched, requests}
 *               {type: "layer", layer, width, height, shift, rgba (transferred), decodeMs,
 *                timings ({entropyMs, graphsMs, synthesisMs}), bytes, note, fetched, requests}
 *               {type: "done", layers, note, fetched, requests}
 *               {type: "error", message, fetched, requests}
 * `fetched` and `requests` count everything transferred for that file so far.
 */

import * as ort from "../ort/ort.wasm.min.mjs";
import { DecodeState, decodeLayers, headerShifts, openModel, readHeader } from "./rpncodec.mjs";
import { PrefixFetcher } from "./fetcher.js";

const here = new URL(".", import.meta.url);
ort.env.wasm.wasmPaths = new URL("../ort/", here).href;
let threadsSet = false;
/** @type {Promise<unknown> | null} onnxruntime-web's runtime, started by the first job */
let runtime = null;

/**
 * A one-node ONNX model (y = Identity(x), opset 13). Creating its session starts
 * onnxruntime-web's runtime (the WebAssembly compiled and instantiated, the thread pool
 * started) at the start of a job, while the file's header and the model's files download,
 * instead of when the first synthesis is needed.
 */
const IDENTITY_ONNX = Uint8Array.from(atob("CAcSADo3ChAKAXgSAXkiCElkZW50aXR5EgFnWg8KAXgSCgoICA" +
  "ESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ=="), (c) => c.charCodeAt(0));

/** @type {Map<string, Promise<any>>} models by name, opened once */
const models = new Map();
/** @type {Map<string, PrefixFetcher>} each file's bytes fetched so far, by URL */
const files = new Map();

/** @param {string} name */
function model(name) {
  let opened = models.get(name);
  if (!opened) {
    opened = openModel(new URL(`../models/${name}/`, here).href, { ort });
    models.set(name, opened);
    opened.catch(() => models.delete(name)); // a failed open is retried by the next job
  }
  return opened;
}

/** @param {any} head a header object, with Uint8Array fields as hex */
function plain(head) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [key, value] of Object.entries(head)) {
    if (value instanceof Uint8Array) {
      out[key] = Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("");
    } else if (typeof value !== "function") out[key] = value;
  }
  return out;
}

/**
 * Decode a job's layers, painting each as early as the bytes allow. The decoder reads every
 * chunk a call decodes before its first layer, so while the download runs, each pass decodes
 * the layers that have arrived (from their bytes alone), and a last pass, once everything is
 * in, decodes what was asked. The passes share a DecodeState: each starts from the layers
 * the one before decoded, and layers already painted are not sent twice. On a fast link the
 * whole file is in before the model is ready and there is one pass; on a slow one the earlier
 * passes run while the link is the bottleneck.
 * @param {{src: string, layers: number | null, threads: number}} job
 */
async function run(job) {
  if (!threadsSet) { // onnxruntime-web reads this once, when its runtime starts
    ort.env.wasm.numThreads = job.threads;
    threadsSet = true;
  }
  // a failure here is reported by the decode's own session, in its words
  runtime ??= ort.InferenceSession.create(IDENTITY_ONNX, { executionProviders: ["wasm"] })
    .then((session) => session.release(), () => null);
  let fetcher = files.get(job.src);
  if (!fetcher) {
    fetcher = new PrefixFetcher(job.src);
    files.set(job.src, fetcher);
  }
  const f = fetcher;
  const counts = () => ({ fetched: f.fetched, requests: f.requests });
  /** @type {number[]} each arrived layer's chunk end */
  const ends = [];
  let downloading = true;
  let wake = () => {};
  const download = f.layers(job.layers, (layer, end) => {
    ends[layer - 1] = end;
    postMessage({ type: "fetched", layer, end, ...counts() });
    wake();
  });
  let downloadError = null;
  download.catch((error) => { downloadError = error; })
    .finally(() => { downloading = false; wake(); });
  let painted = 0;
  const state = new DecodeState(); // this job's latents, shared by its passes
  const onLayer = (/** @type {number} */ k, /** @type {any} */ img) => {
    if (k <= painted) return; // painted by an earlier pass
    painted = k;
    const rgba = img.rgba;
    postMessage({ type: "layer", layer: k, width: img.width, height: img.height,
      shift: img.shift, rgba, decodeMs: img.decodeMs, timings: img.timings, bytes: img.bytes,
      note: img.note ?? null, ...counts() }, [rgba.buffer]);
  };
  try {
    const source = f.source();
    const head = readHeader(await f.headerBytes());
    const opened = await model(head.model);
    // level 1's files and synthesis session are made ready while layer 1 downloads (a failure
    // is reported by the decode that needs them)
    opened.loadLevel(0).catch(() => null);
    await runtime;
    postMessage({ type: "header", header: plain(head), model: opened.name,
      shifts: headerShifts(head, opened.shifts), threads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated === true });
    while (downloading) {
      if (ends.length > painted) { // layers arrived that are not on screen: an early pass
        const have = ends.length;
        try {
          await decodeLayers(opened, f.buffer.slice(0, ends[have - 1]), { layers: have, onLayer,
            state });
        } catch {
          break; // a damaged layer: the last pass reports it in the command line's words
        }
        continue;
      }
      await new Promise((resolve) => { wake = () => resolve(null); });
    }
    await download.catch(() => null);
    if (downloadError) throw downloadError;
    if (painted > 0 && painted === (job.layers ?? head.layers)) { // an early pass did it all
      postMessage({ type: "done", layers: painted, note: null, ...counts() });
      return;
    }
    const last = await decodeLayers(opened, source, { layers: job.layers ?? undefined, onLayer,
      state });
    postMessage({ type: "done", layers: last.layer, note: last.note ?? null, ...counts() });
  } catch (error) {
    await download.catch(() => null);
    // a failed download explains a decode error better than "truncated" does
    const cause = downloadError ?? error;
    postMessage({ type: "error", message: cause instanceof Error ? cause.message : String(cause),
      ...counts() });
  }
}

let queue = Promise.resolve();
self.onmessage = (event) => {
  const job = event.data;
  if (job?.type === "decode") queue = queue.then(() => run(job));
};
