// Fixtures written by tests/test_web.py (Python) into $RPNCODEC_WEB_FIXTURES, and helpers.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const dir = process.env.RPNCODEC_WEB_FIXTURES ?? null;
/** The `skip` option of a test that needs the fixtures. */
export const needsFixtures = dir ? false
  : "RPNCODEC_WEB_FIXTURES is not set (pytest tests/test_web.py writes the fixtures)";

export function load(name) {
  return JSON.parse(readFileSync(join(dir, name), "utf8"));
}

export function bytes(b64) {
  return new Uint8Array(Buffer.from(b64, "base64"));
}

export function int32(b64) {
  const raw = Buffer.from(b64, "base64");
  const out = new Int32Array(raw.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = raw.readInt32LE(4 * i);
  return out;
}

/** Run `fn` and return `{ value }` or `{ error, type }`. */
export function attempt(fn) {
  try {
    return { value: fn() };
  } catch (exc) {
    return { error: exc.message, type: exc.name, exc };
  }
}

/**
 * Place the `h x w` RGB `pixels` at `(y0, x0)` of a `width x height` RGBA image whose other
 * pixels are a pattern (the tiles around it), run `apply(rgba)` on it in place, and check
 * that the tile became `want` (alpha kept) and nothing else changed.
 */
export function checkTileInPlace(pixels, want, [h, w, width, height, y0, x0], apply) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37) % 256; // other tiles around it
  for (let p = 0; p < h * w; p++) {
    const at = ((y0 + Math.floor(p / w)) * width + x0 + (p % w)) * 4;
    rgba.set(pixels.subarray(3 * p, 3 * p + 3), at);
  }
  const before = rgba.slice();
  apply(rgba);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 4;
      const inside = y >= y0 && y < y0 + h && x >= x0 && x < x0 + w;
      const p = ((y - y0) * w + x - x0) * 3;
      const expected = inside ? [want[p], want[p + 1], want[p + 2], before[at + 3]]
        : Array.from(before.subarray(at, at + 4));
      assert.deepEqual(Array.from(rgba.subarray(at, at + 4)), expected, `(${y}, ${x})`);
    }
  }
}
