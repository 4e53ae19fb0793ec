// The table-index rule, its exact scales and the index check, against Python.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BitstreamError, SCALES, SCALES_HEX, buildTables, decodeByScale, hexToFloat64,
  scaleIndex, splitParts } from "../dist/rpncodec.mjs";
import { attempt, bytes, int32, load, needsFixtures } from "./fixtures.mjs";

test("hexadecimal floats are read exactly", () => {
  assert.equal(hexToFloat64("0x1.0000000000000p+0"), 1);
  assert.equal(hexToFloat64("0x1.8p-1"), 0.75);
  assert.equal(hexToFloat64("0x1.fffffffffffffp+1023"), Number.MAX_VALUE);
  assert.equal(SCALES.length, 64);
  for (let i = 1; i < 64; i++) assert.ok(SCALES[i] > SCALES[i - 1]);
  assert.throws(() => { SCALES[0] = 1; }, TypeError); // frozen: no state shared between callers
});

test("the index is the number of scales below sigma, at most 63", () => {
  assert.equal(scaleIndex(NaN), 0);
  assert.equal(scaleIndex(-1), 0);
  assert.equal(scaleIndex(SCALES[0]), 0);
  assert.equal(scaleIndex(SCALES[10]), 10);
  assert.equal(scaleIndex(SCALES[10] * (1 + 2 ** -52)), 11);
  assert.equal(scaleIndex(Infinity), 63);
});

test("two-part payloads", () => {
  const [a, b] = splitParts(Uint8Array.of(0, 0, 0, 2, 7, 8, 9), "side information");
  assert.deepEqual([Array.from(a), Array.from(b)], [[7, 8], [9]]);
  assert.throws(() => splitParts(Uint8Array.of(0, 0, 0, 9, 1), "side information"),
    { message: "damaged layer payload (side information length)" });
});

test("the scales and indices are Python's, bit for bit", { skip: needsFixtures }, () => {
  const f = load("scales.json");
  assert.deepEqual(Array.from(SCALES), f.scales);
  assert.deepEqual([...SCALES_HEX], f.scales_hex);
  // repr() of a float64 reads back exactly; Python spells the infinities and NaN its way
  const special = { inf: Infinity, "-inf": -Infinity, nan: NaN };
  const sigmas = f.sigmas.map((s) => special[s] ?? Number(s));
  assert.deepEqual(sigmas.map(scaleIndex), f.indices);
});

test("payloads coded by scale decode to Python's symbols, and the index check refuses " +
  "other tables", { skip: needsFixtures }, () => {
  const f = load("scales.json");
  const tables = buildTables(f.tables.offsets, f.tables.freqs, f.tables.length);
  let refused = 0;
  for (const p of f.payloads) {
    const got = attempt(() => decodeByScale(bytes(p.data), Float64Array.from(p.scales), tables));
    if (p.error !== undefined) {
      assert.equal(got.error, p.error, p.name);
      assert.ok(got.exc instanceof BitstreamError, p.name);
      refused += /indices differ/.test(p.error);
    } else {
      assert.equal(got.error, undefined, `${p.name}: ${got.error}`);
      assert.deepEqual(got.value, int32(p.symbols), p.name);
    }
  }
  assert.equal(refused, 3);
});

test("the golden files' strings coded by scale decode with the scales Python computed, and " +
  "the index check refuses a moved scale", { skip: needsFixtures }, () => {
  const f = load("golden_by_scale.json");
  const tables = f.tables.map((t) => buildTables(t.offsets, t.freqs, t.length));
  let decoded = 0;
  let refused = 0;
  for (const c of f.cases) {
    const got = attempt(() => decodeByScale(bytes(c.data), Float64Array.from(c.scales),
      tables[c.table]));
    if (c.error !== undefined) {
      assert.equal(got.error, c.error, c.name);
      refused += /indices differ/.test(c.error);
    } else {
      assert.equal(got.error, undefined, `${c.name}: ${got.error}`);
      assert.deepEqual(got.value, int32(c.symbols), c.name);
      decoded++;
    }
  }
  assert.ok(decoded >= 8 && refused === decoded, `${decoded} decoded, ${refused} refused`);
});
