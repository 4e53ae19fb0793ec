// Residual layers (format version 6): a residual string decodes to exactly the contexts,
// residuals and pixels of Python's `rpncodec.residual_layers.decode` (every step, tile shapes,
// extreme and clipped residuals, escapes), the same residuals over previous pixels one level
// off, a damaged string is refused with Python's message, the tables are Python's integer
// tables, and a tile inside an image is refined from its own pixels alone.
import assert from "node:assert/strict";
import { test } from "node:test";

import { decodeResidual, greenParts, largestResidual, partContexts, residualTable,
  residualTile, residualValues, splitResidual } from "../dist/rpncodec.mjs";
import { attempt, bytes, checkTileInPlace, int32, load, needsFixtures } from "./fixtures.mjs";

/** The green and the red-minus-green symbols of an RGB `q`. */
function planes(q) {
  const n = q.length / 3;
  const green = Int32Array.from({ length: n }, (_, p) => q[3 * p + 1]);
  const red = Int32Array.from({ length: n }, (_, p) => q[3 * p] - q[3 * p + 1]);
  return { green, red };
}

test("a table is built from its three bytes in integer arithmetic", () => {
  // reach 1, no tail: +-1 weigh 4096 each, 0 weighs nothing (z = 0); 65532 shared out of 8192
  assert.deepEqual(residualTable(0, 0, 0, 1), [32767, 1, 32767, 1]);
  // the largest table: 1022 entries, weights near 2^46 whose products pass 2^53
  const big = residualTable(255, 255, 255, 510);
  assert.equal(big.length, 2 * 510 + 2);
  assert.equal(big.reduce((a, b) => a + b, 0), 2 ** 16);
  assert.ok(big.every((f) => f >= 1 && Number.isInteger(f)));
  assert.deepEqual(big.slice(0, 510), big.slice(511, 1021).reverse()); // symmetric about 0
  assert.equal(big.at(-1), 1); // the escape entry
});

test("the largest residual of a step; the green parts of a tile", () => {
  assert.deepEqual([1, 2, 3, 200, 254, 255].map(largestResidual), [255, 128, 85, 1, 1, 1]);
  // a 5x6 tile, each pixel's part: the lattice every 4, centres and sides at 2, then at 1
  const want = [
    0, 4, 2, 4, 0, 4,
    4, 3, 4, 3, 4, 3,
    2, 4, 1, 4, 2, 4,
    4, 3, 4, 3, 4, 3,
    0, 4, 2, 4, 0, 4,
  ];
  const parts = greenParts(5, 6);
  assert.equal(parts.length, 5);
  const got = new Array(30).fill(-1);
  parts.forEach(({ positions }, part) => {
    assert.deepEqual(Array.from(positions), [...positions].sort((a, b) => a - b)); // row-major
    for (const p of positions) got[p] = part;
  });
  assert.deepEqual(got, want);
  assert.deepEqual(parts.map((p) => p.distance), [0, 2, 2, 1, 1]);
  // a 1x1 tile has the lattice pixel alone
  assert.deepEqual(greenParts(1, 1).map((p) => p.positions.length), [1, 0, 0, 0, 0]);
});

