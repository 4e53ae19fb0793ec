// Whole decodes on onnxruntime-web: every entropy-decoded part is Python's, symbol for
// symbol, every layer's size is Python's and its pixels within one level of Python's (onnx
// backend), at least 99.9% of them equal (and of the committed pixels of the exact-colour
// golden files); a version-4 file shows its version-3 twin's pixels snapped tile by tile; a
// version-5 file (colour corrections) shows exactly Python's pixels at every layer (a
// correction string that does not decode skipped), and so does a version-6 file (residual
// layers) whose base has exact colours; a decode of every layer of
// a cut or damaged file warns as the command line does, and a file Python refuses is refused
// with its message.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import * as ort from "onnxruntime-web";

import { DecodeState, ModelError, decodeLayers, openModel, parseContainer, readHeader, snap,
  tileGrid } from "../dist/rpncodec.mjs";
import { dir, int32, load, needsFixtures } from "./fixtures.mjs";

ort.env.wasm.numThreads = 1;

function folderOf(model) {
  return async (path) => new Uint8Array(readFileSync(join(dir, "decode", "models", model, path)));
}

/** Compare `rgba` with Python's RGB pixels: [values differing, largest difference]. */
export function comparePixels(rgba, rgb) {
  let differ = 0, worst = 0;
  for (let p = 0; p < rgb.length / 3; p++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(rgba[4 * p + c] - rgb[3 * p + c]);
      if (d) differ++;
      worst = Math.max(worst, d);
    }
    assert.equal(rgba[4 * p + 3], 255);
  }
  return [differ, worst];
}

/** Python's RGB pixels as the RGBA of a decoded layer (alpha 255). */
function toRgba(rgb) {
  const out = new Uint8ClampedArray(rgb.length / 3 * 4).fill(255);
  for (let p = 0; p < rgb.length / 3; p++) out.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p);
  return out;
}

test("every file decodes to Python's symbols and pixels", { skip: needsFixtures }, async () => {
  const cases = load("decode.json");
  assert.ok(cases.length >= 4);
  for (const c of cases) {
    const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
    const model = await openModel(folderOf(c.model), { ort });
    if (c.error !== undefined) {
      await assert.rejects(decodeLayers(model, data), (exc) => {
        assert.equal(exc.message, c.error, c.name);
        return true;
      });
      console.log(`# ${c.name}: refused as in Python (${c.error})`);
      continue;
    }
    const got = new Map();
    const images = [];
    await decodeLayers(model, data, {
      onSymbols: (tile, level, part, symbols) => got.set(`${tile}/${level}/${part}`, symbols),
      onLayer: (k, image) => images.push(image),
    });
    c.symbols.forEach((levels, tile) => levels.forEach((parts, level) => {
      for (const [part, b64] of Object.entries(parts)) {
        assert.deepEqual(got.get(`${tile}/${level}/${part}`), int32(b64),
          `${c.name} tile ${tile} level ${level} ${part}`);
      }
    }));
    assert.equal(images.length, c.layers.length, c.name);
    assert.equal(images.at(-1).note, c.note, c.name);
    c.layers.forEach((want, k) => {
      const image = images[k];
      assert.deepEqual([image.height, image.width], [want.height, want.width], c.name);
      for (const [what, file] of [["Python's", want.pixels], ["committed", want.committed]]) {
        if (file === undefined) continue;
        const rgb = readFileSync(join(dir, "decode", file));
        const [differ, worst] = comparePixels(image.rgba, rgb);
        const where = `${c.name} layer ${k + 1} (${what} pixels)`;
        // a version-5 file of the fixtures, or a version-6 one over exact colours
        const exact = c.exact && what === "Python's";
        assert.ok(worst <= (exact ? 0 : 1), `${where}: a value ${worst} levels off`);
        assert.ok(differ <= (exact ? 0 : 0.001 * rgb.length),
          `${where}: ${differ} of ${rgb.length} values differ`);
        console.log(`# ${where}: ${differ} of ${rgb.length} values differ by 1`);
      }
    });
  }
});

