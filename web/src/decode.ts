/**
 * The whole decode of an `.rpn` file in a page, a worker or Node: the container, each tile's
 * latents level by level (entropy decoding with the tables the float64 networks choose), the
 * float32 synthesis on onnxruntime-web, and the image each layer shows, as
 * `rpncodec decode --layers k` writes it (`rpncodec/codec.py`, `rpncodec/runtime/`): the same
 * size, tiles placed and cropped the same way, float -> uint8 rounded as Python rounds, each
 * tile of a version-4 file snapped to its exact colours (`exact_colours.ts`), and in a
 * corrected layer of a version-5 file then given that layer's colour corrections
 * (`colour_corrections.ts`; a lower layer's are only skipped, and so is a string that does
 * not decode). A residual layer of a version-6
 * file refines the image of the layer below it, tile by tile (`residual_layers.ts`): the last
 * learned layer is decoded as above, then each residual layer in turn.
 *
 * Layers are decoded in order and each is shown as soon as it is ready (`onLayer`): layer k
 * reuses the latents of layers 1..k-1 and runs one synthesis. From a `RangeSource` only the
 * header and the chunks of the layers decoded are read. A `DecodeState` carries the latents
 * (and the images residual layers start from) from one decode of a file to the next, so a
 * file arriving layer by layer can be decoded again as it grows without decoding its first
 * layers again.
 */

import { decodeByChannel, decodeByScale, splitParts } from "./coding";
import { correctTile } from "./colour_corrections";
import {
  type Container, type Header, type Tile, damagedMessage, isCorrected, learnedLayers,
  parseContainer, parseHeader, headerSize, partialNote, selectLayers, splitCorrection,
  splitTiles, tileGrid,
} from "./container";
import { snapTile } from "./exact_colours";
import { BitstreamError, ModelError, RpncodecError, TruncatedError } from "./errors";
import { type Tensor, tensor } from "./graph";
import { checkModelFor, headerShifts } from "./latent";
import { type OrtSession, type WebLevel, type WebModel } from "./model";
import { now } from "./platform";
import { readU32 } from "./bytes";
import { residualTile } from "./residual_layers";

/** Reads bytes `[start, end)` of a file (fewer at its end). */
export interface RangeSource {
  read(start: number, end: number): Promise<Uint8Array>;
  /** The file's size, when known. */
  size?: number;
}

/** One decoded layer, ready for `ImageData`. */
export interface LayerImage {
  /** 1-based. */
  layer: number;
  width: number;
  height: number;
  /** `width * height * 4` bytes, alpha 255. */
  rgba: Uint8ClampedArray;
  /** Time this layer took (entropy decoding, networks and synthesis, every tile). */
  decodeMs: number;
  /** Its parts: entropy decoding, the float64 networks, the synthesis (ms). */
  timings: { entropyMs: number; graphsMs: number; synthesisMs: number };
  /** File bytes up to and including this layer's chunk (its rate). */
  bytes: number;
  /** The image is the full size halved this many times. */
  shift: number;
  /** On the last layer of a decode of every layer that stopped early: the command line's
   * warning (`file is truncated: decoded 2 of 4 layers`); else null. */
  note: string | null;
}

export interface DecodeOptions {
  /** Layers to decode (default: every intact layer). */
  layers?: number | null;
  /** Called with each layer's image, in order, as soon as it is decoded. */
  onLayer?: (layer: number, image: LayerImage) => void | Promise<void>;
  /** Called with every entropy-decoded part (tests, tools): tile and level 0-based, `side`
   * for a hyperprior's side latent. */
  onSymbols?: (tile: number, level: number, part: "side" | "latent", symbols: Int32Array)
    => void;
  /** Stops the decode (between tiles) with the signal's reason. */
  signal?: { aborted: boolean; reason?: unknown };
  /**
   * Kept between decodes of the same file (a file still arriving, decoded again with more
   * layers): the latents of the layers decoded, so the next decode starts where this one
   * stopped. Layers an earlier decode delivered are not delivered again, except the last
   * one asked for when there is nothing new (its image is synthesised again).
   */
  state?: DecodeState;
}

/**
 * The latents of the layers of one file decoded so far (`DecodeOptions.state`), with the file
 * bytes and model they came from: a decode reuses them only for the same model and the same
 * header and chunks. In a file with residual layers it also keeps the images of its last
 * learned layer and of each residual layer decoded (copies: a caller may transfer the images
 * it is given), which the residual layers above start from. Owned by the caller (one per file
 * being viewed); no global state.
 */
