/**
 * Residual layers (format version 6; docs/format.md, "Residual layers"): a layer that refines
 * the layer below it in the pixel domain, `clip(previous + step * q, 0, 255)`, decoded exactly
 * as `rpncodec.residual_layers.decode` does, so a residual layer over the same pixels shows
 * Python's pixels.
 *
 * Per tile, a residual string codes `q` in seven parts, each an ANS part (`ans.ts`) over
 * per-context tables: the green plane in five (a lattice every 4 pixels, then the centres and
 * the sides at distance 2, then at distance 1: `greenParts`), then red minus green, then blue
 * minus green. A symbol's context counts the symbols decoded before it nearby that are not 0
 * (`partContexts`), never the previous layer's pixels, which another decoder may show one
 * level apart: every decoder reads the same `q`. Each present context's table is built from
 * three bytes in integer arithmetic (`residualTable`), so every decoder builds the same tables.
 */

import { type CategoricalTable, categoricalTable, decodeGroups } from "./ans";
import { readU32 } from "./bytes";
import { BitstreamError } from "./errors";
import { tileRgb } from "./exact_colours";

/** The parts of a residual string: five of green, then red - green and blue - green. */
export const PARTS = 7;
/** The green plane's parts; the spacing of the first one's pixels (the lattice). */
export const GREEN_PARTS = 5;
export const LATTICE = 4;
/** Bytes of a context's table parameters (z, a, t). */
export const PARAMS_SIZE = 3;
/** The largest step of a residual layer (one header byte). */
export const MAX_STEP = 255;
const FREQ_SUM = 1 << 16;
const LENGTHS = 4 * (PARTS - 1); // the u32 lengths of parts 0 to 5
type Offsets = ReadonlyArray<readonly [number, number]>;
// the 8 neighbours of the 3x3 square; the diagonal 4; the cross (above, left, right, below)
const NEIGHBOURS: Offsets = Object.freeze([
  [-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1],
] as const);
const DIAGONAL: Offsets = Object.freeze([[-1, -1], [-1, 1], [1, -1], [1, 1]] as const);
const CROSS: Offsets = Object.freeze([[-1, 0], [0, -1], [0, 1], [1, 0]] as const);
// per green part: the neighbours its contexts count, at which distance
const SHAPES: ReadonlyArray<readonly [Offsets, number]> = Object.freeze([
  [[], 0], [DIAGONAL, 2], [CROSS, 2], [DIAGONAL, 1], [CROSS, 1],
] as const);

/** One green part: its pixels (row-major indices into the tile, in the part's order), the
 * neighbours its contexts count and their distance (none in the lattice). */
export interface GreenPart {
  positions: Int32Array;
  neighbours: Offsets;
  distance: number;
}

/** The largest `|q|` of a residual at `step`: residuals are at most 255. */
export function largestResidual(step: number): number {
  return Math.floor((255 + (step >> 1)) / step);
}

/**
 * The green plane's five parts of an `h x w` tile, in decoding order
 * (`rpncodec.residual_layers.green_parts`): the lattice (row and column multiples of 4); then,
 * for d = 2 and d = 1, the centres (row and column = d modulo 2d; their diagonal neighbours at
 * distance d are decoded before) and the sides (one of row and column = d, the other 0,
 * modulo 2d; their neighbours above, left, right and below at distance d are).
 */
export function greenParts(h: number, w: number): GreenPart[] {
  const which = (y: number, x: number): number => {
    if (y % LATTICE === 0 && x % LATTICE === 0) return 0;
    const ry = y % 4, rx = x % 4; // at distance 2: both even
    if (ry % 2 === 0 && rx % 2 === 0) return ry === 2 && rx === 2 ? 1 : 2;
    return y % 2 === 1 && x % 2 === 1 ? 3 : 4;
  };
  const lists: number[][] = Array.from({ length: GREEN_PARTS }, () => []);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) lists[which(y, x)].push(y * w + x);
  }
  return lists.map((p, part) => ({ positions: Int32Array.from(p),
    neighbours: SHAPES[part][0], distance: SHAPES[part][1] }));
}

/**
 * The contexts of part `part` (0-6) of an `h x w` tile, one per symbol in the part's order
 * (`rpncodec.residual_layers.part_contexts`), from the green symbols `green` (complete where
 * the part's neighbours are: parts 1-4 count only pixels of earlier parts) and, for part 6,
 * the red-minus-green symbols `red`; `positions` gives a green part's pixels when they are
 * at hand. Outside the tile counts as 0. Part 0: 0. Parts 1-4: `1 + 5 * (part - 1)` plus how
 * many of the part's 4 neighbours have a green symbol other than 0. Part 5: `3 * c + min(|G|,
 * 2)`, with c 0-3 as 0, 1-2, 3-5 or 6-9 pixels of the 3x3 square around the pixel (itself
 * included) have one; part 6: twice that, plus 1 where `red` is not 0.
 */
