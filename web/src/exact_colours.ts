/**
 * Exact colours (format version 4; docs/format.md, "Exact colours"): a tile's decoded pixels
 * snapped to the file's palette with its layer's radii, exactly as `rpncodec.exact_colours.snap`
 * does (integer arithmetic, the same ties), so a version-4 file shows Python's pixels.
 *
 * Both passes read the tile's decoded pixels `D` alone (a neighbour outside the tile does not
 * exist, so tiles stay independent):
 * 1. a pixel whose nearest palette colour (largest channel difference; ties: the lower index)
 *    is within `r1` takes it and is snapped (nothing at all happens when `r1` is 0);
 * 2. if `r2` > 0, a pixel not snapped takes the colour of the snapped pixel up to 3 away (rows
 *    first, then columns, from -3) whose colour is nearest to it in squared Euclidean distance
 *    `e` (the first strictly smallest), if some `k <= r2` has `k * k >= e`, i.e. `e <= r2 * r2`.
 */

/** Pass 2 looks this many pixels away in each direction. */
export const WINDOW = 3;
/** Most colours a palette holds (its size is one byte of the header). */
export const MAX_COLOURS = 256;

/**
 * The palette index each pixel of an RGB tile (`h * w * 3` bytes, row-major) takes, or -1
 * where it keeps its decoded value; null when `r1` is 0 (no pixel changes). The palette
 * holds 1 to 256 RGB triples, as a version-4 header's does.
 */
export function snapIndices(pixels: ArrayLike<number>, h: number, w: number,
  palette: ArrayLike<number>, r1: number, r2: number): Int16Array | null {
  const colours = Math.floor(palette.length / 3);
  if (colours > MAX_COLOURS) {
    throw new RangeError(`a palette of ${colours} colours (at most ${MAX_COLOURS})`);
  }
  if (!r1 || !colours) return null;
  const n = h * w;
  const nearest = new Uint8Array(n); // n(p), a palette index
  const snapped = new Uint8Array(n);
  const out = new Int16Array(n).fill(-1);
  // pass 1, once per distinct colour: a tile of flat colour has few (the previous pixel's
  // is checked first, a cache holds the others)
  const cache = new Map<number, number>();
  let lastKey = -1, lastFound = 0;
  for (let p = 0; p < n; p++) {
    const r = pixels[3 * p], g = pixels[3 * p + 1], b = pixels[3 * p + 2];
    const key = (r << 16) | (g << 8) | b;
    if (key !== lastKey) {
      lastKey = key;
      lastFound = cache.get(key) ?? -1;
      if (lastFound < 0) {
        lastFound = nearestColour(r, g, b, palette, colours);
        cache.set(key, lastFound);
      }
    }
    nearest[p] = lastFound >> 9;
    if ((lastFound & 511) <= r1) {
      snapped[p] = 1;
      out[p] = lastFound >> 9;
    }
  }
  if (!r2) return out;
  const limit = r2 * r2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (snapped[p]) continue;
      const r = pixels[3 * p], g = pixels[3 * p + 1], b = pixels[3 * p + 2];
      let best = Infinity, chosen = -1;
      scan: for (let dy = -WINDOW; dy <= WINDOW; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= h) continue;
        for (let dx = -WINDOW; dx <= WINDOW; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= w || (!dy && !dx)) continue;
          const q = ny * w + nx;
          if (!snapped[q]) continue;
          const c = 3 * nearest[q];
          const er = r - palette[c], eg = g - palette[c + 1], eb = b - palette[c + 2];
          const e = er * er + eg * eg + eb * eb;
          if (e < best) {
            best = e;
            chosen = nearest[q];
            if (!e) break scan; // nothing is strictly nearer
          }
        }
      }
      if (best <= limit) out[p] = chosen;
    }
  }
  return out;
}

/**
 * The palette colour nearest to `(r, g, b)` by the largest channel difference (ties: the lower
 * index), as `index << 9 | distance`.
 */
function nearestColour(r: number, g: number, b: number, palette: ArrayLike<number>,
  colours: number): number {
  let best = 256, index = 0;
  for (let c = 0; c < colours; c++) {
    let d = Math.abs(r - palette[3 * c]);
    if (d >= best) continue;
    d = Math.max(d, Math.abs(g - palette[3 * c + 1]));
    if (d >= best) continue;
    d = Math.max(d, Math.abs(b - palette[3 * c + 2]));
    if (d >= best) continue;
    best = d;
    index = c;
    if (!d) break;
  }
  return (index << 9) | best;
}

/**
 * What a decoder shows for one tile's decoded RGB pixels (`h * w * 3` bytes) given the file's
 * palette and the layer's radii: a new array (`pixels` itself when `r1` is 0), like Python's
 * `rpncodec.exact_colours.snap`.
 */
export function snap(pixels: Uint8Array, h: number, w: number, palette: Uint8Array,
  r1: number, r2: number): Uint8Array {
  const indices = snapIndices(pixels, h, w, palette, r1, r2);
  if (!indices) return pixels;
  const out = pixels.slice();
  for (let p = 0; p < indices.length; p++) {
    const c = indices[p];
    if (c < 0) continue;
    out[3 * p] = palette[3 * c];
    out[3 * p + 1] = palette[3 * c + 1];
    out[3 * p + 2] = palette[3 * c + 2];
  }
  return out;
}

/**
 * Snap the `h x w` tile at `(y0, x0)` of an RGBA image `width` pixels wide in place: the
 * decoder's last step for each tile of a version-4 file, after the tile is cropped to its
 * place in the layer (`rpncodec.codec.finish_tile`).
 */
export function snapTile(rgba: Uint8ClampedArray | Uint8Array, width: number, y0: number,
  x0: number, h: number, w: number, palette: Uint8Array, r1: number, r2: number): void {
  if (!r1 || palette.length < 3) return;
  // D: both passes read the decoded pixels
  const indices = snapIndices(tileRgb(rgba, width, y0, x0, h, w), h, w, palette, r1, r2);
  if (indices) paintIndices(rgba, width, y0, x0, w, palette, indices);
}

/** The `h x w` tile at `(y0, x0)` of an RGBA image `width` pixels wide, as packed RGB. */
export function tileRgb(rgba: Uint8ClampedArray | Uint8Array, width: number, y0: number,
  x0: number, h: number, w: number): Uint8Array {
  const tile = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = ((y0 + y) * width + x0 + x) * 4, dst = (y * w + x) * 3;
      tile[dst] = rgba[src];
      tile[dst + 1] = rgba[src + 1];
      tile[dst + 2] = rgba[src + 2];
    }
  }
  return tile;
}

/** Give each pixel of the `w`-wide tile at `(y0, x0)` whose index is not -1 that palette
 * colour, in place in the RGBA image `width` pixels wide. */
export function paintIndices(rgba: Uint8ClampedArray | Uint8Array, width: number, y0: number,
  x0: number, w: number, palette: Uint8Array, indices: Int16Array): void {
  for (let p = 0; p < indices.length; p++) {
    const c = indices[p];
    if (c < 0) continue;
    const dst = ((y0 + Math.floor(p / w)) * width + x0 + (p % w)) * 4;
    rgba[dst] = palette[3 * c];
    rgba[dst + 1] = palette[3 * c + 1];
    rgba[dst + 2] = palette[3 * c + 2];
  }
}
