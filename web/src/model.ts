/**
 * A model's browser files (`scripts/web_export.py models`): `model.json`, and per level its
 * float64 coding networks with their arrays (`level<k>.json`, `level<k>.bin`) and its
 * float32 synthesis (`synthesis<k>.onnx`, run on onnxruntime-web). Only `model.json` is read
 * when a model is opened; a level's files when a decode first needs that level, so showing
 * layer 1 fetches level 1's files alone. Every file is checked against the sha256 that
 * `model.json` lists (WebCrypto) before it is used.
 */

import { type Tables, buildTables } from "./ans";
import { type Mode } from "./container";
import { ModelError } from "./errors";
import { Graph, type GraphJson, type Tensor, tensor } from "./graph";
import { utf8 } from "./platform";

/** What the engine needs of onnxruntime-web (`import * as ort from "onnxruntime-web"`). */
export interface OrtLike {
  InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: "float32", data: Float32Array, dims: number[]) => unknown;
}

/** An onnxruntime-web session (the part the engine uses). */
export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims:
    readonly number[] }>>;
}

/** Reads a file of the model's folder by its relative path. */
export type FetchFile = (path: string) => Promise<Uint8Array | ArrayBuffer>;

/** The part of `fetch` the engine uses (a page's, a worker's or Node's). */
export type FetchLike = (url: string) => Promise<{
  ok: boolean;
  status: number;
  statusText: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

export interface OpenOptions {
  /** onnxruntime-web; needed to synthesise images (not to decode symbols). */
  ort?: OrtLike;
  /** The fetch a base URL is read with (default: the global one). */
  fetch?: FetchLike;
  /** Check each file's sha256 against model.json (default true). */
  verify?: boolean;
  /** onnxruntime session options (e.g. `{ executionProviders: ["wasm"] }`). */
  sessionOptions?: Record<string, unknown>;
}

export interface FileInfo {
  sha256: string;
  bytes: number;
  gzip_bytes: number;
}

/** `model.json`. */
export interface WebModelJson {
  format: number;
  name: string;
  sha256: string;
  mode: Mode;
  widths: number[];
  latent_codecs: string[];
  pad_multiple: number;
  levels: Array<{
    codec: string;
    width: number;
    shift: number;
    synthesis_inputs: number[];
    files: { graphs: string; arrays: string; synthesis: string };
  }>;
  files: Record<string, FileInfo>;
}

/** `level<k>.json`. */
interface LevelJson {
  format: number;
  level: number;
  codec: string;
  family: "factorized" | "conditional" | "hyperprior";
  use_prior: boolean;
  means: boolean;
  graphs: Record<string, GraphJson>;
  arrays: Record<string, [string, number[], number]>;
}

/** A per-channel factorized density: median rounding and one table per channel. */
export interface FactorizedDensity {
  medians: Float64Array;
  tables: Tables;
}

/** One level's coding parts, ready to decode. */
export interface WebLevel {
  index: number;
  codec: string;
  family: "factorized" | "conditional" | "hyperprior";
  usePrior: boolean;
  means: boolean;
  /** The prediction from the level below (levels 2 and up). */
  prediction: Graph | null;
  /** The scale head (`conditional`) or the hyperprior synthesis (`hyperprior`). */
  net: Graph | null;
  /** The per-channel offset of the Gaussian mean, or null (`factorized`). */
  offset: Float64Array | null;
  /** The latent's (`factorized`) or side latent's (`hyperprior`) density, or null. */
  factorized: FactorizedDensity | null;
  /** The 64 tables chosen by scale, or null (`factorized`). */
  gaussian: Tables | null;
}

const FORMAT = 1;

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * sha256 of `data` as hex: WebCrypto where there is one (pages and workers of a secure
 * context, Node 20), else `sha256Bytes` (a page served over plain HTTP from another host than
 * localhost has no `crypto.subtle`).
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const subtle = (globalThis as unknown as { crypto?: { subtle?: { digest(a: string,
    d: Uint8Array): Promise<ArrayBuffer> } } }).crypto?.subtle;
  const digest = subtle ? await subtle.digest("SHA-256", data) : sha256Bytes(data).buffer;
  return hex(digest as ArrayBuffer);
}

