// Decode times of the engine in Node: each layer of a file, first decode (cold: model files
// read and checked, networks folded, sessions created) and the best of the later ones (warm).
//   node bench/decode.mjs MODELS_DIR FILE.rpn [--repeats N] [--threads T]
// prints one JSON object: per layer the wall time and its parts (entropy, float64 networks,
// synthesis), cold and warm.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import * as ort from "onnxruntime-web";

import { decodeLayers, openModel, readHeader } from "../dist/rpncodec.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args.splice(i, 2)[1]);
};
const repeats = option("--repeats", 3);
ort.env.wasm.numThreads = option("--threads", 1);
const [modelsDir, file] = args;
const data = new Uint8Array(readFileSync(file));
const header = readHeader(data);
const model = await openModel(async (p) => new Uint8Array(readFileSync(join(modelsDir,
  header.model, p))), { ort });

const runs = [];
for (let r = 0; r < repeats; r++) {
  const layers = [];
  await decodeLayers(model, data, { onLayer: (k, img) => layers.push({ layer: k,
    width: img.width, height: img.height, bytes: img.bytes, ms: img.decodeMs, ...img.timings }) });
  runs.push(layers);
}
const best = runs[0].map((_, k) => runs.slice(1).map((r) => r[k]).reduce((a, b) =>
  (b.ms < a.ms ? b : a), runs[Math.min(1, runs.length - 1)][k]));
console.log(JSON.stringify({ model: header.model, height: header.height, width: header.width,
  threads: ort.env.wasm.numThreads, repeats, cold: runs[0], warm: best }));
