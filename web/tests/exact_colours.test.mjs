// Exact colours (format version 4): a tile snapped to the palette gives exactly the pixels of
// Python's `rpncodec.exact_colours.snap`, ties included, and a tile inside an image is snapped
// from its own pixels alone.
import assert from "node:assert/strict";
import { test } from "node:test";

import { snap, snapTile } from "../dist/rpncodec.mjs";
import { bytes, checkTileInPlace, load, needsFixtures } from "./fixtures.mjs";

test("pass 1 takes the lower index on a tie, pass 2 the first nearest neighbour", () => {
  const palette = Uint8Array.of(100, 100, 100, 140, 100, 100);
  // the middle pixel is 20 from both colours (largest channel difference): colour 0 wins
  assert.deepEqual(Array.from(snap(Uint8Array.of(120, 100, 100), 1, 1, palette, 20, 0)),
    [100, 100, 100]);
  assert.deepEqual(Array.from(snap(Uint8Array.of(120, 100, 100), 1, 1, palette, 19, 0)),
    [120, 100, 100]);
  // a row: colour 1, the pixel between (not snapped at r1 = 10), colour 0; both neighbours
  // are 400 away in squared distance, and the one scanned first (dx = -1) wins
  const row = Uint8Array.of(140, 100, 100, 120, 100, 100, 100, 100, 100);
  assert.deepEqual(Array.from(snap(row, 1, 3, palette, 10, 20)),
    [140, 100, 100, 140, 100, 100, 100, 100, 100]);
  assert.deepEqual(Array.from(snap(row, 3, 1, palette, 10, 20)),
    [140, 100, 100, 140, 100, 100, 100, 100, 100]);
  // radius 19 does not reach a squared distance of 400; 20 does (20 * 20 >= 400)
  assert.deepEqual(Array.from(snap(row, 1, 3, palette, 10, 19)),
    [140, 100, 100, 120, 100, 100, 100, 100, 100]);
  // r1 = 0: nothing at all, whatever r2
  assert.equal(snap(row, 1, 3, palette, 0, 255), row);
});

test("tiles snap to Python's pixels", { skip: needsFixtures }, () => {
  const cases = load("snap.json");
  assert.ok(cases.length > 40);
  // the fixture decides ties in both passes, where another rule would give other pixels
  assert.ok(cases.some((c) => c.ties[0] > 0) && cases.some((c) => c.ties[1] > 0));
  let changed = 0;
  for (const c of cases) {
    const pixels = bytes(c.pixels);
    const got = snap(pixels, c.height, c.width, bytes(c.palette), c.r1, c.r2);
    assert.deepEqual(got, bytes(c.snapped), c.name);
    changed += got.some((v, i) => v !== pixels[i]);
  }
  assert.ok(changed > cases.length / 2, `${changed} of ${cases.length} cases change pixels`);
});

test("a tile inside an image is snapped from its own pixels alone", { skip: needsFixtures },
  () => {
    const c = load("snap.json").find((x) => x.name.startsWith("near 23x31, r1 8, r2 30"));
    const geometry = [c.height, c.width, 40, 30, 5, 6]; // h, w, width, height, y0, x0
    checkTileInPlace(bytes(c.pixels), bytes(c.snapped), geometry, (rgba) =>
      snapTile(rgba, 40, 5, 6, c.height, c.width, bytes(c.palette), c.r1, c.r2));
  });
