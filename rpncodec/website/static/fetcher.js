// @ts-check
/**
 * Progressive download of an .rpn file with HTTP Range requests, reading exactly the bytes a
 * decode of the first K layers needs: the header and the first K chunks, no more.
 *
 * Why exact: a layer's rate is its prefix size (rpncodec.bitstream.prefix_size), and the
 * viewer shows what each layer cost. Plan (no request reads a byte the decode does not need):
 *   1. bytes [0, 41): the smallest possible header (one-letter model name, version 2) plus
 *      the first chunk's 8-byte length/CRC field, so never past the end of layer 1;
 *   2. the rest of the header (the model name, the fixed fields, version 3's layer shifts,
 *      version 4's exact colours, version 5's corrected-layers mask, version 6's tools byte
 *      and the fields it names: exact colours, the mask, one residual step per layer) and
 *      the first chunk's length field (one more small request when a version-3 header's
 *      shift bytes, a version-6 header's tools byte, or a version-4, 5 or 6 header's colours,
 *      were not known yet);
 *   3. per layer k: its payload, plus the next chunk's length field when layer k+1 is wanted
 *      too (so a progressive view costs one request per layer).
 * A server that ignores Range (200) hands over the whole file at once; it is kept and counted.
 *
 * No DOM: runs in a worker, a page or Node (tests drive it against a local server).
 */

const FIXED = 7; // magic (4), version, mode, model-name length
const TAIL = 21; // digest (8), height, width, tile side (u32 each), layer count
const CRC = 4;
const CHUNK = 8; // payload length u32 + payload CRC32 u32
const CORRECTED = 2; // version 5: the corrected-layers mask (u16)
const TOOL_EXACT = 1, TOOL_CORRECTIONS = 2, TOOL_RESIDUAL = 4; // version 6's tools byte
const MIN_PREFIX = FIXED + 1 + TAIL + CRC + CHUNK; // 41: no valid file has a shorter layer 1
const MAX_PAYLOAD = 2 ** 31;