test("a version-4 file shows its version-3 twin's pixels snapped tile by tile",
  { skip: needsFixtures }, async (t) => {
    const all = load("decode.json");
    const cases = all.filter((x) => x.twin !== undefined);
    if (!cases.length) return t.skip("no version-4 file in the fixtures");
    for (const c of cases) {
      const twin = all.find((x) => x.name === c.twin);
      const model = await openModel(folderOf(c.model), { ort });
      const decode = async (file) => {
        const images = [];
        await decodeLayers(model, new Uint8Array(readFileSync(join(dir, "decode", file))),
          { onLayer: (k, image) => images.push(image) });
        return images;
      };
      const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
      const header = readHeader(data);
      assert.equal(header.version, 4);
      assert.equal(readHeader(readFileSync(join(dir, "decode", twin.file))).version, 3);
      const [snapped, plain] = [await decode(c.file), await decode(twin.file)];
      const tiles = tileGrid(header.height, header.width, header.tile);
      assert.ok(tiles.length > 1, `${c.name}: one tile`);
      let changed = 0;
      plain.forEach((image, k) => {
        const want = image.rgba.slice();
        for (const [top, left, h, w] of tiles) {
          const rgb = new Uint8Array(h * w * 3);
          for (let p = 0; p < h * w; p++) {
            const at = ((top + Math.floor(p / w)) * image.width + left + (p % w)) * 4;
            rgb.set(image.rgba.subarray(at, at + 3), 3 * p);
          }
          const out = snap(rgb, h, w, header.palette, ...header.radii[k]);
          for (let p = 0; p < h * w; p++) {
            const at = ((top + Math.floor(p / w)) * image.width + left + (p % w)) * 4;
            want.set(out.subarray(3 * p, 3 * p + 3), at);
          }
        }
        assert.deepEqual(snapped[k].rgba, want, `${c.name} layer ${k + 1}`);
        changed += want.filter((v, i) => v !== image.rgba[i]).length;
      });
      assert.ok(changed > 0, `${c.name}: snapping changed nothing`);
      console.log(`# ${c.name}: snapping changed ${changed} values over its layers`);
    }
  });

test("the version-5 files are checked exactly, and their corrections change pixels",
  { skip: needsFixtures }, () => {
    const all = load("decode.json");
    const exact = all.filter((x) => x.exact);
    const versions = exact.map((c) => readHeader(readFileSync(join(dir, "decode", c.file)))
      .version);
    assert.deepEqual(versions, exact.map((c) => c.version));
    assert.ok(versions.filter((v) => v === 5).length >= 5, `versions ${versions}`);
    // refused: a learned part beyond its tile string (in a one-tile and a tiled file)
    assert.ok(all.filter((c) => c.name.startsWith("v5") && c.error !== undefined).length >= 2);
    // a correction string that does not decode (a symbol naming no colour) is skipped: its
    // layer shows the snapped pixels, those of the file without corrections
    const skipped = exact.find((c) => c.name === "v5-layer4-no-colour");
    const twin = exact.find((c) => c.name === "v5-v4-twin");
    assert.equal(skipped.layers.length, 4);
    assert.deepEqual(readFileSync(join(dir, "decode", skipped.layers[3].pixels)),
      readFileSync(join(dir, "decode", twin.layers[3].pixels)));
    const whole = exact.find((c) => c.name === "v5");
    assert.ok(whole.changed.some((n) => n > 0), `${whole.changed}`);
    console.log(`# v5: its corrections change ${whole.changed.join(", ")} values of layers 1-4`);
  });