export class DecodeState {
  /** The model the latents came from. */
  model: WebModel | null = null;
  /** The file's bytes up to the end of the last layer whose latents are kept. */
  bytes: Uint8Array = new Uint8Array(0);
  /** `latents[tile][level]`. */
  latents: Tensor[][] = [];
  /** `images[k]`: the RGBA image layer k + 1 shows, kept from the last learned layer on in a
   * file with residual layers (absent elsewhere). */
  images: Uint8ClampedArray[] = [];

  /** Layers whose latents are kept for every tile, then the residual layers whose images are
   * kept above them (with the image of the layer below the first). */
  get layers(): number {
    let n = this.latents.length ? Math.min(...this.latents.map((l) => l.length)) : 0;
    if (n > 0 && this.images[n - 1]) while (this.images[n]) n++;
    return n;
  }

  /** How many of the kept layers `data` (parsed as `container`) shares, for `model`. */
  reusable(model: WebModel, data: Uint8Array, container: Container, wanted: number): number {
    if (this.model !== model) return 0;
    let n = Math.min(this.layers, wanted);
    while (n > 0) {
      const end = container.byteRanges[n - 1][1];
      if (end <= this.bytes.length && end <= data.length && equal(this.bytes, data, end)) break;
      n--;
    }
    return n;
  }
}

function equal(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The header of a file from its first bytes (112 bytes always suffice before version 4; a
 * later header's size is known from them: `headerSize`).
 */
export function readHeader(data: Uint8Array): Header {
  return parseHeader(data);
}

/** Python's `ModelError` messages when `model` cannot decode `header`'s file: other weights,
 * another mode or too many layers, layers at other sizes than the model's levels. */
export function checkWebModel(header: Header, model: WebModel): void {
  checkModelFor(header, model, model.shifts);
}

/**
 * Each layer's shift (how many times its image halves the full size): a version-3 header's
 * own, a version-2 file's its mode's for the model's level count; checked against the
 * model's levels (`checkWebModel`).
 */
export function layerShifts(header: Header, model: WebModel): number[] {
  checkWebModel(header, model);
  return headerShifts(header, model.shifts);
}

// -- reading a file: whole, or chunk by chunk from a range source ------------------------------
// the largest header before version 4; it holds a later header's tools byte and palette size
const HEADER_MAX = 7 + 64 + 21 + 16 + 4;

class FileReader {
  data: Uint8Array;
  private complete: boolean;

  constructor(private source: Uint8Array | RangeSource) {
    this.complete = source instanceof Uint8Array;
    this.data = source instanceof Uint8Array ? source : new Uint8Array(0);
  }

  /** Make sure the first `end` bytes are read (or all there are). */
  async ensure(end: number): Promise<void> {
    if (this.complete || this.data.length >= end) return;
    const src = this.source as RangeSource;
    const want = src.size !== undefined ? Math.min(end, src.size) : end;
    if (want <= this.data.length) {
      this.complete = true;
      return;
    }
    const more = await src.read(this.data.length, want);
    const joined = new Uint8Array(this.data.length + more.length);
    joined.set(this.data);
    joined.set(more, this.data.length);
    if (joined.length < want) this.complete = true;
    this.data = joined;
  }

  /**
   * The container with the first `layers` chunks read (null: every declared one), and the
   * next chunk's 8-byte header too, so each further layer costs one read.
   */
  async container(layers: number | null): Promise<Container> {
    await this.ensure(HEADER_MAX);
    // the palette and radii, the corrected-layers mask and the residual steps
    await this.ensure(headerSize(this.data) ?? 0);
    const header = parseHeader(this.data);
    let pos = header.size;
    const wanted = layers ?? header.layers;
    await this.ensure(pos + 8);
    for (let k = 0; k < Math.min(wanted, header.layers); k++) {
      if (this.data.length < pos + 8) break;
      const end = pos + 8 + readU32(this.data, pos);
      await this.ensure(end + 8);
      pos = end;
    }
    return parseContainer(this.data);
  }
}

// -- the latents ----------------------------------------------------------------------------------
function crop(x: Tensor, h: number, w: number): Tensor {
  const [n, c, xh, xw] = x.shape;
  if (xh === h && xw === w) return x;
  if (xh < h || xw < w) throw new Error(`cannot crop ${xh}x${xw} to ${h}x${w}`);
  const out = new Float64Array(n * c * h * w);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) {
      const src = (p * xh + y) * xw;
      out.set(x.data.subarray(src, src + w), (p * h + y) * w);
    }
  }
  return tensor([n, c, h, w], out);
}

