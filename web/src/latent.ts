/**
 * Decoding a file's latent symbols for a model: the container, the tiles, each level's
 * latent size, and the entropy decoding of every part whose tables need no network: the
 * `factorized` codec's latent (by channel, one table per channel) and the side latent `z`
 * of the `hyperprior` codecs. Parts coded by scale need the scale networks first, and are
 * left null here.
 */

import { type Tables, buildTables } from "./ans";
import { decodeByChannel, splitParts } from "./coding";
import {
  type Container, type Header, type Mode, type Tile, damagedMessage, defaultShifts,
  isCorrected, learnedLayers, parseContainer, selectLayers, splitCorrection, splitTiles,
  tileGrid,
} from "./container";
import { BitstreamError, ModelError } from "./errors";

/** A level's latent codec and its coding tables. */
export interface LevelCodec {
  /** The codec's name (`latent_codecs` in the model's configuration). */
  codec: string;
  /** The per-channel tables: the latent's (`factorized`) or the side latent's
   * (`hyperprior*`); null for the other codecs. */
  factorized: Tables | null;
  /** The 64 tables chosen by scale (the codecs coded by scale), or null. */
  gaussian: Tables | null;
}

/** What the decoder needs to know of a model to decode the factorized parts of its files. */
export interface ModelInfo {
  name: string;
  /** The weights file's sha256, hex (a file names its first 8 bytes). */
  sha256: string;
  mode: Mode;
  /** Channels of each level's latent, lowest level first. */
  widths: number[];
  /** How many times each level's image halves the full size (the model's layer shifts;
   * default: its mode's, `defaultShifts`). */
  shifts?: number[];
  levels: LevelCodec[];
}

const LATENT_STRIDE = 16;
const HYPERPRIOR = new Set(["hyperprior", "hyperprior-ms"]);

/** Each level's shift: the model's own, or its mode's for as many levels as it has. */
export function modelShifts(model: Pick<ModelInfo, "mode" | "widths" | "shifts">): number[] {
  return model.shifts ?? defaultShifts(model.mode, model.widths.length);
}

/** Input sides are padded to a multiple of this: 16, times 2 per halving of level 1. */
export function padMultiple(model: Pick<ModelInfo, "mode" | "widths" | "shifts">): number {
  return LATENT_STRIDE << modelShifts(model)[0];
}

/** Each level's latent `[height, width]` for a tile of `height x width` pixels: the top
 * (full-size) latent halved by the level's shift. */
export function levelSizes(model: Pick<ModelInfo, "mode" | "widths" | "shifts">,
  height: number, width: number): Array<[number, number]> {
  const m = padMultiple(model);
  const f = m / LATENT_STRIDE;
  const top: [number, number] = [Math.ceil(height / m) * f, Math.ceil(width / m) * f];
  return modelShifts(model).map((s) => [top[0] >> s, top[1] >> s]);
}

/** The factorized parts of one level of one tile (null where a network is needed). */
export interface LevelSymbols {
  /** The latent's symbols `[C, h, w]` (factorized codec), or null. */
  latent: Int32Array | null;
  /** The side latent's symbols `[C, ceil(h/4), ceil(w/4)]` (hyperprior codecs), or null. */
  side: Int32Array | null;
}

export interface DecodedSymbols {
  container: Container;
  /** Layers decoded. */
  layers: number;
  tiles: Tile[];
  /** `symbols[tile][level]`. */
  symbols: LevelSymbols[][];
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Refuse a model that cannot decode `header`'s file, with the command line's messages
 * (`rpncodec.codec.model_for`): other weights, another mode or too many learned layers, or
 * learned layers at other sizes than the model's (`shifts`: the model's, one per level). The
 * residual layers of a version-6 file need no level: a file may have more layers than its
 * model.
 */
export function checkModelFor(header: Header, model: { name: string; sha256: string;
  mode: Mode }, shifts: number[]): void {
  const digest = hex(header.digest);
  if (model.sha256.slice(0, 16).toLowerCase() !== digest) {
    throw new ModelError(`file was encoded with ${header.model} weights ${digest}, but ` +
      `${model.name} has ${model.sha256.slice(0, 16)}; decode with those weights`);
  }
  const learned = learnedLayers(header);
  if (model.mode !== header.mode || learned > shifts.length) {
    throw new ModelError(`file declares a ${header.mode} stream of ${learned} learned layers, ` +
      `which ${model.name} (${model.mode}, ${shifts.length} layers) cannot decode`);
  }
  const declared = headerShifts(header, shifts);
  if (declared.slice(0, learned).some((s, k) => s !== shifts[k])) {
    throw new ModelError(`file declares layer shifts [${declared.join(", ")}], but ` +
      `${model.name}'s layers have [${shifts.join(", ")}]`);
  }
}