test("a symbol's context counts the symbols not 0 decoded before it nearby", () => {
  // a 5x5 tile whose green symbols are -3 at (0, 0) and 1 at (2, 2), red - green 4 at (4, 4)
  const green = new Int32Array(25), red = new Int32Array(25);
  green[0] = -3;
  green[12] = 1;
  red[24] = 4;
  const ctx = (part) => Array.from(partContexts(part, 5, 5, green, red));
  assert.deepEqual(ctx(0), [0, 0, 0, 0]);
  assert.deepEqual(ctx(1), [1 + 1]); // (2, 2): (0, 0) among its diagonal neighbours at 2
  // (0, 2), (2, 0), (2, 4), (4, 2): above, left, right, below at 2, outside counting 0
  assert.deepEqual(ctx(2), [6 + 2, 6 + 2, 6 + 1, 6 + 1]);
  // (1, 1), (1, 3), (3, 1), (3, 3): diagonal neighbours at 1
  assert.deepEqual(ctx(3), [11 + 2, 11 + 1, 11 + 1, 11 + 1]);
  // (0, 1) sees (0, 0); (1, 2) sees (2, 2); (4, 3) sees neither
  const sides = greenParts(5, 5)[4].positions;
  const side = (y, x) => ctx(4)[sides.indexOf(5 * y + x)];
  assert.deepEqual([side(0, 1), side(1, 2), side(4, 3)], [16 + 1, 16 + 1, 16]);
  // parts 5 and 6: 3 x (0, 1-2, 3-5 or 6-9 symbols not 0 in the 3x3 square) + min(|G|, 2),
  // then twice that plus 1 where red is not 0
  const five = ctx(5), six = ctx(6);
  assert.deepEqual([five[0], five[6], five[12], five[24]], [3 + 2, 3, 3 + 1, 0]);
  assert.deepEqual([six[0], six[6], six[24]], [2 * 5, 2 * 3, 1]);
  // contexts at given positions, and in a full 3x3 square
  assert.deepEqual(Array.from(partContexts(3, 5, 5, green, red, Int32Array.of(6, 18))),
    [13, 12]);
  assert.deepEqual(Array.from(partContexts(5, 3, 3, new Int32Array(9).fill(7))).slice(4, 5),
    [3 * 3 + 2]);
  assert.throws(() => partContexts(7, 5, 5, green, red), RangeError);
  assert.throws(() => partContexts(6, 5, 5, green), RangeError);
});

