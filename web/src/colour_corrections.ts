/**
 * Colour corrections (format version 5; docs/format.md, "Colour corrections"): the pixels a
 * layer shows in the wrong exact colour after snapping, set right by the layer's correction
 * string, exactly as `rpncodec.colour_corrections.correct` does, so a version-5 file shows
 * Python's pixels.
 *
 * Everything is computed from the tile's snapped pixels `S` alone, before any correction:
 * each pixel's palette index and context (whether it shows a palette colour, and how many of
 * its neighbours in the tile show another colour), and for a pixel that is named its
 * neighbour list. The symbols are ANS-coded with the string's own tables (`ans.ts`).
 */

import { type Tables, categoricalTable, decodeGroups } from "./ans";
import { BitstreamError } from "./errors";
import { paintIndices, tileRgb } from "./exact_colours";

/** The 8 neighbours `[dy, dx]`, in the order of the neighbour list. */
export const NEIGHBOURS: ReadonlyArray<readonly [number, number]> = Object.freeze([
  [-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1],
] as const);
/** Symbols 1-8 name the neighbour list's entries; the escape entry and first palette symbol. */
export const ESCAPE = NEIGHBOURS.length + 1;
/** Entries of a context's table: keep, the 8 ranks, the escape. */
export const ENTRIES = ESCAPE + 1;
/** 3 x (shows a palette colour) + the edge class of its neighbour count. */
export const CONTEXTS = 6;
const FREQ_SUM = 1 << 16;

/**
 * Per pixel of a tile's shown RGB pixels (`h * w * 3` bytes, row-major): its context (0-5)
 * and its palette index (the lowest index of an equal palette colour, -1 if none).
 */
export function contexts(shown: ArrayLike<number>, h: number, w: number,
  palette: ArrayLike<number>): { context: Uint8Array; index: Int16Array } {
  const first = new Map<number, number>(); // packed colour -> its lowest palette index
  for (let c = Math.floor(palette.length / 3) - 1; c >= 0; c--) {
    first.set((palette[3 * c] << 16) | (palette[3 * c + 1] << 8) | palette[3 * c + 2], c);
  }
  const n = h * w;
  const packed = new Int32Array(n);
  const index = new Int16Array(n);
  for (let p = 0; p < n; p++) {
    packed[p] = (shown[3 * p] << 16) | (shown[3 * p + 1] << 8) | shown[3 * p + 2];
    index[p] = first.get(packed[p]) ?? -1;
  }
  const context = new Uint8Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      let differ = 0; // neighbours inside the tile showing another colour
      for (const [dy, dx] of NEIGHBOURS) {
        const ny = y + dy, nx = x + dx;
        if (ny >= 0 && ny < h && nx >= 0 && nx < w && packed[ny * w + nx] !== packed[p]) differ++;
      }
      context[p] = 3 * (index[p] >= 0 ? 1 : 0) + (differ === 0 ? 0 : differ <= 3 ? 1 : 2);
    }
  }
  return { context, index };
}

/**
 * The neighbour list of pixel `(y, x)`: the palette indices its neighbours inside the tile
 * show, in `NEIGHBOURS` order, leaving out its own and repeats (at most 8).
 */
export function neighbourColours(index: Int16Array, h: number, w: number, y: number,
  x: number): number[] {
  const own = index[y * w + x];
  const list: number[] = [];
  for (const [dy, dx] of NEIGHBOURS) {
    const ny = y + dy, nx = x + dx;
    if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
    const c = index[ny * w + nx];
    if (c >= 0 && c !== own && !list.includes(c)) list.push(c);
  }
  return list;
}

/**
 * A correction string's coded contexts (lowest first), their tables and its ANS part:
 * `mask u8 | one table of 10 big-endian u16 frequencies per coded context | ans part`.
 */