/**
 * The shifts of `header`'s layers: a version-3 header's own; a version-2 file's (no shift
 * bytes) its mode's for a model of `shifts.length` levels, as the Python decoder reads a
 * version-2 file of a shipped model.
 */
export function headerShifts(header: Header, shifts: number[]): number[] {
  return header.version >= 3 ? header.shifts
    : defaultShifts(header.mode, header.layers, shifts.length);
}

/** Refuse a model that cannot decode `header`'s file (the command line's messages). */
export function checkModel(header: Header, model: ModelInfo): void {
  checkModelFor(header, model, modelShifts(model));
}

function decodeLevel(data: Uint8Array, level: LevelCodec, channels: number,
  size: [number, number]): LevelSymbols {
  const tables = level.factorized;
  if (level.codec === "factorized" && tables) {
    return { latent: decodeByChannel(data, channels, size, tables), side: null };
  }
  if (HYPERPRIOR.has(level.codec) && tables) {
    const [z] = splitParts(data, "side information");
    const zSize: [number, number] = [Math.ceil(size[0] / 4), Math.ceil(size[1] / 4)];
    return { latent: null, side: decodeByChannel(z, tables.offsets.length, zSize, tables) };
  }
  return { latent: null, side: null };
}

/** Stored tables as JSON: `offsets` (one per row) and `freqs` (`rows x length`, flat). */
export interface TablesJson {
  offsets: number[];
  freqs: number[];
  length: number;
}

/** A model's description as JSON (what `scripts/web_export.py` writes). */
export interface ModelJson {
  name: string;
  sha256: string;
  mode: Mode;
  widths: number[];
  /** The model's layer shifts (absent from older descriptions: the mode's). */
  shifts?: number[];
  levels: Array<{ codec: string; factorized: TablesJson | null; gaussian: TablesJson | null }>;
}

function tablesFromJson(t: TablesJson | null): Tables | null {
  return t && buildTables(t.offsets, t.freqs, t.length);
}

/** A `ModelInfo` from its JSON description, with every table built. */
export function modelFromJson(json: ModelJson): ModelInfo {
  if (json.levels.length !== json.widths.length) {
    throw new Error(`model ${json.name}: ${json.levels.length} levels for ` +
      `${json.widths.length} widths`);
  }
  if (json.shifts && json.shifts.length !== json.widths.length) {
    throw new Error(`model ${json.name}: ${json.shifts.length} shifts for ` +
      `${json.widths.length} levels`);
  }
  return {
    name: json.name,
    sha256: json.sha256,
    mode: json.mode,
    widths: json.widths,
    shifts: json.shifts ?? defaultShifts(json.mode, json.widths.length),
    levels: json.levels.map((level) => ({
      codec: level.codec,
      factorized: tablesFromJson(level.factorized),
      gaussian: tablesFromJson(level.gaussian),
    })),
  };
}

/**
 * The factorized symbols of the first `layers` layers (null: every intact layer) of the file
 * `data`, tile by tile: of each learned layer's learned part (a corrected layer's correction
 * string and the residual layers hold no latent, so `symbols[tile]` has one entry per learned
 * layer decoded). Errors are those of `rpncodec decode` for the same file: a damaged string
 * names its layer (and tile) and the `--layers` that still decodes.
 */
export function decodeSymbols(data: Uint8Array, model: ModelInfo,
  layers: number | null = null): DecodedSymbols {
  const container = parseContainer(data);
  const header = container.header;
  const chunks = selectLayers(container, layers);
  checkModel(header, model);
  const tiles = tileGrid(header.height, header.width, header.tile);
  const strings = chunks.slice(0, learnedLayers(header))
    .map((chunk) => splitTiles(chunk, tiles.length));
  const symbols = tiles.map(([, , th, tw], i) => {
    const sizes = levelSizes(model, th, tw);
    return strings.map((layer, k) => {
      try {
        const part = isCorrected(header, k + 1) ? splitCorrection(layer[i])[0] : layer[i];
        return decodeLevel(part, model.levels[k], model.widths[k], sizes[k]);
      } catch (exc) {
        if (!(exc instanceof BitstreamError)) throw exc;
        const where = tiles.length > 1 ? `tile ${i + 1} of ${tiles.length}: ` : "";
        const error = new BitstreamError(
          damagedMessage(k + 1, header.layers, `${where}${exc.message}`));
        error.layer = k + 1;
        throw error;
      }
    });
  });
  return { container, layers: chunks.length, tiles, symbols };
}
