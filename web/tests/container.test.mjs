// The container: cut, damaged and hostile files parse (or fail) as in Python, version-4
// headers (exact colours), version-5 headers (colour corrections) and version-6 headers (a
// tools byte, residual steps) included.
import assert from "node:assert/strict";
import { test } from "node:test";

import { crc32, defaultShifts, layerSize, parseContainer, partialNote, prefixSize, selectLayers, splitTiles,
  tileGrid } from "../dist/rpncodec.mjs";
import { attempt, bytes, load, needsFixtures } from "./fixtures.mjs";

test("crc32 is zlib's", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test("the tile grid is row-major with the remainder last", () => {
  assert.deepEqual(tileGrid(100, 130, 64),
    [[0, 0, 64, 64], [0, 64, 64, 64], [0, 128, 64, 2], [64, 0, 36, 64], [64, 64, 36, 64],
      [64, 128, 36, 2]]);
  assert.deepEqual(splitTiles(Uint8Array.of(0, 0, 0, 1, 5, 6, 7), 2).map((s) => Array.from(s)),
    [[5], [6, 7]]);
});

test("a spatial layer is the image halved, rounding up", () => {
  const header = { mode: "spatial", layers: 3, height: 101, width: 69, shifts: [2, 1, 0] };
  assert.deepEqual([1, 2, 3].map((k) => layerSize(header, k)), [[18, 26], [35, 51], [69, 101]]);
  assert.deepEqual(defaultShifts("spatial", 2, 3), [2, 1]);
  assert.deepEqual(defaultShifts("spatial-quality", 5), [2, 1, 0, 0, 0]);
  assert.deepEqual(defaultShifts("quality", 4), [0, 0, 0, 0]);
});

test("every mutated file parses and selects as in Python", { skip: needsFixtures }, () => {
  const cases = load("container.json");
  assert.ok(cases.length > 30);
  assert.ok(cases.filter((c) => c.header?.version === 4).length >= 4);
  assert.ok(cases.filter((c) => c.header?.version === 5).length >= 3);
  // version 6: valid headers of each kind, and refusals of its tools byte and steps
  assert.ok(cases.filter((c) => c.header?.version === 6).length >= 8);
  assert.ok(cases.filter((c) => c.header?.version === 6 && c.header.tools === 4).length >= 2);
  for (const why of ["tools byte", "residual steps", "size of the layer below",
    "learned layers only", "version 6 without"]) {
    assert.ok(cases.some((c) => c.error?.includes(why)), why);
  }
  for (const c of cases) {
    const parsed = attempt(() => parseContainer(bytes(c.data)));
    if (c.error !== undefined) {
      assert.equal(parsed.error, c.error, c.name);
      assert.equal(parsed.type, c.type, c.name);
      continue;
    }
    assert.equal(parsed.error, undefined, `${c.name}: ${parsed.error}`);
    const got = parsed.value;
    const h = got.header;
    assert.deepEqual({ mode: h.mode, model: h.model, digest: Buffer.from(h.digest).toString("hex"),
      height: h.height, width: h.width, tile: h.tile, layers: h.layers, version: h.version,
      shifts: h.version >= 3 ? h.shifts : c.header.shifts,
      palette: Buffer.from(h.palette).toString("hex"), radii: h.radii, corrected: h.corrected,
      steps: h.steps, tools: h.tools },
    c.header, c.name);
    if (h.version < 3) { // a version-2 file: the mode's shifts for as many levels as declared
      assert.deepEqual(h.shifts, defaultShifts(h.mode, h.layers), c.name);
    }
    const tiles = tileGrid(h.height, h.width, h.tile).length;
    assert.deepEqual({ available: got.available, damaged: got.damaged, damage: got.damage,
      truncated: got.truncated, byteRanges: got.byteRanges, trailing: got.trailing,
      tileSizes: got.chunks.map((p) => splitTiles(p, tiles).map((s) => s.length)) },
    c.container, c.name);
    assert.equal(partialNote(got, Math.min(got.available, h.layers)), c.note, c.name);
    assert.deepEqual(c.prefix.map((_, k) => prefixSize(got, k + 1)), c.prefix, c.name);
    for (const [layers, want] of Object.entries(c.select)) {
      const sel = attempt(() => selectLayers(got, layers === "None" ? null : Number(layers)));
      if (want.error !== undefined) {
        assert.equal(sel.error, want.error, `${c.name}, layers ${layers}`);
        assert.equal(sel.type, want.type, `${c.name}, layers ${layers}`);
      } else {
        assert.equal(sel.value?.length, want.chunks, `${c.name}, layers ${layers}: ${sel.error}`);
      }
    }
  }
});