test("the version-6 files are checked exactly, and their residual layers change pixels",
  { skip: needsFixtures }, () => {
    const all = load("decode.json");
    const v6 = all.filter((c) => c.version === 6);
    for (const c of v6) {
      const header = readHeader(readFileSync(join(dir, "decode", c.file)));
      assert.equal(header.version, 6, c.name);
      assert.equal(header.steps.findIndex((s) => s > 0), c.learned, c.name);
      // each residual layer written over the fixtures' images shows other pixels than the
      // layer below it (the encoder's own may add one over a layer it leaves nothing to)
      assert.ok(c.changed.length > 0, c.name);
      if (!["v6", "v6-extra"].includes(c.name)) {
        assert.ok(c.changed.every((n) => n > 0), `${c.name}: ${c.changed}`);
      }
    }
    assert.ok(v6.filter((c) => c.exact).length >= 5, `${v6.length} version-6 files`);
    assert.ok(v6.some((c) => !c.exact)); // a base without exact colours: within one level
    assert.ok(v6.some((c) => c.layers.length < 4)); // cut to 3 layers, cut inside layer 4
    // refused: a flipped byte, a string too short, part lengths beyond it
    const refused = all.filter((c) => c.name.startsWith("v6") && c.error !== undefined);
    assert.ok(refused.length >= 3 && refused.every((c) => /is damaged \(.*damaged layer payload/
      .test(c.error)), refused.map((c) => c.error).join("; "));
    console.log(`# version 6: ${v6.map((c) => `${c.name} changes ${c.changed}`).join("; ")}`);
  });

test("a file decodes from a range reader, reading only the layers asked for",
  { skip: needsFixtures }, async (t) => {
    // a version-4 header of 256 colours is over the 112 bytes read first
    const names = ["rpn-quality-cond", "tiny-sq", "exact-rpn-quality-screen-256", "v5",
      "v6-tiled"];
    const cases = load("decode.json").filter((x) => names.includes(x.name));
    if (!cases.length) return t.skip(`none of ${names.join(", ")} in the fixtures`);
    for (const c of cases) {
      const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
      const model = await openModel(folderOf(c.model), { ort });
      for (const layers of c.name.startsWith("v6") ? [1, 2, 3, 4] : [1, 2]) {
        let read = 0;
        const source = { read: async (start, end) => {
          read = Math.max(read, Math.min(end, data.length));
          return data.slice(start, end);
        } };
        const whole = await decodeLayers(model, data, { layers });
        const ranged = await decodeLayers(model, source, { layers });
        assert.deepEqual(ranged.rgba, whole.rgba);
        assert.deepEqual([ranged.bytes, ranged.width, ranged.height],
          [whole.bytes, whole.width, whole.height]);
        assert.ok(read < data.length || layers === readHeader(data).layers,
          `${c.name}: read ${read} of ${data.length} bytes for ${layers} layers`);
        // the header is read in one go (112 bytes at most), then each chunk and the next
        // chunk's 8-byte length field
        assert.ok(read <= Math.max(whole.bytes + 8, 112),
          `${c.name}: read ${read} bytes, layer ${layers} ends at ${whole.bytes}`);
      }
    }
  });

test("a decode state carries the latents from one decode of a growing file to the next",
  { skip: needsFixtures }, async (t) => {
    const c = load("decode.json").find((x) => x.name === "tiny-sq");
    if (!c) return t.skip("no tiny-sq file in the fixtures");
    const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
    const model = await openModel(folderOf(c.model), { ort });
    const fresh = [];
    await decodeLayers(model, data, { onLayer: (k, image) => fresh.push(image) });
    const state = new DecodeState();
    const delivered = [];
    const record = (k, image) => {
      delivered.push(k);
      assert.deepEqual(image.rgba, fresh[k - 1].rgba);
    };
    // the file as it arrives: 2 layers, then 4, then all; each pass decodes only the new layers
    const at = (layers) => data.slice(0, fresh[layers - 1].bytes);
    await decodeLayers(model, at(2), { layers: 2, onLayer: record, state });
    assert.equal(state.layers, 2);
    let symbols = 0;
    await decodeLayers(model, at(4), { layers: 4, onLayer: record, state,
      onSymbols: () => { symbols++; } });
    assert.ok(symbols > 0);
    await decodeLayers(model, data, { onLayer: record, state });
    assert.deepEqual(delivered, [1, 2, 3, 4, 5]);
    // nothing new: the last layer asked for is shown again, from the kept latents
    symbols = 0;
    const again = await decodeLayers(model, data, { layers: 3, onLayer: record, state,
      onSymbols: () => { symbols++; } });
    assert.equal(again.layer, 3);
    assert.equal(symbols, 0);
    assert.deepEqual(delivered, [1, 2, 3, 4, 5, 3]);
    // other bytes (a file cut to 2 layers has another header) are decoded from the start
    const other = load("decode.json").find((x) => x.name === "tiny-sq-layers2");
    const cut = new Uint8Array(readFileSync(join(dir, "decode", other.file)));
    delivered.length = 0;
    await decodeLayers(model, cut, { onLayer: record, state });
    assert.deepEqual(delivered, [1, 2]);
  });

test("a decode state carries a version-5 file's latents; each layer shows its corrections",
  { skip: needsFixtures }, async (t) => {
    const c = load("decode.json").find((x) => x.name === "v5");
    if (!c) return t.skip("no v5 file in the fixtures");
    const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
    const model = await openModel(folderOf(c.model), { ort });
    const state = new DecodeState();
    const shown = [];
    const record = (k, image) => {
      shown.push(k);
      const rgb = readFileSync(join(dir, "decode", c.layers[k - 1].pixels));
      assert.deepEqual(image.rgba, toRgba(rgb), `layer ${k}`);
    };
    await decodeLayers(model, data, { layers: 2, onLayer: record, state });
    await decodeLayers(model, data, { onLayer: record, state });
    // the latents of layer 3 are kept: only its synthesis, snapping and corrections run
    let symbols = 0;
    await decodeLayers(model, data, { layers: 3, onLayer: record, state,
      onSymbols: () => { symbols++; } });
    assert.equal(symbols, 0);
    assert.deepEqual(shown, [1, 2, 3, 4, 3]);
  });

test("a decode state carries a version-6 file's latents and images; each residual layer " +
  "starts from the image below it", { skip: needsFixtures }, async (t) => {
  const c = load("decode.json").find((x) => x.name === "v6-steps-255-16-2");
  if (!c) return t.skip("no v6-steps-255-16-2 file in the fixtures");
  const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
  assert.equal(c.learned, 1);
  const model = await openModel(folderOf(c.model), { ort });
  const state = new DecodeState();
  const shown = [];
  const record = (k, image) => {
    shown.push(k);
    const rgb = readFileSync(join(dir, "decode", c.layers[k - 1].pixels));
    assert.deepEqual(image.rgba, toRgba(rgb), `layer ${k}`);
    image.rgba.fill(0); // the caller's to keep, change or transfer: the state has its own
  };
  let symbols = 0;
  const onSymbols = () => { symbols++; };
  // the file as it arrives: 2 layers, then all of them
  await decodeLayers(model, data.slice(0, parseContainer(data).byteRanges[1][1]),
    { layers: 2, onLayer: record, state, onSymbols });
  assert.equal(state.layers, 2);
  assert.ok(symbols > 0); // layer 1's latent
  symbols = 0;
  await decodeLayers(model, data, { onLayer: record, state, onSymbols });
  assert.equal(symbols, 0); // residual layers have no latent
  assert.equal(state.layers, 4);
  // shown again from the kept images: a residual layer, and the learned one below them
  await decodeLayers(model, data, { layers: 3, onLayer: record, state, onSymbols });
  await decodeLayers(model, data, { layers: 1, onLayer: record, state, onSymbols });
  assert.equal(symbols, 0);
  assert.deepEqual(shown, [1, 2, 3, 4, 3, 1]);
});

test("a model file that does not match model.json is refused", { skip: needsFixtures },
  async (t) => {
    const c = load("decode.json").find((x) => x.name === "rpn-quality-cond");
    if (!c) return t.skip("no rpn-quality-cond file in the fixtures");
    const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
    const read = folderOf(c.model);
    const altered = async (path) => {
      const bytes = await read(path);
      if (path === "level0.bin") bytes[100] ^= 1;
      return bytes;
    };
    const model = await openModel(altered, { ort });
    await assert.rejects(decodeLayers(model, data, { layers: 1 }), (exc) => exc instanceof
      ModelError && exc.message === "level0.bin of model rpn-quality-cond does not match its " +
      "model.json (altered or incomplete export)");
    const other = await openModel(folderOf(load("decode.json").find((x) =>
      x.name === "rpn-spatial-cond").model), { ort });
    await assert.rejects(decodeLayers(other, data), (exc) => exc instanceof ModelError &&
      exc.message.startsWith(`file was encoded with ${readHeader(data).model} weights`));
  });
