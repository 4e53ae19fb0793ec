/**
 * The entropy-coding rules on top of the ANS decoder, as `rpncodec/entropy/coding.py`:
 * symbols coded *by channel* (factorized densities) or *by scale* (Gaussian conditionals:
 * each element's table chosen from its predicted scale, checked by the index CRC), and the
 * framing of a payload in two parts.
 */

import { type Tables, decodeGroups } from "./ans";
import { readU32 } from "./bytes";
import { crc32 } from "./crc32";
import { BitstreamError } from "./errors";

/**
 * The 64 table scales, `exp(log 0.11 + i * (log 64 - log 0.11) / 63)`, as the exact float64
 * values every decoder must compare with (`rpncodec.entropy.coding._SCALES_HEX`): a maths
 * library's `exp` may differ in the last bit, which would move values across a boundary.
 */
export const SCALES_HEX = Object.freeze([
  "0x1.c28f5c28f5c2ap-4", "0x1.f2780fb7492c2p-4", "0x1.13bc727545601p-3", "0x1.310e43c5a8913p-3",
  "0x1.517e311334418p-3", "0x1.756117b6e6e95p-3", "0x1.9d14db23cd4cdp-3", "0x1.c9015a8a5453bp-3",
  "0x1.f999809a1ec93p-3", "0x1.17ae3814ae625p-2", "0x1.356b686a1e305p-2", "0x1.56521f7d579e6p-2",
  "0x1.7ab8716fa473ap-2", "0x1.a2fd99882ce10p-2", "0x1.cf8af35ad60dep-2", "0x1.006a8736a59bep-1",
  "0x1.1bae6f95ad6bep-1", "0x1.39d8882440056p-1", "0x1.5b37bc00a34c2p-1", "0x1.80235a8689b81p-1",
  "0x1.a8fbfbbc58ec6p-1", "0x1.d62c7d0a73380p-1", "0x1.04158c68d84b2p+0", "0x1.1fbd4dde40d0bp+0",
  "0x1.3e55dd79ff39bp+0", "0x1.602f475c1826bp+0", "0x1.85a21a9d0c051p+0", "0x1.af1050ffa300bp+0",
  "0x1.dce64f45aed48p+0", "0x1.07ce0063322b4p+1", "0x1.23db08961ef70p+1", "0x1.42e3a3c79e438p+1",
  "0x1.6539033bd2486p+1", "0x1.8b34fa5af22dfp+1", "0x1.b53ae9b392c6ep+1", "0x1.e3b8c2fa1dd7dp+1",
  "0x1.0b941456d8db8p+2", "0x1.2807d6297bc1cp+2", "0x1.47821742c1bf5p+2", "0x1.6a55323c6d578p+2",
  "0x1.90dc4372152e5p+2", "0x1.bb7c17600cc96p+2", "0x1.eaa4325afef0cp+2", "0x1.0f67fa2917487p+3",
  "0x1.2c43edcbd8226p+3", "0x1.4c3174fd8c853p+3", "0x1.6f8417ee75412p+3", "0x1.969840a22e8a3p+3",
  "0x1.c1d42cb7886dfp+3", "0x1.f1a8f8e5e3255p+3", "0x1.1349e475f1635p+4", "0x1.308f877adbf3ap+4",
  "0x1.50f1fae9c71fap+4", "0x1.74c5f8d9e38cep+4", "0x1.9c693dbcb49d8p+4", "0x1.c8437d9b555fap+4",
  "0x1.f8c77367677e3p+4", "0x1.173a0692c1471p+5", "0x1.34eadc013a477p+5", "0x1.55c3e7dc12cf1p+5",
  "0x1.7a1b1a81a977dp+5", "0x1.a24f87a8c5128p+5", "0x1.ceca5f1ff097dp+5", "0x1.ffffffffffffdp+5",
] as const);

