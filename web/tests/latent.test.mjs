// Whole files: the factorized latents of every golden file (and a tiny model's) decode to
// Python's symbols, those of a version-5 or 6 file's learned layers too (their learned parts
// alone), and damaged strings fail with the command line's messages.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { BitstreamError, ModelError, decodeSymbols, levelSizes, modelFromJson }
  from "../dist/rpncodec.mjs";
import { attempt, bytes, dir, int32, load, needsFixtures } from "./fixtures.mjs";

function models() {
  const cache = new Map();
  return (file) => {
    if (!cache.has(file)) cache.set(file, modelFromJson(load(join("files", file))));
    return cache.get(file);
  };
}

test("latent sizes follow the padding rule and layer shifts of each mode", () => {
  const quality = { mode: "quality", widths: [8, 8, 8, 8] };
  assert.deepEqual(levelSizes(quality, 40, 72), Array(4).fill([3, 5]));
  const spatial = { mode: "spatial", widths: [8, 8, 8] };
  assert.deepEqual(levelSizes(spatial, 69, 101), [[2, 2], [4, 4], [8, 8]]);
  const sq = { mode: "spatial-quality", widths: [8, 8, 8, 8, 8] };
  assert.deepEqual(levelSizes(sq, 69, 101), [[2, 2], [4, 4], [8, 8], [8, 8], [8, 8]]);
  // a description's own shifts decide, whatever the mode
  assert.deepEqual(levelSizes({ ...quality, shifts: [1, 0, 0, 0] }, 40, 72),
    [[2, 3], [4, 6], [4, 6], [4, 6]]);
});

test("the factorized symbols of every file are Python's", { skip: needsFixtures }, () => {
  const model = models();
  const names = readdirSync(join(dir, "files")).filter((f) => f.endsWith(".expected.json"));
  assert.ok(names.length >= 10);
  let compared = 0;
  for (const name of names) {
    const want = load(join("files", name));
    const data = new Uint8Array(readFileSync(join(dir, "files",
      name.replace(".expected.json", ".rpn"))));
    const got = decodeSymbols(data, model(want.model_json));
    assert.equal(got.layers, want.layers, name);
    assert.equal(got.tiles.length, want.tiles.length, name);
    want.tiles.forEach((levels, i) => levels.forEach((level, k) => {
      for (const part of ["latent", "side"]) {
        const expected = level[part] === null ? null : int32(level[part]);
        assert.deepEqual(got.symbols[i][k][part], expected, `${name} tile ${i} level ${k} ${part}`);
        compared += expected !== null;
      }
    }));
  }
  assert.ok(compared >= 20, `only ${compared} parts compared`);
});

test("a version-5 or 6 file's symbols are those of its learned layers' learned parts",
  { skip: needsFixtures }, () => {
    const model = models();
    const names = ["v5", "v6-steps-3-1", "v6-tiled", "v6-plain"];
    const cases = load("decode.json").filter((c) => names.includes(c.name));
    assert.equal(cases.length, names.length);
    let compared = 0;
    for (const c of cases) {
      const data = new Uint8Array(readFileSync(join(dir, "decode", c.file)));
      const json = c.name === "v6-plain" ? load(join("files", "img.expected.json")).model_json
        : "rpn-quality-screen.model.json";
      const got = decodeSymbols(data, model(json));
      assert.equal(got.layers, c.layers.length, c.name);
      got.symbols.forEach((levels, i) => {
        // the residual layers hold no latent
        assert.equal(levels.length, c.symbols[i].length, `${c.name} tile ${i}`);
        levels.forEach((level, k) => {
          for (const part of ["latent", "side"]) {
            if (level[part] === null) continue; // coded by scale: needs the networks
            assert.deepEqual(level[part], int32(c.symbols[i][k][part]),
              `${c.name} tile ${i} level ${k} ${part}`);
            compared++;
          }
        });
      });
    }
    assert.ok(compared >= 10, `only ${compared} parts compared`);
  });

test("a damaged string names its layer and tile as the command line does", { skip: needsFixtures },
  () => {
    const model = models();
    const cases = load("decode_errors.json");
    let matched = 0;
    for (const c of cases) {
      const got = attempt(() => decodeSymbols(bytes(c.data), model(c.model_json), c.layers));
      const m = model(c.model_json);
      const codec = m.levels[c.layers - 1].codec;
      if (codec === "factorized" || (codec.startsWith("hyperprior") && /side/.test(c.error))) {
        assert.equal(got.error, c.error, c.name);
        assert.ok(got.exc instanceof BitstreamError, c.name);
        assert.equal(got.exc.layer, c.layers, c.name);
        matched++;
      }
    }
    assert.ok(matched >= 20, `only ${matched} cases compared`);
  });

test("a file for other weights is refused", { skip: needsFixtures }, () => {
  const model = models()("rpn-quality-cpu.model.json");
  const data = new Uint8Array(readFileSync(join(dir, "files", "rpn-spatial-cpu.rpn")));
  assert.throws(() => decodeSymbols(data, model), (e) => e instanceof ModelError &&
    /^file was encoded with rpn-spatial-cpu weights [0-9a-f]{16}, but rpn-quality-cpu has/
      .test(e.message));
});

test("the library runs in a worker thread", { skip: needsFixtures }, async () => {
  const { Worker } = await import("node:worker_threads");
  const bundle = new URL("../dist/rpncodec.mjs", import.meta.url).href;
  const file = join(dir, "files", "rpn-quality-cpu.rpn");
  const modelFile = join(dir, "files", "rpn-quality-cpu.model.json");
  // the worker gets bytes and JSON, as a page's worker would from postMessage
  const worker = new Worker(`
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.bundle).then((lib) => {
      const model = lib.modelFromJson(workerData.model);
      const { symbols } = lib.decodeSymbols(workerData.data, model);
      parentPort.postMessage(symbols[0].map((level) => level.latent));
    });`, { eval: true, workerData: { bundle, data: new Uint8Array(readFileSync(file)),
    model: JSON.parse(readFileSync(modelFile, "utf8")) } });
  const latents = await new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  await worker.terminate();
  const want = load(join("files", "rpn-quality-cpu.expected.json")).tiles[0];
  assert.deepEqual(latents, want.map((level) => int32(level.latent)));
});