function upNearest2(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  const out = new Float64Array(n * c * 4 * h * w);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < 2 * h; y++) {
      const src = (p * h + (y >> 1)) * w;
      const dst = (p * 2 * h + y) * 2 * w;
      for (let x2 = 0; x2 < 2 * w; x2++) out[dst + x2] = x.data[src + (x2 >> 1)];
    }
  }
  return tensor([n, c, 2 * h, 2 * w], out);
}

function concatChannels(xs: Tensor[]): Tensor {
  const [, , h, w] = xs[0].shape;
  const c = xs.reduce((a, x) => a + x.shape[1], 0);
  const out = new Float64Array(c * h * w);
  let pos = 0;
  for (const x of xs) {
    out.set(x.data, pos);
    pos += x.data.length;
  }
  return tensor([1, c, h, w], out);
}

/** `symbols + medians[c]` (+ `prior`), as `Factorized.decompress` and its codec. */
function dequantize(symbols: Int32Array, medians: Float64Array, h: number, w: number,
  prior: Tensor | null): Tensor {
  const out = new Float64Array(symbols.length);
  const plane = h * w;
  for (let c = 0; c < medians.length; c++) {
    const m = medians[c];
    for (let i = c * plane; i < (c + 1) * plane; i++) out[i] = symbols[i] + m;
  }
  if (prior) for (let i = 0; i < out.length; i++) out[i] = prior.data[i] + out[i];
  return tensor([1, medians.length, h, w], out);
}

/** (shift, scale) of a network's output: `offset (+ out[c:])`, `exp(out[:c])`. */
function split(out: Tensor, offset: Float64Array, means: boolean): { shift: Float64Array;
  scale: Float64Array } {
  const c = offset.length;
  const [, , h, w] = out.shape;
  const plane = h * w;
  const shift = new Float64Array(c * plane);
  const scale = new Float64Array(c * plane);
  for (let ch = 0; ch < c; ch++) {
    const o = offset[ch];
    for (let i = 0; i < plane; i++) {
      const j = ch * plane + i;
      shift[j] = means ? o + out.data[c * plane + j] : o;
      scale[j] = Math.exp(out.data[j]);
    }
  }
  return { shift, scale };
}

interface Clock {
  entropy: number;
  graphs: number;
}

function timed<T>(clock: Clock, part: keyof Clock, fn: () => T): T {
  const t0 = now();
  try {
    return fn();
  } finally {
    clock[part] += now() - t0;
  }
}

/** One level's latent of one tile (`RuntimeLevel.decompress` and its latent codec). */
type SymbolHook = (part: "side" | "latent", symbols: Int32Array) => void;

function decodeLevel(level: WebLevel, data: Uint8Array, size: [number, number],
  lower: Tensor | null, clock: Clock, hook: SymbolHook | null): Tensor {
  const [h, w] = size;
  const prior = level.prediction && lower
    ? timed(clock, "graphs", () => crop(level.prediction!.run(lower), h, w)) : null;
  if (level.family === "factorized") {
    const d = level.factorized!;
    const symbols = timed(clock, "entropy", () => decodeByChannel(data, d.medians.length, size,
      d.tables));
    hook?.("latent", symbols);
    return dequantize(symbols, d.medians, h, w, prior);
  }
  let out: Tensor;
  if (level.family === "hyperprior") {
    const d = level.factorized!;
    const [z, y] = splitParts(data, "side information");
    const zh = Math.ceil(h / 4), zw = Math.ceil(w / 4);
    const zSymbols = timed(clock, "entropy", () => decodeByChannel(z, d.medians.length,
      [zh, zw], d.tables));
    hook?.("side", zSymbols);
    const zHat = dequantize(zSymbols, d.medians, zh, zw, null);
    out = timed(clock, "graphs", () => crop(level.net!.run(zHat), h, w));
    data = y;
  } else {
    if (!lower || !prior) throw new ModelError(`${level.codec} cannot code level 1`);
    const up = lower.shape[2] !== h || lower.shape[3] !== w ? crop(upNearest2(lower), h, w)
      : lower;
    out = timed(clock, "graphs", () => level.net!.run(concatChannels([up, prior])));
  }
  const { shift, scale } = split(out, level.offset!, level.means);
  const symbols = timed(clock, "entropy", () => decodeByScale(data, scale, level.gaussian!));
  hook?.("latent", symbols);
  const latent = new Float64Array(symbols.length);
  const usePrior = level.family === "conditional" && level.usePrior;
  for (let i = 0; i < latent.length; i++) {
    const r = symbols[i] + shift[i];
    latent[i] = usePrior ? prior!.data[i] + r : r;
  }
  return tensor([1, symbols.length / (h * w), h, w], latent);
}