/** The bytes of a growing prefix of a remote file, fetched with Range requests. */
export class PrefixFetcher {
  /**
   * @param {string} url absolute URL of the file
   * @param {{fetch?: typeof fetch, signal?: AbortSignal}} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.signal = options.signal;
    /** @type {Uint8Array} */
    this.buffer = new Uint8Array(0);
    this.length = 0; // bytes of the file held, a prefix
    this.fetched = 0; // bytes transferred (response bodies)
    this.requests = 0;
    this.ended = false; // the file is known to end at `length`
    this.whole = false; // the server ignored Range and sent everything
    this.finished = false; // no more bytes will come (plan done, error, or end of file)
    /** @type {number | undefined} the header's size, once read */
    this.headerSize = undefined;
    /** @type {Array<{end: number, resolve: () => void}>} */
    this.waiting = [];
    /** @type {Array<(f: PrefixFetcher) => void>} */
    this.listeners = [];
  }

  /** @param {number} end */
  _grow(end) {
    if (end <= this.buffer.length) return;
    const next = new Uint8Array(Math.max(end, 2 * this.buffer.length));
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  _wake() {
    const still = [];
    for (const w of this.waiting) {
      if (this.length >= w.end || this.finished || w.end === Infinity) w.resolve();
      else still.push(w);
    }
    this.waiting = still;
    for (const listener of this.listeners) listener(this);
  }

  /** No more bytes will be fetched: readers waiting past the end get what there is. */
  finish() {
    this.finished = true;
    this._wake();
  }

  /**
   * Fetch bytes up to `end` (exclusive) if not held yet. Short at the end of the file.
   * @param {number} end
   */
  async ensure(end) {
    if (end <= this.length || this.ended) return;
    const start = this.length;
    this.requests += 1;
    let response;
    try {
      response = await this.fetchFn(this.url, {
        headers: { Range: `bytes=${start}-${end - 1}` }, signal: this.signal, cache: "no-store",
      });
    } catch (error) {
      if (this.signal?.aborted) throw error;
      throw new Error(`cannot read ${this.url} (${error instanceof Error ? error.message : error})`);
    }
    if (response.status === 416) { // nothing at `start`: the file ends there
      await response.arrayBuffer().catch(() => null);
      this.ended = true;
      return;
    }
    if (response.status === 404 || response.status === 410) {
      throw new Error(`${this.url.split("/").pop()?.split("?")[0]} does not exist`);
    }
    if (response.status !== 200 && response.status !== 206) {
      throw new Error(`cannot read ${this.url}: HTTP ${response.status}`);
    }
    const body = new Uint8Array(await response.arrayBuffer());
    this.fetched += body.length;
    if (response.status === 200) { // Range ignored: this is the whole file
      this._grow(body.length);
      this.buffer.set(body);
      this.length = body.length;
      this.ended = this.whole = true;
    } else {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
      if (!range || Number(range[1]) !== start || Number(range[2]) - start + 1 !== body.length) {
        throw new Error(`cannot read ${this.url}: the server answered bytes ` +
          `${response.headers.get("content-range")} to a request for ${start}-${end - 1}`);
      }
      this._grow(start + body.length);
      this.buffer.set(body, start);
      this.length = start + body.length;
      if (range[3] !== "*" && this.length >= Number(range[3])) this.ended = true;
      if (this.length < end) this.ended = true; // a short answer: the file ends here
    }
    this._wake();
  }

  /** @param {number} at */
  _u32(at) {
    const b = this.buffer;
    return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
  }

  /**
   * The header's size and layer count, fetching the header and the first chunk's length
   * field; null when the file ends (or is not an .rpn file) before that: the decoder's parser
   * then says what is wrong with the bytes there are.
   * @returns {Promise<{headerSize: number, layers: number} | null>}
   */
  async header() {
    await this.ensure(MIN_PREFIX);
    if (this.length < FIXED || this.buffer[0] !== 0x89 || this.buffer[1] !== 0x52) return null;
    const version = this.buffer[4];
    const nameLength = this.buffer[6];
    const tailEnd = FIXED + nameLength + TAIL;
    // the shortest header this name allows (version 3: at least one shift byte; version 4
    // on: its colour count, or version 6's tools byte, too)
    await this.ensure(tailEnd + (version >= 3 ? 1 : 0) + (version >= 4 ? 1 : 0) + CRC + CHUNK);
    if (this.length < tailEnd) return null;
    const layers = this.buffer[tailEnd - 1];
    let headerSize = tailEnd + (version >= 3 ? layers : 0) + CRC;
    // the tools whose fields follow the shifts: version 4 exact colours, version 5 also the
    // corrected-layers mask, version 6 those its tools byte names
    let tools = version === 4 ? TOOL_EXACT : version === 5 ? TOOL_EXACT | TOOL_CORRECTIONS : 0;
    if (version >= 6) {
      const toolsAt = headerSize - CRC;
      // the shortest header these layers allow (the tools byte and one step per layer)
      await this.ensure(toolsAt + 1 + layers + CRC + CHUNK);
      if (this.length <= toolsAt) return null;
      tools = this.buffer[toolsAt];
      headerSize += 1;
    }
    const mask = tools & TOOL_CORRECTIONS ? CORRECTED : 0;
    const steps = tools & TOOL_RESIDUAL ? layers : 0;
    if (tools & TOOL_EXACT) { // exact colours: K - 1, the K colours, two radii per layer
      const coloursAt = headerSize - CRC;
      // the shortest header these layers allow (one colour)
      await this.ensure(coloursAt + 1 + 3 + 2 * layers + mask + steps + CRC + CHUNK);
      if (this.length <= coloursAt) return null;
      headerSize += 1 + 3 * (this.buffer[coloursAt] + 1) + 2 * layers;
    }
    headerSize += mask + steps;
    await this.ensure(headerSize + CHUNK);
    return { headerSize, layers };
  }

  /**
   * Fetch the first `wanted` layers (all of them when null), one request per layer, calling
   * `onLayer(k, end)` as layer k's chunk is complete. Stops early (without error) at the end of
   * the file or at an impossible length; the decoder's parser reports those with the command
   * line's words.
   * @param {number | null} wanted
   * @param {(k: number, end: number) => void} [onLayer]
   */
  async layers(wanted, onLayer) {
    this.finished = false;
    try {
      const head = await this.header();
      if (!head) return;
      this.headerSize = head.headerSize;
      this._wake();
      const last = wanted === null ? head.layers : Math.min(wanted, head.layers);
      let pos = head.headerSize;
      for (let k = 1; k <= last; k++) {
        await this.ensure(pos + CHUNK);
        if (this.length < pos + CHUNK) return;
        const size = this._u32(pos);
        if (size > MAX_PAYLOAD) return;
        const end = pos + CHUNK + size;
        await this.ensure(end + (k < last ? CHUNK : 0));
        if (this.length < end) return;
        onLayer?.(k, end);
        pos = end;
      }
    } finally {
      this.finish();
    }
  }

  /**
   * A RangeSource for the decoder (`read(start, end)`): resolves once the fetcher holds `end`
   * bytes or will fetch no more; fewer bytes then (as at the end of a file).
   * @returns {{read(start: number, end: number): Promise<Uint8Array>}}
   */
  source() {
    return {
      read: async (start, end) => {
        if (this.length < end && !this.finished) {
          await new Promise((resolve) => this.waiting.push({ end, resolve: () => resolve(null) }));
        }
        return this.buffer.slice(Math.min(start, this.length), Math.min(end, this.length));
      },
    };
  }

  /**
   * The header's bytes, as soon as they are in (all there are, if the file ends first or is
   * not an .rpn file: the decoder's parser then says why).
   * @returns {Promise<Uint8Array>}
   */
  async headerBytes() {
    while (this.headerSize === undefined && !this.finished) {
      await new Promise((resolve) => this.waiting.push({ end: Infinity, resolve: () => resolve(null) }));
    }
    return this.buffer.slice(0, this.headerSize ?? this.length);
  }

  /** The bytes held (a copy). */
  bytes() {
    return this.buffer.slice(0, this.length);
  }
}
