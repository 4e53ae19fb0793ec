/**
 * ANS decoding bit-exact with constriction's `stream.stack.AnsCoder` (32-bit words, 64-bit
 * state) and its `Categorical(freqs, perfect=False)` and `Uniform(16)` models at 24-bit
 * precision, as `rpncodec/entropy/ans.py` uses them.
 *
 * The 64-bit state is held as two unsigned 32-bit halves in plain numbers; every product is
 * split so that no intermediate exceeds 2^53 (a JS number's exact integers). BigInt gives the
 * same results more slowly (bench/web_ans.py measures both).
 */

import { BitstreamError } from "./errors";

/** Bits of constriction's fixed-point probabilities (its default models). */
export const PRECISION = 24;
const ONE = 2 ** PRECISION;
const QUANTILE_MASK = ONE - 1;
const NIBBLE_PROB = ONE / 16; // Uniform(16): 16 equal bins at 24 bits

/**
 * One table as constriction's fixed-point model: `cdf[i]` is the left cumulative of entry
 * `i` (`cdf[n] = 2^24`), and `escape = n - 1` is the escape entry.
 */
export interface CategoricalTable {
  cdf: Uint32Array;
  escape: number;
}

/**
 * constriction's `from_floating_point_probabilities_fast` for one stored row of 16-bit
 * frequencies (padding zeros after the escape entry are dropped first):
 * `cdf[i] = floor(sum(freqs[0..i)) * (2^24 - n) / sum(freqs)) + i`, in float64 as in Rust.
 */
export function categoricalTable(row: ArrayLike<number>): CategoricalTable {
  let n = row.length;
  while (n > 0 && row[n - 1] === 0) n--;
  let total = 0;
  for (let i = 0; i < n; i++) total += row[i];
  if (n < 2 || n >= ONE - 1 || !(total > 0) || !Number.isFinite(total)) {
    throw new Error(`a coding table of ${n} entries summing to ${total} cannot be used`);
  }
  const scale = (ONE - n) / total;
  const cdf = new Uint32Array(n + 1);
  let cumulative = 0;
  for (let i = 0; i < n; i++) {
    cdf[i] = Math.floor(cumulative * scale) + i;
    cumulative += row[i];
  }
  cdf[n] = ONE;
  return { cdf, escape: n - 1 };
}

/**
 * A density's stored tables: one `CategoricalTable` per row of `freqs` (`rows x length`,
 * row-major) and the offset of each (a symbol `s` of table `t` is entry `s + offsets[t]`).
 */
export interface Tables {
  models: CategoricalTable[];
  offsets: Int32Array;
}

/** The tables of a density from its stored `offsets` and `freqs` buffers. */
export function buildTables(offsets: ArrayLike<number>, freqs: ArrayLike<number>,
  length: number): Tables {
  const rows = offsets.length;
  if (freqs.length !== rows * length) {
    throw new Error(`coding tables: ${freqs.length} frequencies for ${rows} rows of ${length}`);
  }
  const models: CategoricalTable[] = [];
  for (let r = 0; r < rows; r++) {
    models.push(categoricalTable(Array.prototype.slice.call(freqs, r * length, (r + 1) * length)));
  }
  return { models, offsets: Int32Array.from(offsets) };
}