const SHA256_K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 (FIPS 180-4) in plain TypeScript: the digest's 32 bytes. */
export function sha256Bytes(data: Uint8Array): Uint8Array {
  const h = Uint32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
    0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const blocks = Math.ceil((data.length + 9) / 64);
  const tail = new Uint8Array((blocks - Math.floor(data.length / 64)) * 64);
  tail.set(data.subarray(Math.floor(data.length / 64) * 64));
  tail[data.length % 64] = 0x80;
  const tailView = new DataView(tail.buffer);
  tailView.setUint32(tail.length - 8, Math.floor(data.length / 2 ** 29));
  tailView.setUint32(tail.length - 4, (data.length * 8) >>> 0);
  const whole = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let b = 0; b < blocks; b++) {
    const inTail = b * 64 + 64 > data.length;
    const view = inTail ? tailView : whole;
    const at = inTail ? (b - Math.floor(data.length / 64)) * 64 : b * 64;
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(at + 4 * i);
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
      const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, bb, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
        SHA256_K[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  h.forEach((v, i) => outView.setUint32(4 * i, v));
  return out;
}

/** IEEE half -> double. */
function half(h: number): number {
  const e = (h >> 10) & 0x1f, f = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * The arrays of an index `key -> [dtype, shape, offset]` over `blob` (little-endian `<f2`,
 * `<f4`, `<f8`, `<i4`, `<i8` as numpy writes them): floats and integers as float64 tensors.
 */
export function readArrays(index: Record<string, [string, number[], number]>,
  blob: Uint8Array): (key: string) => Tensor {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const cache = new Map<string, Tensor>();
  return (key: string): Tensor => {
    const hit = cache.get(key);
    if (hit) return hit;
    const entry = index[key];
    if (!entry) throw new Error(`no stored array ${key}`);
    const [dtype, shape, offset] = entry;
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float64Array(n);
    const item: Record<string, number> = { "<f2": 2, "<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8 };
    const width = item[dtype];
    if (!width) throw new Error(`array ${key} has unsupported dtype ${dtype}`);
    if (offset + n * width > blob.length) throw new Error(`array ${key} lies beyond the file`);
    for (let i = 0; i < n; i++) {
      const p = offset + i * width;
      out[i] = dtype === "<f2" ? half(view.getUint16(p, true))
        : dtype === "<f4" ? view.getFloat32(p, true)
          : dtype === "<f8" ? view.getFloat64(p, true)
            : dtype === "<i4" ? view.getInt32(p, true)
              : Number(view.getBigInt64(p, true));
    }
    const t = tensor(shape, out, dtype[1] === "f" ? "float" : "int");
    cache.set(key, t);
    return t;
  };
}

function toBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

function fileReader(source: string | FetchFile, options: OpenOptions): FetchFile {
  if (typeof source === "function") return source;
  const base = source.endsWith("/") ? source : `${source}/`;
  return async (path: string) => {
    const f = options.fetch ?? (globalThis as unknown as { fetch?: FetchLike }).fetch;
    if (!f) throw new ModelError("cannot read model files: no fetch");
    let response;
    try {
      response = await f(base + path);
    } catch (exc) {
      throw new ModelError(`cannot read ${base + path}: ${(exc as Error).message}`);
    }
    if (!response.ok) {
      throw new ModelError(`cannot read ${base + path}: ${response.status} ${response.statusText}`
        .trimEnd());
    }
    return new Uint8Array(await response.arrayBuffer());
  };
}

/** A model opened for decoding in a page, a worker or Node (see `openModel`). */
export class WebModel {
  readonly name: string;
  readonly sha256: string;
  readonly mode: Mode;
  readonly widths: number[];
  readonly latentCodecs: string[];
  readonly padMultiple: number;
  /** Each level's image is the full size halved this many times. */
  readonly shifts: number[];
  readonly description: WebModelJson;
  private readonly read: FetchFile;
  private readonly options: OpenOptions;
  private readonly levels = new Map<number, Promise<WebLevel>>();
  private readonly sessions = new Map<number, Promise<OrtSession>>();
  private readonly prefetched = new Map<string, Promise<Uint8Array>>();

  constructor(description: WebModelJson, read: FetchFile, options: OpenOptions = {}) {
    this.description = description;
    this.name = description.name;
    this.sha256 = description.sha256;
    this.mode = description.mode;
    this.widths = description.widths;
    this.latentCodecs = description.latent_codecs;
    this.padMultiple = description.pad_multiple;
    this.shifts = description.levels.map((l) => l.shift);
    this.read = read;
    this.options = options;
  }

  /** The onnxruntime-web module given at open, if any. */
  get ortModule(): OrtLike | undefined {
    return this.options.ort;
  }

  /** Number of levels (layers a file of this model can hold). */
  get layers(): number {
    return this.widths.length;
  }

  /** Bytes of model files a decode of `layers` layers fetches (and gzipped). */
  bytesFor(layers: number): { bytes: number; gzipBytes: number } {
    const names = ["model.json"];
    for (let k = 0; k < layers; k++) {
      const f = this.description.levels[k].files;
      names.push(f.graphs, f.arrays);
    }
    names.push(this.description.levels[layers - 1].files.synthesis);
    let bytes = 0, gzipBytes = 0;
    for (const n of names) {
      const info = this.description.files[n];
      if (info) {
        bytes += info.bytes;
        gzipBytes += info.gzip_bytes;
      }
    }
    return { bytes, gzipBytes };
  }

  /** A file of the model's folder, checked against its sha256. */
  file(name: string): Promise<Uint8Array> {
    const early = this.prefetched.get(name);
    if (early) {
      this.prefetched.delete(name); // handed over once: the level or session keeps it
      return early;
    }
    return this.fetchFile(name);
  }

  /**
   * Start fetching (and checking) level `k`'s files that are not loaded yet, without building
   * anything, so that they are in when a decode gets to that level: a decode calls it for
   * the next level while it decodes one. Failures surface when the level is used.
   */
  prefetch(k: number): void {
    const files = this.description.levels[k]?.files;
    if (!files) return;
    const names = this.levels.has(k) ? [] : [files.graphs, files.arrays];
    if (this.options.ort && !this.sessions.has(k)) names.push(files.synthesis);
    for (const name of names) {
      if (this.prefetched.has(name)) continue;
      const data = this.fetchFile(name);
      data.catch(() => this.prefetched.delete(name));
      this.prefetched.set(name, data);
    }
  }

  private async fetchFile(name: string): Promise<Uint8Array> {
    const info = this.description.files[name];
    if (!info) throw new ModelError(`model ${this.name} lists no file ${name}`);
    const data = toBytes(await this.read(name));
    if (this.options.verify !== false && await sha256Hex(data) !== info.sha256) {
      throw new ModelError(`${name} of model ${this.name} does not match its model.json ` +
        "(altered or incomplete export)");
    }
    return data;
  }

  /** Level `k` (0-based): its networks and tables, fetched and built on first use. */
  level(k: number): Promise<WebLevel> {
    let level = this.levels.get(k);
    if (!level) {
      level = this.buildLevel(k);
      this.levels.set(k, level);
      level.catch(() => this.levels.delete(k)); // a failed fetch may be retried
    }
    return level;
  }

  /** Fetch (and check) level `k`'s files and synthesis ahead of a decode. */
  async loadLevel(k: number): Promise<void> {
    await Promise.all([this.level(k), this.options.ort ? this.synthesis(k) : null]);
  }

  private async buildLevel(k: number): Promise<WebLevel> {
    const files = this.description.levels[k]?.files;
    if (!files) throw new ModelError(`model ${this.name} has no level ${k + 1}`);
    const [jsonBytes, blob] = await Promise.all([this.file(files.graphs),
      this.file(files.arrays)]);
    let desc: LevelJson;
    try {
      desc = JSON.parse(utf8(jsonBytes)) as LevelJson;
    } catch {
      throw new ModelError(`${files.graphs} of model ${this.name} is not JSON`);
    }
    if (desc.format !== FORMAT) {
      throw new ModelError(`${files.graphs} of model ${this.name} has format ${desc.format}; ` +
        `this decoder reads format ${FORMAT}: export it again`);
    }
    return levelFromJson(desc, blob, k);
  }

  /** Level `k`'s synthesis session (onnxruntime-web), created on first use. */
  synthesis(k: number): Promise<OrtSession> {
    let session = this.sessions.get(k);
    if (!session) {
      const ort = this.options.ort;
      if (!ort) {
        return Promise.reject(new ModelError("synthesising an image needs onnxruntime-web: " +
          "openModel(source, { ort })"));
      }
      const name = this.description.levels[k].files.synthesis;
      session = this.file(name).then((bytes) => ort.InferenceSession.create(bytes, {
        executionProviders: ["wasm"], ...this.options.sessionOptions }));
      this.sessions.set(k, session);
      session.catch(() => this.sessions.delete(k));
    }
    return session;
  }
}

function levelFromJson(desc: LevelJson, blob: Uint8Array, k: number): WebLevel {
  const arrays = readArrays(desc.arrays, blob);
  const p = `levels.${k}.latent_codec.`;
  const has = (key: string) => key in desc.arrays;
  const tables = (prefix: string): Tables | null => {
    if (!has(prefix + "freqs")) return null;
    const freqs = arrays(prefix + "freqs");
    return buildTables(arrays(prefix + "offsets").data, freqs.data, freqs.shape[1]);
  };
  const density = (prefix: string): FactorizedDensity | null => {
    const t = tables(prefix);
    if (!t) return null;
    const q = arrays(prefix + "quantiles"); // [C, 1, 3]: the medians are column 1
    const medians = new Float64Array(q.shape[0]);
    for (let c = 0; c < medians.length; c++) medians[c] = q.data[c * 3 + 1];
    return { medians, tables: t };
  };
  const graph = (name: string): Graph | null => {
    const spec = desc.graphs[name];
    return spec ? new Graph(name, spec, arrays) : null;
  };
  const family = desc.family;
  const net = family === "conditional" ? graph(`${p}head`)
    : family === "hyperprior" ? graph(`${p}h_s`) : null;
  if (family !== "factorized" && !net) {
    throw new ModelError(`level ${k + 1} (${desc.codec}) has no network in its files`);
  }
  return {
    index: k,
    codec: desc.codec,
    family,
    usePrior: desc.use_prior,
    means: desc.means,
    prediction: k ? graph(`levels.${k}.prediction`) : null,
    net,
    offset: has(p + "offset") ? arrays(p + "offset").data : null,
    factorized: density(p + (family === "hyperprior" ? "z_bottleneck." : "bottleneck.")),
    gaussian: tables(p + "gaussian."),
  };
}

/**
 * Open a model's browser files: `source` is the folder's URL (fetched with `options.fetch`
 * or the global fetch) or a function reading a file by its relative path. Reads
 * `model.json` only; levels are fetched when a decode needs them.
 */
export async function openModel(source: string | FetchFile,
  options: OpenOptions = {}): Promise<WebModel> {
  const read = fileReader(source, options);
  const raw = toBytes(await read("model.json"));
  let desc: WebModelJson;
  try {
    desc = JSON.parse(utf8(raw)) as WebModelJson;
  } catch {
    throw new ModelError("model.json is not JSON");
  }
  if (desc.format !== FORMAT) {
    throw new ModelError(`model.json has format ${desc.format}; this decoder reads format ` +
      `${FORMAT}: export the model again`);
  }
  return new WebModel(desc, read, options);
}