/** Round half to even (numpy's `round`). */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/**
 * Write a float32 `[1, 3, H, W]` synthesis into the RGBA image at `(y0, x0)`, cropped to
 * `h x w`: NaN -> 0, clipped to [0, 1], times 255 and rounded half to even in float32
 * (`rpncodec.runtime.images.to_image`).
 */
function place(x: Float32Array, sh: number, sw: number, rgba: Uint8ClampedArray, width: number,
  y0: number, x0: number, h: number, w: number): void {
  const plane = sh * sw;
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < w; xx++) {
      const src = y * sw + xx;
      const dst = ((y0 + y) * width + x0 + xx) * 4;
      for (let c = 0; c < 3; c++) {
        let v = x[c * plane + src];
        if (v !== v) v = 0;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        rgba[dst + c] = roundEven(Math.fround(v * 255));
      }
      rgba[dst + 3] = 255;
    }
  }
}

async function synthesize(session: OrtSession, model: WebModel, ort: NonNullable<
  WebModel["ortModule"]>, latents: Tensor[]): Promise<{ data: Float32Array; h: number;
  w: number }> {
  const x = concatChannels(latents);
  const input = new ort.Tensor("float32", Float32Array.from(x.data), x.shape);
  const result = await session.run({ x: input });
  const y = result.y ?? Object.values(result)[0];
  if (!y || y.dims.length !== 4 || y.dims[1] !== 3) {
    throw new ModelError(`synthesis of ${model.name} gave no [1, 3, H, W] image`);
  }
  return { data: y.data as Float32Array, h: y.dims[2], w: y.dims[3] };
}

/**
 * Run `fn`, reporting a `BitstreamError` inside as the command line does: layer `k`
 * (1-based) of `header` is damaged, in tile `i` of `tiles` when there are several.
 */
function inTile<T>(header: Header, k: number, i: number, tiles: number, fn: () => T): T {
  try {
    return fn();
  } catch (exc) {
    if (!(exc instanceof BitstreamError)) throw exc;
    const where = tiles > 1 ? `tile ${i + 1} of ${tiles}: ` : "";
    const error = new BitstreamError(damagedMessage(k, header.layers, `${where}${exc.message}`));
    error.layer = k;
    throw error;
  }
}

const NO_CORRECTION = new Uint8Array(0);

/** `[y0, x0, h, w]`: where a tile `[top, left, th, tw]` of the full image lies in a layer of
 * shift `s` (its offset and far edge scaled, rounding up). */
function tileAt([top, left, th, tw]: Tile, s: number): [number, number, number, number] {
  const f = 2 ** s;
  const y0 = top >> s, x0 = left >> s;
  return [y0, x0, Math.ceil((top + th) / f) - y0, Math.ceil((left + tw) / f) - x0];
}

function abortCheck(signal: DecodeOptions["signal"]): void {
  if (signal?.aborted) {
    throw signal.reason ?? new RpncodecError("decode aborted");
  }
}

/**
 * Decode the first `layers` layers of an `.rpn` file (`source`: its bytes or a range reader)
 * with `model`, calling `onLayer` with each layer's image in order; returns the last.
 * Errors are the command line's for the same file (`RpncodecError` subclasses): a damaged
 * layer k is reported after layers 1..k-1 were delivered.
 */