/** The exact float64 value of a C99 hexadecimal float `0x1.<hex>p<exp>` (a normal number). */
export function hexToFloat64(hex: string): number {
  const m = /^0x1\.([0-9a-f]{1,13})p([+-]\d+)$/.exec(hex);
  if (!m) throw new Error(`not a normal hexadecimal float64: ${hex}`);
  const fraction = parseInt(m[1].padEnd(13, "0"), 16); // 52 bits: exact
  return (2 ** 52 + fraction) * 2 ** (Number(m[2]) - 52); // a power-of-two scaling: exact
}

// A private typed copy for the comparisons; callers get a frozen array (no shared state).
const SCALE_VALUES = Float64Array.from(SCALES_HEX, hexToFloat64);
/** The 64 table scales as numbers (float64), ascending. */
export const SCALES: readonly number[] = Object.freeze(Array.from(SCALE_VALUES));
export const LEVELS = SCALES.length;
const SCALE_MIN = SCALE_VALUES[0];

/**
 * The table index of a float64 scale `sigma`: the number of `SCALES` below it, at most 63,
 * i.e. the first table whose scale is at least `sigma`. Below 0.11, and NaN (from no valid
 * file), give table 0.
 */
export function scaleIndex(sigma: number): number {
  if (!(sigma > SCALE_MIN)) return 0;
  let low = 0; // SCALES[low - 1] < sigma
  let high = LEVELS - 1; // the answer is at most this
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (SCALE_VALUES[mid] < sigma) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index map of `scales` (float64, `[C, H, W]` raster order). */
export function scaleIndices(scales: Float64Array): Uint8Array {
  const idx = new Uint8Array(scales.length);
  for (let i = 0; i < scales.length; i++) idx[i] = scaleIndex(scales[i]);
  return idx;
}

/**
 * Symbols coded by scale: the string is the CRC32 of the index map (big-endian u32), then the
 * ANS part with the elements grouped by table (ascending), raster order within a group.
 * Returns int32 symbols in the order of `scales`. Throws `BitstreamError` when the computed
 * index map's CRC differs from the encoder's: other tables were chosen somewhere, and
 * decoding on would give garbage.
 */
export function decodeByScale(data: Uint8Array, scales: Float64Array, tables: Tables): Int32Array {
  if (data.length < 4) {
    throw new BitstreamError("damaged layer payload (too short for its index check)");
  }
  const idx = scaleIndices(scales);
  if (crc32(idx) !== readU32(data, 0)) {
    throw new BitstreamError("the decoder's entropy-model indices differ from the " +
      "encoder's (other float arithmetic, or damaged data)");
  }
  const counts = new Array<number>(LEVELS).fill(0);
  for (let i = 0; i < idx.length; i++) counts[idx[i]]++;
  const used: number[] = [];
  const usedCounts: number[] = [];
  const start = new Array<number>(LEVELS).fill(0);
  for (let t = 0, at = 0; t < LEVELS; t++) {
    start[t] = at;
    at += counts[t];
    if (counts[t]) {
      used.push(t);
      usedCounts.push(counts[t]);
    }
  }
  const grouped = decodeGroups(data.subarray(4), usedCounts, used, tables);
  const out = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = grouped[start[idx[i]]++];
  return out;
}

/** Symbols `[channels, height, width]` coded a channel at a time, channel c with table c. */
export function decodeByChannel(data: Uint8Array, channels: number, size: [number, number],
  tables: Tables): Int32Array {
  const counts = new Array<number>(channels).fill(size[0] * size[1]);
  return decodeGroups(data, counts, counts.map((_, c) => c), tables);
}

/**
 * A payload of two parts, `len(first)` (big-endian u32) | first | rest; a length beyond the
 * data is damage naming `what` the first part is.
 */
export function splitParts(data: Uint8Array, what: string): [Uint8Array, Uint8Array] {
  if (data.length < 4 || readU32(data, 0) > data.length - 4) {
    throw new BitstreamError(`damaged layer payload (${what} length)`);
  }
  const end = 4 + readU32(data, 0);
  return [data.subarray(4, end), data.subarray(end)];
}
