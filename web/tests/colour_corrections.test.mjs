// Colour corrections (format version 5): a tile corrected by its correction string gives
// exactly the pixels of Python's `rpncodec.colour_corrections.correct` (ranks, escapes, every
// context, empty strings), a damaged string is refused with Python's message, and a tile
// inside an image is corrected from its own pixels alone.
import assert from "node:assert/strict";
import { test } from "node:test";

import { contexts, correct, correctTile, neighbourColours, splitCorrection }
  from "../dist/rpncodec.mjs";
import { attempt, bytes, checkTileInPlace, load, needsFixtures } from "./fixtures.mjs";

test("contexts count the neighbours inside the tile that show another colour", () => {
  // 3x4 of palette colour 0 (listed twice), colour 1 at (1, 1), a colour off the palette at
  // (2, 2)
  const palette = Uint8Array.of(10, 10, 10, 200, 0, 0, 10, 10, 10);
  const colours = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1, 0];
  const shown = Uint8Array.from(colours.flatMap((c) => c < 0 ? [1, 2, 3]
    : Array.from(palette.subarray(3 * c, 3 * c + 3))));
  const { context, index } = contexts(shown, 3, 4, palette);
  assert.deepEqual(Array.from(index), colours); // the lowest index of an equal colour
  // 3 x (in the palette) + 0, 1 or 2 for 0, 1-3 or 4-8 neighbours of another colour
  assert.deepEqual(Array.from(context), [4, 4, 4, 3, 4, 5, 4, 4, 4, 4, 2, 4]);
  assert.deepEqual(neighbourColours(index, 3, 4, 1, 2), [1]); // not its own
  assert.deepEqual(neighbourColours(index, 3, 4, 2, 2), [1, 0]); // in NEIGHBOURS order, once
  assert.deepEqual(neighbourColours(index, 3, 4, 1, 1), [0]);
});

test("a corrected tile string splits at its learned part's length", () => {
  const [learned, correction] = splitCorrection(Uint8Array.of(0, 0, 0, 2, 7, 8, 9));
  assert.deepEqual([Array.from(learned), Array.from(correction)], [[7, 8], [9]]);
  assert.equal(splitCorrection(Uint8Array.of(0, 0, 0, 0))[1].length, 0);
  for (const bad of [Uint8Array.of(0, 0, 0, 4, 1, 2, 3), Uint8Array.of(0, 0, 0)]) {
    assert.throws(() => splitCorrection(bad), { name: "BitstreamError", message:
      "damaged layer payload (a corrected tile string's learned part does not fit it)" });
  }
});

test("tiles are corrected to Python's pixels", { skip: needsFixtures }, () => {
  const cases = load("corrections.json");
  assert.ok(cases.length > 40);
  // the fixture names pixels by rank and by escape, and refuses damaged strings
  const named = cases.reduce((a, c) => [a[0] + (c.ranks ?? 0), a[1] + (c.escapes ?? 0)], [0, 0]);
  assert.ok(named[0] > 100 && named[1] > 100, `named by rank, escape: ${named}`);
  assert.ok(cases.filter((c) => c.error !== undefined).length >= 10);
  let changed = 0;
  for (const c of cases) {
    const pixels = bytes(c.pixels);
    const got = attempt(() => correct(pixels, c.height, c.width, bytes(c.palette),
      bytes(c.string)));
    if (c.error !== undefined) {
      assert.equal(got.error, c.error, c.name);
      assert.equal(got.type, "BitstreamError", c.name);
      continue;
    }
    assert.equal(got.error, undefined, `${c.name}: ${got.error}`);
    assert.deepEqual(got.value, bytes(c.corrected), c.name);
    changed += got.value.some((v, i) => v !== pixels[i]);
  }
  assert.ok(changed >= 20, `${changed} of ${cases.length} cases change pixels`);
  console.log(`# ${changed} of ${cases.length} strings change pixels; named by rank, ` +
    `escape: ${named}`);
});

test("a tile inside an image is corrected from its own pixels alone", { skip: needsFixtures },
  () => {
    const c = load("corrections.json").find((x) => x.name === "chosen, 5 colours, 33x47");
    const geometry = [c.height, c.width, 60, 40, 3, 9]; // h, w, width, height, y0, x0
    checkTileInPlace(bytes(c.pixels), bytes(c.corrected), geometry, (rgba) =>
      correctTile(rgba, 60, 3, 9, c.height, c.width, bytes(c.palette), bytes(c.string)));
  });