export async function decodeLayers(model: WebModel, source: Uint8Array | RangeSource,
  options: DecodeOptions = {}): Promise<LayerImage> {
  const reader = new FileReader(source);
  const layersArg = options.layers ?? null;
  const container = await reader.container(layersArg);
  const header = container.header;
  const chunks = selectLayers(container, layersArg);
  const shifts = layerShifts(header, model);
  const tiles = tileGrid(header.height, header.width, header.tile);
  const strings = chunks.map((chunk) => splitTiles(chunk, tiles.length));
  const ort = model.ortModule;
  if (!ort) {
    throw new ModelError("synthesising an image needs onnxruntime-web: " +
      "openModel(source, { ort })");
  }
  const m = model.padMultiple;
  const top = (t: Tile): [number, number] => [Math.ceil(t[2] / m) * (m / 16),
    Math.ceil(t[3] / m) * (m / 16)];
  // the layers 1..learned hold latents; the residual layers after them refine its image
  const learned = learnedLayers(header);
  const residual = header.steps.length > 0;
  const state = options.state ?? new DecodeState();
  let reuse = state.reusable(model, reader.data, container, chunks.length);
  if (reuse >= learned && residual && !state.images[learned - 1]) reuse = learned - 1;
  if (!reuse) {
    state.model = model;
    state.latents = tiles.map(() => []);
    state.images = [];
  }
  const latents = state.latents;
  for (const l of latents) l.length = Math.min(reuse, learned);
  state.images.length = Math.min(state.images.length, reuse);
  let last: LayerImage | null = null;
  // layers decoded before are skipped, but the last one asked for is always shown
  for (let k = Math.min(reuse, chunks.length - 1); k < chunks.length; k++) {
    const t0 = now();
    const clock: Clock = { entropy: 0, graphs: 0 };
    let synthesisMs = 0;
    const s = shifts[k];
    const f = 2 ** s;
    const width = Math.ceil(header.width / f), height = Math.ceil(header.height / f);
    let rgba: Uint8ClampedArray;
    if (k >= learned) { // a residual layer over the image of the layer below it
      if (k < reuse) {
        rgba = state.images[k].slice(); // decoded before: shown again
      } else {
        rgba = state.images[k - 1].slice();
        for (let i = 0; i < tiles.length; i++) {
          abortCheck(options.signal);
          const [y0, x0, h, w] = tileAt(tiles[i], s);
          inTile(header, k + 1, i, tiles.length, () => timed(clock, "entropy", () =>
            residualTile(rgba, width, y0, x0, h, w, header.steps[k], strings[k][i])));
        }
        state.images[k] = rgba.slice();
      }
    } else {
      const [level, session] = await Promise.all([k < reuse ? null : model.level(k),
        model.synthesis(k)]);
      // the next learned level is fetched while this layer decodes
      if (k + 1 < Math.min(chunks.length, learned)) model.prefetch(k + 1);
      rgba = new Uint8ClampedArray(width * height * 4);
      for (let i = 0; i < tiles.length; i++) {
        abortCheck(options.signal);
        const [th0, tw0] = top(tiles[i]);
        const size: [number, number] = [th0 >> model.shifts[k], tw0 >> model.shifts[k]];
        // a corrected layer's tile string: its learned part, then this layer's corrections
        const [part, correction] = isCorrected(header, k + 1)
          ? inTile(header, k + 1, i, tiles.length, () => splitCorrection(strings[k][i]))
          : [strings[k][i], NO_CORRECTION];
        if (k >= reuse) { // else its latent was decoded before: only the synthesis to run
          const onSymbols = options.onSymbols;
          const hook: SymbolHook | null = onSymbols ? (kind, sym) => onSymbols(i, k, kind, sym)
            : null;
          latents[i].push(inTile(header, k + 1, i, tiles.length, () => decodeLevel(level!,
            part, size, k ? latents[i][k - 1] : null, clock, hook)));
        }
        const inputs = model.description.levels[k].synthesis_inputs.map((j) => latents[i][j]);
        const t1 = now();
        const img = await synthesize(session, model, ort, inputs);
        synthesisMs += now() - t1;
        const [y0, x0, th, tw] = tileAt(tiles[i], s);
        const h = Math.min(th, img.h), w = Math.min(tw, img.w);
        place(img.data, img.h, img.w, rgba, width, y0, x0, h, w);
        if (header.palette.length) { // exact colours: the tile alone, with this layer's radii
          const [r1, r2] = header.radii[k];
          snapTile(rgba, width, y0, x0, h, w, header.palette, r1, r2);
          try {
            correctTile(rgba, width, y0, x0, h, w, header.palette, correction);
          } catch (exc) {
            // a correction string that does not decode is skipped (`finish_tile`): its
            // contexts come from the snapped pixels, which a learned layer a level off
            // Python's may snap otherwise; the tile then shows them uncorrected
            if (!(exc instanceof BitstreamError)) throw exc;
          }
        }
      }
      // the image the first residual layer starts from (a copy: `rgba` is the caller's)
      if (residual && k === learned - 1) state.images[k] = rgba.slice();
    }
    if (k >= reuse) state.bytes = reader.data.slice(0, container.byteRanges[k][1]);
    const isLast = k === chunks.length - 1;
    last = {
      layer: k + 1, width, height, rgba, decodeMs: now() - t0,
      timings: { entropyMs: clock.entropy, graphsMs: clock.graphs, synthesisMs },
      bytes: container.byteRanges[k][1], shift: s,
      note: isLast && layersArg === null ? partialNote(container, chunks.length) : null,
    };
    if (options.onLayer) await options.onLayer(k + 1, last);
  }
  if (!last) throw new TruncatedError("no layer to decode");
  return last;
}