/** Little-endian u32 words of `data` (whose length is a multiple of 4), at any alignment. */
function words(data: Uint8Array): Uint32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint32Array(data.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

/**
 * A decoder over one compressed word sequence (`AnsCoder(compressed)` in constriction): a
 * stack, so words are read from the end. State `hi * 2^32 + lo`; `pos` words are left.
 */
export class AnsDecoder {
  private hi = 0;
  private lo = 0;
  private pos: number;

  constructor(private readonly bulk: Uint32Array) {
    this.pos = bulk.length;
    if (this.pos === 0) return;
    this.lo = bulk[--this.pos];
    if (this.lo === 0) {
      throw new BitstreamError("damaged layer payload (Invalid compressed data: ANS compressed " +
        "data never ends in a zero word.)");
    }
    if (this.pos > 0) {
      this.hi = this.lo;
      this.lo = bulk[--this.pos];
    }
  }

  /** True when the coder is back in its initial (empty) state with every word read. */
  isEmpty(): boolean {
    return this.hi === 0 && this.lo === 0 && this.pos === 0;
  }

  /** Pop one entry of `table`. */
  decode(table: CategoricalTable): number {
    const quantile = this.lo & QUANTILE_MASK;
    const cdf = table.cdf;
    // the last entry whose left cumulative is <= quantile (cdf[0] = 0 <= quantile)
    let low = 0;
    let high = table.escape + 1;
    while (high - low > 1) {
      const mid = (low + high) >>> 1;
      if (cdf[mid] <= quantile) low = mid;
      else high = mid;
    }
    this.advance(quantile - cdf[low], cdf[low + 1] - cdf[low]);
    return low;
  }

  /** Pop one 4-bit symbol of `Uniform(16)`. */
  decodeNibble(): number {
    const quantile = this.lo & QUANTILE_MASK;
    const symbol = Math.floor(quantile / NIBBLE_PROB);
    this.advance(quantile - symbol * NIBBLE_PROB, NIBBLE_PROB);
    return symbol;
  }

  /**
   * `state = (state >> 24) * probability + remainder`, then a refill if the state fell
   * below 2^32 and a word is left. `state >> 24` is `aHi * 2^32 + aLo` with `aHi < 2^8`;
   * `aLo * probability` is summed in 16-bit halves so that every term stays exact.
   */
  private advance(remainder: number, probability: number): void {
    const aHi = this.hi >>> 24;
    const aLo = ((this.hi << 8) | (this.lo >>> 24)) >>> 0;
    const mid = (aLo >>> 16) * probability; // < 2^40
    const midLow = Math.imul(aLo >>> 16, probability) & 0xffff; // mid mod 2^16
    const x = (aLo & 0xffff) * probability + remainder + midLow * 0x10000; // < 2^41
    const lo = x >>> 0;
    const hi = aHi * probability + (mid - midLow) / 0x10000 + (x - lo) / 0x100000000;
    if (hi === 0 && this.pos > 0) {
      this.hi = lo;
      this.lo = this.bulk[--this.pos];
    } else {
      this.hi = hi;
      this.lo = lo;
    }
  }
}

/** Escaped values outside int32 are refused (the Python decoder accepts any int64). */
const ESCAPE_NIBBLES = 8;

/** Value of a zigzag code `u` (`u = 2v` for `v >= 0`, `u = -2v - 1` otherwise). */
function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

/**
 * Inverse of `rpncodec.entropy.ans.encode_groups`: groups of `counts[g]` symbols, group `g`
 * with table `tables[g]`, then the escaped values in order; returned one after the other.
 * `escapes` false: the tables hold every symbol, so an escape entry is damage (refused as
 * soon as the groups are decoded).
 *
 * End of the string: the encoder started from the coder's empty state, so after the last pop
 * a decoder must be back in it with every word read; any other end means damage.
 */
export function decodeGroups(data: Uint8Array, counts: number[], tables: number[],
  coding: Tables, escapes = true): Int32Array {
  if (data.length % 4) {
    throw new BitstreamError("damaged layer payload (length is not a whole number of words)");
  }
  let total = 0;
  for (const n of counts) total += n;
  if (data.length === 0 && total > 0) {
    throw new BitstreamError(`damaged layer payload (empty, for ${total} symbols)`);
  }
  const coder = new AnsDecoder(words(data));
  const out = new Int32Array(total);
  const escaped: number[] = [];
  let i = 0;
  for (let g = 0; g < counts.length; g++) {
    const table = coding.models[tables[g]];
    const offset = coding.offsets[tables[g]];
    for (const end = i + counts[g]; i < end; i++) {
      const raw = coder.decode(table);
      if (raw === table.escape) escaped.push(i);
      out[i] = raw - offset;
    }
  }
  if (escaped.length && !escapes) {
    throw new BitstreamError("damaged layer payload (an escape where its tables hold every " +
      "symbol)");
  }
  let beyond = false; // reported after the end check, which names most damage first
  for (const j of escaped) {
    const count = coder.decodeNibble() + 1;
    let u = 0;
    for (let k = 0; k < count; k++) {
      const v = coder.decodeNibble();
      if (k < ESCAPE_NIBBLES) u += v * 16 ** k;
      else if (v) beyond = true;
    }
    const value = unzigzag(u);
    beyond ||= value !== (value | 0);
    out[j] = value;
  }
  if (!coder.isEmpty()) {
    throw new BitstreamError("damaged layer payload (its entropy-coded string does not end " +
      "where its encoder began)");
  }
  if (beyond) throw new BitstreamError("damaged layer payload (an escaped value beyond 32 bits)");
  return out;
}