function readTables(string: Uint8Array): { present: number[]; tables: Tables;
  words: Uint8Array } {
  const mask = string[0];
  const present: number[] = [];
  for (let c = 0; c < CONTEXTS; c++) if ((mask >> c) & 1) present.push(c);
  const end = 1 + 2 * ENTRIES * present.length;
  if (!present.length || mask >> CONTEXTS || string.length < end) {
    throw new BitstreamError("damaged layer payload (a colour-correction string's tables)");
  }
  const models = present.map((_, t) => {
    const row: number[] = [];
    let sum = 0;
    for (let e = 0; e < ENTRIES; e++) {
      const at = 1 + 2 * (ENTRIES * t + e);
      row.push((string[at] << 8) | string[at + 1]);
      sum += row[e];
    }
    if (row.some((f) => f < 1) || sum !== FREQ_SUM) {
      throw new BitstreamError("damaged layer payload (a colour-correction table does not " +
        `sum to ${FREQ_SUM} with every entry at least 1)`);
    }
    return categoricalTable(row);
  });
  return { present, tables: { models, offsets: new Int32Array(present.length) },
    words: string.subarray(end) };
}

/**
 * The palette index each pixel of a tile's shown pixels `S` takes from the correction
 * `string`, or -1 where it keeps `S`; null for an empty string (nothing changes). Throws
 * `BitstreamError` when the string does not decode or names no colour.
 */
export function correctionIndices(shown: ArrayLike<number>, h: number, w: number,
  palette: ArrayLike<number>, string: Uint8Array): Int16Array | null {
  if (!string.length) return null;
  const { present, tables, words } = readTables(string);
  const { context, index } = contexts(shown, h, w, palette);
  const positions: number[][] = present.map(() => []);
  const group = new Int8Array(CONTEXTS).fill(-1);
  present.forEach((c, g) => { group[c] = g; });
  for (let p = 0; p < context.length; p++) {
    const g = group[context[p]];
    if (g >= 0) positions[g].push(p);
  }
  const symbols = decodeGroups(words, positions.map((q) => q.length),
    present.map((_, g) => g), tables);
  const colours = Math.floor(palette.length / 3);
  const out = new Int16Array(h * w).fill(-1);
  let at = 0;
  for (const pixels of positions) {
    for (const p of pixels) {
      const s = symbols[at++];
      if (s === 0) continue; // keep
      // a rank, or an escape's palette index (a negative escaped value names no colour)
      const c = s > 0 && s < ESCAPE
        ? neighbourColours(index, h, w, Math.floor(p / w), p % w)[s - 1] ?? -1 : s - ESCAPE;
      if (c < 0 || c >= colours) {
        throw new BitstreamError("damaged layer payload (a colour correction names no colour)");
      }
      out[p] = c;
    }
  }
  return out;
}

/**
 * A tile's shown RGB pixels (`h * w * 3` bytes) with its correction `string` applied: a new
 * array (`shown` itself when the string is empty), like `rpncodec.colour_corrections.correct`.
 */
export function correct(shown: Uint8Array, h: number, w: number, palette: Uint8Array,
  string: Uint8Array): Uint8Array {
  const indices = correctionIndices(shown, h, w, palette, string);
  if (!indices) return shown;
  const out = shown.slice();
  for (let p = 0; p < indices.length; p++) {
    const c = indices[p];
    if (c >= 0) out.set(palette.subarray(3 * c, 3 * c + 3), 3 * p);
  }
  return out;
}

/**
 * Apply a correction `string` to the `h x w` tile at `(y0, x0)` of an RGBA image `width`
 * pixels wide, in place: the decoder's step after snapping the tile (`snapTile`) in a
 * corrected layer (`rpncodec.codec.finish_tile`).
 */
export function correctTile(rgba: Uint8ClampedArray | Uint8Array, width: number, y0: number,
  x0: number, h: number, w: number, palette: Uint8Array, string: Uint8Array): void {
  if (!string.length) return;
  // S: every decision reads the uncorrected pixels
  const indices = correctionIndices(tileRgb(rgba, width, y0, x0, h, w), h, w, palette, string);
  if (indices) paintIndices(rgba, width, y0, x0, w, palette, indices);
}
