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

/** sha256 of `data` as hex (WebCrypto: pages, workers and Node 20). */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const subtle = (globalThis as unknown as { crypto?: { subtle?: { digest(a: string,
    d: Uint8Array): Promise<ArrayBuffer> } } }).crypto?.subtle;
  if (!subtle) throw new ModelError("cannot check model files: WebCrypto is not available");
  return hex(await subtle.digest("SHA-256", data));
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
  async file(name: string): Promise<Uint8Array> {
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