export function partContexts(part: number, h: number, w: number, green: Int32Array,
  red?: Int32Array, positions?: Int32Array): Uint8Array {
  if (!Number.isInteger(part) || part < 0 || part >= PARTS) {
    throw new RangeError(`a residual part of ${part} (must be 0 to ${PARTS - 1})`);
  }
  if (part === 6 && !red) throw new RangeError("part 6's contexts need the red symbols");
  const g = (y: number, x: number): number =>
    y >= 0 && y < h && x >= 0 && x < w && green[y * w + x] !== 0 ? 1 : 0;
  if (part < GREEN_PARTS) {
    const [neighbours, distance] = SHAPES[part];
    const at = positions ?? greenParts(h, w)[part].positions;
    const out = new Uint8Array(at.length);
    if (part === 0) return out;
    for (let i = 0; i < at.length; i++) {
      const y = Math.floor(at[i] / w), x = at[i] % w;
      let near = 0;
      for (const [dy, dx] of neighbours) near += g(y + distance * dy, x + distance * dx);
      out[i] = 1 + 5 * (part - 1) + near;
    }
    return out;
  }
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      let near = g(y, x);
      for (const [dy, dx] of NEIGHBOURS) near += g(y + dy, x + dx);
      const ctx = 3 * (near === 0 ? 0 : near <= 2 ? 1 : near <= 5 ? 2 : 3) +
        Math.min(Math.abs(green[p]), 2);
      out[p] = part === 5 ? ctx : 2 * ctx + (red![p] !== 0 ? 1 : 0);
    }
  }
  return out;
}

/** `floor(a * b / c)` exactly, for non-negative integers `a`, `b` and `c` below 2^53. */
function mulDiv(a: number, b: number, c: number): number {
  const product = a * b;
  if (product > Number.MAX_SAFE_INTEGER) return Number(BigInt(a) * BigInt(b) / BigInt(c));
  let q = Math.floor(product / c); // the float quotient may round up to the next integer
  if (q * c > product) q--;
  return q;
}

/**
 * The 16-bit frequencies of a context's table (`rpncodec.residual_layers.table`): symbols
 * `-reach..reach`, then the escape entry, from its parameters `z` (the share of 0), `a` (the
 * share of +-1) and `t` (the decay of the tail beyond). Exact integer arithmetic: the weights
 * stay below 2^53, their products with the frequency total do not (BigInt there).
 */
export function residualTable(z: number, a: number, t: number, reach: number): number[] {
  const tail: number[] = [];
  for (let j = 0, v = 1 << 12; j < reach - 1; j++, v = Math.floor(v * (t + 1) / 256)) {
    tail.push(v);
  }
  const totalTail = 2 * tail.reduce((s, v) => s + v, 0);
  const one = tail.length ? Math.floor(totalTail * a * a / 32) : 1 << 12;
  const zero = Math.floor((2 * one + totalTail) * z * z / 16);
  const weights = [...tail.slice().reverse(), one, zero, one, ...tail, 0];
  const entries = weights.length;
  const total = weights.reduce((s, v) => s + v, 0);
  const freq = weights.map((v) => 1 + mulDiv(v, FREQ_SUM - entries, total));
  freq[reach] += FREQ_SUM - freq.reduce((s, v) => s + v, 0);
  return freq;
}

/**
 * A residual string's seven parts: `length u32 of parts 0 to 5 | part 0 | ... | part 6`;
 * lengths beyond the string are damage (`rpncodec.residual_layers._split`).
 */
export function splitResidual(string: Uint8Array): Uint8Array[] {
  if (string.length < LENGTHS) {
    throw new BitstreamError("damaged layer payload (a residual string is too short)");
  }
  const lengths = Array.from({ length: PARTS - 1 }, (_, i) => readU32(string, 4 * i));
  if (lengths.reduce((s, n) => s + n, 0) > string.length - LENGTHS) { // below 2^35: exact
    throw new BitstreamError("damaged layer payload (a residual string's parts do not fit)");
  }
  const parts: Uint8Array[] = [];
  let start = LENGTHS;
  for (const n of lengths) {
    parts.push(string.subarray(start, start + n));
    start += n;
  }
  parts.push(string.subarray(start));
  return parts;
}

/**
 * One part's symbols from its bytes (each present context's three parameter bytes, lowest
 * context first, then the ANS words), given each symbol's context; the symbols in the order
 * of `ctx`. A part without symbols (one whose pixels a small tile lacks) must be empty; a part
 * whose words are empty holds only its tables' first entry, `-reach`.
 */
