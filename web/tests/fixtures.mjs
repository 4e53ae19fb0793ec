// Fixtures written by tests/test_web.py (Python) into $RPNCODEC_WEB_FIXTURES, and helpers.
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