test("a residual string splits at its six part lengths", () => {
  const head = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
  const string = Uint8Array.of(...head, 7, 8, 9, 10, 11, 12);
  assert.deepEqual(splitResidual(string).map((p) => Array.from(p)),
    [[7], [], [8, 9], [], [10], [], [11, 12]]);
  assert.deepEqual(splitResidual(new Uint8Array(24)).map((p) => p.length), [0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => splitResidual(string.subarray(0, 23)), { name: "BitstreamError",
    message: "damaged layer payload (a residual string is too short)" });
  const beyond = string.slice();
  beyond[23] = 3; // 1 + 2 + 1 + 3 bytes of 6
  assert.throws(() => splitResidual(beyond), { name: "BitstreamError",
    message: "damaged layer payload (a residual string's parts do not fit)" });
  beyond[23] = 2; // exactly the bytes there: part 6 empty
  assert.deepEqual(splitResidual(beyond).map((p) => p.length), [1, 0, 2, 0, 1, 2, 0]);
  const huge = string.slice();
  huge.fill(255, 0, 24); // six lengths of 2^32 - 1: their sum passes 2^32
  assert.throws(() => splitResidual(huge), { message: /parts do not fit/ });
});

test("tables are Python's", { skip: needsFixtures }, () => {
  const { tables, largest: want } = load("residual.json");
  assert.ok(tables.length > 40);
  for (const { params, freqs } of tables) {
    assert.deepEqual(residualTable(...params), freqs, `table ${params}`);
  }
  assert.deepEqual(Array.from({ length: 255 }, (_, s) => largestResidual(s + 1)), want);
});

test("residual strings decode to Python's contexts, residuals and pixels",
  { skip: needsFixtures }, () => {
    const { cases } = load("residual.json");
    assert.ok(cases.length > 140);
    assert.ok(cases.filter((c) => c.error !== undefined).length >= 20);
    // every step of the fixture's files and generated tiles, 1 (lossless) to 255
    const steps = new Set(cases.filter((c) => c.shown).map((c) => c.step));
    for (const step of [1, 2, 3, 7, 16, 255]) assert.ok(steps.has(step), `step ${step}`);
    let changed = 0, clipped = 0;
    for (const c of cases) {
      const previous = bytes(c.previous);
      const got = attempt(() => decodeResidual(previous, c.height, c.width, c.step,
        bytes(c.string)));
      if (c.error !== undefined) {
        assert.equal(got.error, c.error, c.name);
        assert.equal(got.type, "BitstreamError", c.name);
        continue;
      }
      assert.equal(got.error, undefined, `${c.name}: ${got.error}`);
      const q = residualValues(c.height, c.width, c.step, bytes(c.string));
      assert.deepEqual(q, int32(c.q), c.name);
      assert.deepEqual(got.value, bytes(c.shown), c.name);
      // each part's contexts from Python's q, in the part's order
      const { green, red } = planes(q);
      assert.equal(c.contexts.length, 7, c.name);
      c.contexts.forEach((want, part) => {
        assert.deepEqual(partContexts(part, c.height, c.width, green, red), bytes(want),
          `${c.name}, part ${part}`);
      });
      changed += got.value.some((v, i) => v !== previous[i]);
      clipped += q.some((v, i) => previous[i] + c.step * v > 255 || previous[i] + c.step * v < 0);
    }
    assert.ok(changed >= 90, `${changed} of ${cases.length} strings change pixels`);
    assert.ok(clipped >= 3, `${clipped} strings clip`);
    console.log(`# ${changed} of ${cases.length} strings change pixels, ${clipped} clip`);
  });

test("previous pixels one level off give the same residuals, and pixels off exactly there",
  { skip: needsFixtures }, () => {
    const { cases } = load("residual.json");
    const off = cases.filter((c) => c.same_as !== undefined);
    assert.ok(off.length >= 6, `${off.length} cases`);
    assert.ok(off.some((c) => c.name.startsWith("v6"))); // a file's string over its base
    for (const c of off) {
      const base = cases.find((x) => x.name === c.same_as);
      const [before, after] = [base, c].map((x) => bytes(x.previous));
      const moved = before.reduce((n, v, i) => n + (v !== after[i]), 0);
      assert.ok(moved > 0 && before.every((v, i) => Math.abs(v - after[i]) <= 1), c.name);
      const string = bytes(c.string);
      const shown = [before, after].map((p) => decodeResidual(p, c.height, c.width, c.step,
        string));
      for (let i = 0; i < before.length; i++) {
        assert.equal(shown[1][i] - shown[0][i], after[i] - before[i], `${c.name}, value ${i}`);
      }
      assert.deepEqual(shown[1], bytes(c.shown), c.name); // and Python's pixels there
    }
  });

test("white to black decodes: a green part of tables alone holds their first entries",
  { skip: needsFixtures }, () => {
    const { cases } = load("residual.json");
    const white = cases.filter((c) => c.name.startsWith("white to black"));
    assert.equal(white.length, 3);
    for (const c of white) {
      // every green symbol is -M, its tables' first entry, which ANS codes in no words
      const parts = splitResidual(bytes(c.string));
      const q = residualValues(c.height, c.width, c.step, bytes(c.string));
      const { green, red } = planes(q);
      for (let part = 0; part < 5; part++) {
        const present = new Set(partContexts(part, c.height, c.width, green, red)).size;
        assert.equal(parts[part].length, 3 * present, `${c.name}, part ${part}`);
      }
      assert.ok(q.every((v) => v === -largestResidual(c.step)), c.name);
      const shown = decodeResidual(bytes(c.previous), c.height, c.width, c.step,
        bytes(c.string));
      assert.ok(shown.every((v) => v === 0), c.name);
    }
    // whatever the tables' bytes: green -M everywhere under tables of 0xff alone
    const c = cases.find((x) => x.name === "crafted: green parts of tables alone, not fitted");
    const parts = splitResidual(bytes(c.string));
    assert.ok(parts.slice(0, 5).every((p) => p.length > 0 && p.every((v) => v === 255)));
    const q = residualValues(c.height, c.width, c.step, bytes(c.string));
    assert.ok(planes(q).green.every((v) => v === -largestResidual(c.step)));
  });

test("a tile inside an image is refined from its own pixels alone", { skip: needsFixtures },
  () => {
    const c = load("residual.json").cases.find((x) => x.name === "encoded, 33x47, step 3");
    const geometry = [c.height, c.width, 60, 40, 3, 9]; // h, w, width, height, y0, x0
    checkTileInPlace(bytes(c.previous), bytes(c.shown), geometry, (rgba) =>
      residualTile(rgba, 60, 3, 9, c.height, c.width, c.step, bytes(c.string)));
  });