function decodePart(part: Uint8Array, ctx: Uint8Array, reach: number): Int32Array {
  if (!ctx.length) {
    if (part.length) {
      throw new BitstreamError("damaged layer payload (a residual part without symbols is " +
        "not empty)");
    }
    return new Int32Array(0);
  }
  const group = new Int16Array(256).fill(-1);
  const present: number[] = [];
  for (const c of ctx) {
    if (group[c] < 0) {
      group[c] = 0;
      present.push(c);
    }
  }
  present.sort((x, y) => x - y);
  present.forEach((c, g) => { group[c] = g; });
  const size = PARAMS_SIZE * present.length;
  if (part.length < size) {
    throw new BitstreamError("damaged layer payload (a residual part's tables do not fit)");
  }
  // no words: ANS codes a part of only its tables' first entry (-reach) in none, so unlike a
  // latent's ans part this one is not refused
  if (part.length === size) return new Int32Array(ctx.length).fill(-reach);
  const built = new Map<number, CategoricalTable>(); // contexts of the same parameters
  const models = present.map((_, g) => {
    const key = (part[3 * g] << 16) | (part[3 * g + 1] << 8) | part[3 * g + 2];
    let model = built.get(key);
    if (!model) {
      model = categoricalTable(residualTable(part[3 * g], part[3 * g + 1], part[3 * g + 2],
        reach));
      built.set(key, model);
    }
    return model;
  });
  // each group's symbols, in the part's order
  const counts = new Array<number>(present.length).fill(0);
  for (const c of ctx) counts[group[c]]++;
  const next = new Int32Array(present.length);
  for (let g = 1; g < present.length; g++) next[g] = next[g - 1] + counts[g - 1];
  const order = new Int32Array(ctx.length);
  for (let i = 0; i < ctx.length; i++) order[next[group[ctx[i]]]++] = i;
  // the tables hold every symbol (-reach..reach): an escape entry is damage
  const symbols = decodeGroups(part.subarray(size), counts, present.map((_, g) => g),
    { models, offsets: new Int32Array(present.length).fill(reach) }, false);
  const values = new Int32Array(ctx.length);
  for (let j = 0; j < order.length; j++) values[order[j]] = symbols[j];
  return values;
}

/**
 * The `q` of an `h x w` tile's residual layer at `step` from its residual string: `h * w * 3`
 * integers (RGB, row-major), each at most `largestResidual(step)` in size. It needs no pixel:
 * the same string gives the same `q` over any previous image. Throws `BitstreamError`
 * (Python's messages) when the string does not decode.
 */
export function residualValues(h: number, w: number, step: number,
  string: Uint8Array): Int32Array {
  if (!Number.isInteger(step) || step < 1 || step > MAX_STEP) {
    throw new RangeError(`a residual step of ${step} (must be 1 to ${MAX_STEP})`);
  }
  const parts = splitResidual(string);
  const n = h * w;
  const m = largestResidual(step);
  const green = new Int32Array(n);
  greenParts(h, w).forEach(({ positions }, part) => {
    const ctx = partContexts(part, h, w, green, undefined, positions);
    const values = decodePart(parts[part], ctx, m);
    positions.forEach((p, i) => { green[p] = values[i]; });
  });
  const red = decodePart(parts[5], partContexts(5, h, w, green), 2 * m);
  const blue = decodePart(parts[6], partContexts(6, h, w, green, red), 2 * m);
  const q = new Int32Array(3 * n);
  let worst = 0;
  for (let p = 0; p < n; p++) {
    const g = green[p];
    q[3 * p] = red[p] + g;
    q[3 * p + 1] = g;
    q[3 * p + 2] = blue[p] + g;
    worst = Math.max(worst, Math.abs(q[3 * p]), Math.abs(g), Math.abs(q[3 * p + 2]));
  }
  if (worst > m) {
    throw new BitstreamError("damaged layer payload (a residual is out of range)");
  }
  return q;
}

/**
 * The pixels a residual layer at `step` with the tile string `string` shows over a tile's
 * previous RGB pixels (`h * w * 3` bytes): a new array, `clip(previous + step * q, 0, 255)`,
 * like `rpncodec.residual_layers.decode`.
 */
export function decodeResidual(previous: Uint8Array, h: number, w: number, step: number,
  string: Uint8Array): Uint8Array {
  const q = residualValues(h, w, step, string);
  const out = new Uint8Array(q.length);
  for (let i = 0; i < q.length; i++) {
    out[i] = Math.min(255, Math.max(0, previous[i] + step * q[i]));
  }
  return out;
}

/**
 * Apply a residual layer's tile string to the `h x w` tile at `(y0, x0)` of an RGBA image
 * `width` pixels wide, in place: the decoder's step for each tile of a residual layer over
 * the image the layer below shows (`rpncodec.codec.finish_tile`). Alpha is kept.
 */
export function residualTile(rgba: Uint8ClampedArray | Uint8Array, width: number, y0: number,
  x0: number, h: number, w: number, step: number, string: Uint8Array): void {
  const previous = tileRgb(rgba, width, y0, x0, h, w);
  const q = residualValues(h, w, step, string);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = (y * w + x) * 3, dst = ((y0 + y) * width + x0 + x) * 4;
      for (let c = 0; c < 3; c++) {
        rgba[dst + c] = Math.min(255, Math.max(0, previous[src + c] + step * q[src + c]));
      }
    }
  }
}
