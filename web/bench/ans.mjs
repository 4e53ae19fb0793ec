// Speed of the ANS decoder in Node: every layer of one file, decoded by channel with the
// library (the 64-bit state as two 32-bit halves) and with a BigInt state, best of N runs.
// Usage: node bench/ans.mjs FIXTURE_DIR STEM [REPEATS]  (bench/web_ans.py writes the
// fixtures and runs this). Prints JSON.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { decodeByChannel, levelSizes, modelFromJson, parseContainer, selectLayers, splitTiles,
  tileGrid } from "../dist/rpncodec.mjs";

const [dir, stem, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg ?? 7);
const expected = JSON.parse(readFileSync(join(dir, `${stem}.expected.json`), "utf8"));
const model = modelFromJson(JSON.parse(readFileSync(join(dir, expected.model_json), "utf8")));
const data = new Uint8Array(readFileSync(join(dir, `${stem}.rpn`)));

// The same decoder with the state as one BigInt: the alternative to two 32-bit halves.
function decodeGroupsBigInt(bytes, counts, tables) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new Uint32Array(bytes.length / 4).map((_, i) => view.getUint32(4 * i, true));
  let pos = words.length;
  let state = 0n;
  if (pos) state = BigInt(words[--pos]);
  if (pos) state = (state << 32n) | BigInt(words[--pos]);
  const advance = (remainder, probability) => {
    state = (state >> 24n) * BigInt(probability) + BigInt(remainder);
    if (state < 0x100000000n && pos > 0) state = (state << 32n) | BigInt(words[--pos]);
  };
  const total = counts.reduce((a, b) => a + b, 0);
  const out = new Int32Array(total);
  const escaped = [];
  let i = 0;
  counts.forEach((n, t) => {
    const { cdf, escape } = tables.models[t];
    for (const end = i + n; i < end; i++) {
      const q = Number(state & 0xffffffn);
      let low = 0;
      let high = escape + 1;
      while (high - low > 1) {
        const mid = (low + high) >>> 1;
        if (cdf[mid] <= q) low = mid;
        else high = mid;
      }
      advance(q - cdf[low], cdf[low + 1] - cdf[low]);
      if (low === escape) escaped.push(i);
      out[i] = low - tables.offsets[t];
    }
  });
  const nibble = () => {
    const q = Number(state & 0xffffffn);
    advance(q & 0xfffff, 0x100000);
    return q >>> 20;
  };
  for (const j of escaped) {
    const count = nibble() + 1;
    let u = 0;
    for (let k = 0; k < count; k++) u += nibble() * 16 ** k;
    out[j] = u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }
  if (state !== 0n || pos !== 0) throw new Error("the BigInt decoder did not end empty");
  return out;
}

function best(fn) {
  let ms = Infinity;
  let value = fn(); // a warm-up run: the JIT compiles the loops
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    value = fn();
    ms = Math.min(ms, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms, value };
}

const container = parseContainer(data);
const header = container.header;
const tiles = tileGrid(header.height, header.width, header.tile);
const chunks = selectLayers(container, null);
const rows = [];
chunks.forEach((chunk, k) => {
  const level = model.levels[k];
  if (level.codec !== "factorized") return;
  const strings = splitTiles(chunk, tiles.length);
  const channels = model.widths[k];
  const run = (decode) => best(() => tiles.map(([, , th, tw], i) => {
    const size = levelSizes(model, th, tw)[k];
    return decode(strings[i], channels, size);
  }));
  const halves = run((s, c, size) => decodeByChannel(s, c, size, level.factorized));
  const bigint = run((s, c, size) => decodeGroupsBigInt(s, new Array(c).fill(size[0] * size[1]),
    level.factorized));
  const symbols = halves.value.reduce((a, s) => a + s.length, 0);
  const same = halves.value.every((s, i) => s.every((v, j) => v === bigint.value[i][j]));
  if (!same) throw new Error(`layer ${k + 1}: the two decoders disagree`);
  rows.push({ layer: k + 1, symbols, bytes: chunk.length, ms_halves: halves.ms,
    ms_bigint: bigint.ms, symbols_per_s_halves: symbols / halves.ms * 1e3,
    symbols_per_s_bigint: symbols / bigint.ms * 1e3 });
});
console.log(JSON.stringify({ node: process.version, repeats, rows }));
