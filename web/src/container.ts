/**
 * The `.rpn` container (format versions 2 to 6; docs/format.md): the header, the layer
 * chunks with their CRCs, the tile grid, and the rules for a cut or damaged file. Version 3
 * adds one shift byte per layer (its image is the full size halved that many times) and the
 * spatial-quality mode; a version-2 file's shifts follow from its mode. Version 4 adds exact
 * colours: a palette and two radii per layer (`exact_colours.ts` applies them). Version 5 adds
 * a mask of the layers whose tile strings carry colour corrections after their learned part
 * (`splitCorrection`; `colour_corrections.ts` applies them). Version 6 adds a tools byte
 * naming which of those fields follow, and one residual step per layer: the last layers may
 * be residual layers (`residual_layers.ts` applies them), which refine the layer below them.
 *
 * `parseContainer` is tolerant, like `rpncodec.bitstream.parse`: header problems throw, but a
 * chunk that is cut short or damaged only ends the usable prefix, and the result says why.
 * `selectLayers` applies the policy of what a request for k layers may use, with the
 * command line's messages.
 */

import { readU32 } from "./bytes";
import { crc32 } from "./crc32";
import { BitstreamError, RpncodecError, TruncatedError } from "./errors";

export const MAGIC: readonly number[] = Object.freeze([0x89, 0x52, 0x50, 0x4e]);
export const FORMAT_VERSION = 3;
/** A file with exact colours (a palette and per-layer radii in its header). */
export const EXACT_COLOURS_VERSION = 4;
/** A file with exact colours and colour corrections (a u16 mask of layers after the radii). */
export const CORRECTIONS_VERSION = 5;
/** A file with residual layers; its tools byte says which fields follow the shifts. */
export const RESIDUAL_VERSION = 6;
/** The bits of a version-6 header's tools byte. */
export const TOOL_EXACT = 1;
export const TOOL_CORRECTIONS = 2;
export const TOOL_RESIDUAL = 4;
/** The versions this decoder reads. */
export const READ_VERSIONS: readonly number[] = Object.freeze([2, 3, 4, 5, 6]);
/** Mode byte -> mode (the format's numbering; never renumbered). */
export const MODES = Object.freeze(["quality", "spatial", "single", "spatial-quality"] as const);
export type Mode = (typeof MODES)[number];
export const MAX_SIDE = 65536;
export const MAX_PIXELS = 2 ** 28;
export const TILE_MULTIPLE = 64;
export const MAX_TILE = 2048;
export const MAX_LAYERS = 16;
/** A layer is at most a quarter of the full size. */
export const MAX_SHIFT = 2;
export const MAX_PAYLOAD = 2 ** 31;
export const CHUNK_OVERHEAD = 8;
const FIXED = 7; // magic, version, mode, name length
const TAIL = 21; // digest, height, width, tile side, layers
const CORRECTED_SIZE = 2; // version 5: the corrected-layers mask, a big-endian u16

/** What a decoder needs to know before reading any layer. */
export interface Header {
  mode: Mode;
  model: string;
  /** The first 8 bytes of the weights file's sha256. */
  digest: Uint8Array;
  height: number;
  width: number;
  tile: number;
  layers: number;
  /** The format version (2 to 6). */
  version: number;
  /**
   * Each layer's image is the full size halved this many times (rounding up). Version 3
   * stores them; for version 2 they are the mode's (`defaultShifts`) for a model of as many
   * levels as the file declares: a decoder that knows the model's level count (a spatial
   * file cut by `truncate` declares fewer) recomputes them with it.
   */
  shifts: number[];
  /**
   * Exact colours (version 4): RGB triples, most frequent first, which each layer's tiles are
   * snapped to (`snapTile`); empty before version 4.
   */
  palette: Uint8Array;
  /** Per layer, its two snapping radii `[r1, r2]` (version 4); empty before version 4. */
  radii: Array<[number, number]>;
  /**
   * Colour corrections (version 5): bit `k - 1` is set when layer k's tile strings carry them
   * (`isCorrected`, `splitCorrection`); 0 before version 5.
   */
  corrected: number;
  /**
   * Which of the tools the header's fields are for: `TOOL_EXACT`, `TOOL_CORRECTIONS` and
   * `TOOL_RESIDUAL` bits (version 6's tools byte; version 4 has exact colours, version 5 both
   * of those; 0 before version 4).
   */
  tools: number;
  /**
   * Residual layers (version 6): per layer its step, 0 for a learned layer and 1-255 for a
   * residual one, which are the last layers (`learnedLayers`); empty before version 6.
   */
  steps: number[];
  /** Bytes of the header, CRC included. */
  size: number;
}

/**
 * The layer shifts of a mode's first `layers` layers for a model of `levels` levels (default
 * `layers`): what a version-2 file means. Spatial: n-1, ..., 0; spatial-quality: 2, 1, 0, 0...
 */
export function defaultShifts(mode: Mode, layers: number, levels: number | null = null): number[] {
  const n = Math.max(levels ?? layers, layers);
  return Array.from({ length: layers }, (_, k) => mode === "spatial" ? n - 1 - k
    : mode === "spatial-quality" ? Math.max(2 - k, 0) : 0);
}

/** Why a header's layer shifts are impossible, or null. */
export function shiftsProblem(shifts: number[]): string | null {
  if (shifts.some((s) => s < 0 || s > MAX_SHIFT)) {
    return `layer shifts [${shifts.join(", ")}] (each must be 0 to ${MAX_SHIFT})`;
  }
  if (shifts.some((s, i) => i > 0 && shifts[i - 1] < s)) {
    return `layer shifts [${shifts.join(", ")}] (a layer cannot be smaller than the one before)`;
  }
  return null;
}

/** The header and the intact prefix of the layer chunks. */
export interface Container {
  header: Header;
  /** Payloads of the intact chunks, lowest layer first (views into the file's bytes). */
  chunks: Uint8Array[];
  /** `chunks.length`: how many layers can be decoded. */
  available: number;
  /** The 1-based layer whose chunk is damaged, or null. */
  damaged: number | null;
  /** Why chunk `damaged` is bad: "CRC mismatch" or a bad length. */
  damage: string | null;
  /** The file ends inside a declared chunk (or its 8-byte chunk header). */
  truncated: boolean;
  /** `[start, end)` byte offsets of each intact chunk, its 8-byte chunk header included. */
  byteRanges: Array<[number, number]>;
  /** Bytes after the last declared chunk (ignored). */
  trailing: number;
}

/** Why a `height x width` image is refused, or null (the text follows "declares"). */
export function sizeProblem(height: number, width: number): string | null {
  if (height < 1 || width < 1) return `an empty ${width}x${height} image`;
  if (height > MAX_SIDE || width > MAX_SIDE || height * width > MAX_PIXELS) {
    return (`a ${width}x${height} image, above the limit of ${MAX_SIDE} pixels per side ` +
      `and ${MAX_PIXELS} pixels in total`);
  }
  return null;
}

/** Why `tile` is not an acceptable tile side, or null. */
export function tileProblem(tile: number): string | null {
  if (tile < TILE_MULTIPLE || tile > MAX_TILE || tile % TILE_MULTIPLE) {
    return `a tile side of ${tile} (must be a multiple of ${TILE_MULTIPLE} from ` +
      `${TILE_MULTIPLE} to ${MAX_TILE})`;
  }
  return null;
}

/**
 * The header's size in bytes (CRC included) as far as the first bytes of a file tell, or
 * null when they end before the fields it depends on: the name length, the layer count
 * (version 3 on), version 6's tools byte and the palette size (version 4 and 5, and version 6
 * with exact colours; version 5 adds the 2-byte mask, version 6 the mask if its tools name
 * colour corrections and one step byte per layer). No check: `parseHeader` makes them.
 */
export function headerSize(data: Uint8Array): number | null {
  if (data.length < FIXED) return null;
  const version = data[4];
  const tail = FIXED + data[6];
  let size = tail + TAIL + 4;
  let layers = 0;
  if (version >= 3) { // one shift byte per layer: the layer count comes first
    if (data.length < tail + TAIL) return null;
    layers = data[tail + TAIL - 1];
    size += layers;
  }
  let at = size - 4; // where the tools byte, or the colour count, is
  let tools = impliedTools(version);
  if (version >= RESIDUAL_VERSION) { // the tools byte comes first
    if (data.length <= at) return null;
    tools = data[at];
    size += 1;
    at += 1;
  }
  if (tools & TOOL_EXACT) { // exact colours: their count comes first
    if (data.length <= at) return null;
    size += 1 + 3 * (data[at] + 1) + 2 * layers;
  }
  if (tools & TOOL_CORRECTIONS) size += CORRECTED_SIZE; // the corrected-layers mask
  if (tools & TOOL_RESIDUAL) size += layers; // one residual step per layer
  return size;
}

/** The tools a header of `version` has without a tools byte (versions 2 to 5). */
function impliedTools(version: number): number {
  return version === EXACT_COLOURS_VERSION ? TOOL_EXACT
    : version === CORRECTIONS_VERSION ? TOOL_EXACT | TOOL_CORRECTIONS : 0;
}

/** Whether a version-6 tools byte breaks its rules: residual layers named, no unknown bit,
 * colour corrections only with exact colours. */
function badTools(tools: number): boolean {
  return tools >= 2 * TOOL_RESIDUAL || !(tools & TOOL_RESIDUAL) ||
    ((tools & TOOL_CORRECTIONS) !== 0 && !(tools & TOOL_EXACT));
}

/** The number of learned layers of a file: those before its first residual layer. */
export function learnedLayers(header: Pick<Header, "layers" | "steps">): number {
  const k = header.steps.findIndex((s) => s !== 0);
  return k < 0 ? header.layers : k;
}

/**
 * Read and check the header at the start of `data`, in the order the format page gives:
 * magic, version, completeness, CRC, mode byte, name characters, limits.
 */
export function parseHeader(data: Uint8Array): Header {
  if (data.length === 0) {
    throw new TruncatedError("file is empty (0 bytes), so it holds no .rpn header");
  }
  for (let i = 0; i < Math.min(data.length, MAGIC.length); i++) {
    if (data[i] !== MAGIC[i]) throw new BitstreamError("not an .rpn file (wrong magic)");
  }
  if (data.length > 4 && !READ_VERSIONS.includes(data[4])) {
    throw new BitstreamError(`unsupported .rpn format version ${data[4]} ` +
      `(this rpncodec reads versions ${READ_VERSIONS[0]} to ` +
      `${READ_VERSIONS[READ_VERSIONS.length - 1]})`);
  }
  if (data.length < FIXED) {
    throw new TruncatedError(`file is truncated inside its header (only ${data.length} bytes)`);
  }
  const version = data[4];
  const modeByte = data[5];
  const nameLength = data[6];
  if (nameLength < 1 || nameLength > 64) {
    throw new BitstreamError(`damaged .rpn header (model name length ${nameLength})`);
  }
  const tail = FIXED + nameLength;
  const shiftsAt = tail + TAIL;
  if (version >= RESIDUAL_VERSION && data.length >= shiftsAt) {
    // the tools byte is refused as soon as it is there, before the fields it names
    const toolsAt = shiftsAt + data[shiftsAt - 1];
    if (data.length > toolsAt && badTools(data[toolsAt])) {
      throw new BitstreamError(`damaged .rpn header (tools byte 0x${data[toolsAt].toString(16)})`);
    }
  }
  // null: the file ends before the layer count (version 3 on), the tools byte (version 6) or
  // the palette size (exact colours)
  const size = headerSize(data);
  if (size === null) {
    throw new TruncatedError(`file is truncated inside its header (only ${data.length} bytes)`);
  }
  if (data.length < size) {
    throw new TruncatedError(
      `file is truncated inside its header (only ${data.length} of ${size} bytes)`);
  }
  if (crc32(data.subarray(0, size - 4)) !== readU32(data, size - 4)) {
    throw new BitstreamError("damaged .rpn header (CRC mismatch)");
  }
  if (modeByte >= MODES.length) {
    throw new BitstreamError(
      `unknown .rpn mode byte ${modeByte} (expected 0 to ${MODES.length - 1})`);
  }
  const nameBytes = data.subarray(FIXED, FIXED + nameLength);
  if (!nameBytes.every((b) => /[A-Za-z0-9._-]/.test(String.fromCharCode(b)))) {
    throw new BitstreamError(
      "invalid model name in .rpn header (must be ASCII letters, digits, . _ -)");
  }
  const mode = MODES[modeByte];
  const layers = data[tail + 20];
  // after the shifts: version 6's tools byte, then the fields of the tools in use
  let at = shiftsAt + (version >= 3 ? layers : 0);
  let tools = impliedTools(version);
  if (version >= RESIDUAL_VERSION) tools = data[at++];
  let palette = new Uint8Array(0);
  const radii: Array<[number, number]> = [];
  if (tools & TOOL_EXACT) { // K - 1, the K colours, then r1 and r2 of each layer
    palette = data.slice(at + 1, at + 1 + 3 * (data[at] + 1));
    at += 1 + palette.length;
    for (const end = at + 2 * layers; at < end; at += 2) radii.push([data[at], data[at + 1]]);
  }
  let corrected = 0; // which layers carry colour corrections
  if (tools & TOOL_CORRECTIONS) {
    corrected = (data[at] << 8) | data[at + 1];
    at += CORRECTED_SIZE;
  }
  const steps = tools & TOOL_RESIDUAL ? Array.from(data.subarray(at, at + layers)) : [];
  const header: Header = {
    mode,
    model: String.fromCharCode(...nameBytes),
    digest: data.slice(tail, tail + 8),
    height: readU32(data, tail + 8),
    width: readU32(data, tail + 12),
    tile: readU32(data, tail + 16),
    layers,
    version,
    shifts: version >= 3 ? Array.from(data.subarray(shiftsAt, shiftsAt + layers))
      : defaultShifts(mode, layers),
    palette,
    radii,
    corrected,
    tools,
    steps: steps.some((s) => s !== 0) ? steps : [],
    size,
  };
  const problem = sizeProblem(header.height, header.width);
  if (problem) throw new BitstreamError(`.rpn header declares ${problem}`);
  if (header.layers < 1 || header.layers > MAX_LAYERS) {
    throw new BitstreamError(
      `.rpn header declares ${header.layers} layers (must be 1 to ${MAX_LAYERS})`);
  }
  const tileBad = tileProblem(header.tile);
  if (tileBad) throw new BitstreamError(`.rpn header declares ${tileBad}`);
  const shiftBad = shiftsProblem(header.shifts);
  if (shiftBad) throw new BitstreamError(`.rpn header declares ${shiftBad}`);
  if (corrected >> layers) { // a mask is only read with exact colours
    throw new BitstreamError(`colour corrections need exact colours and name layers 1 to ` +
      `${layers}, not the mask 0x${corrected.toString(16)}`);
  }
  if (header.steps.length) {
    const learned = learnedLayers(header);
    if (header.steps[0] || header.steps.slice(learned).some((s) => !s)) {
      throw new BitstreamError(`residual steps [${header.steps.join(", ")}] (one per layer, ` +
        "0 for each learned layer, 1-255 for each residual layer after them)");
    }
    if (header.shifts.slice(learned - 1).some((s) => s !== header.shifts[learned - 1])) {
      throw new BitstreamError("a residual layer must have the size of the layer below it");
    }
    if (corrected >> learned) {
      throw new BitstreamError("colour corrections belong to learned layers only");
    }
  }
  if (version >= RESIDUAL_VERSION && tools & TOOL_CORRECTIONS && !corrected) {
    throw new BitstreamError("damaged .rpn header (its tools byte names colour corrections, " +
      "but no layer has them)");
  }
  // the version its fields call for: every tool it names must be in use
  const used = header.steps.length ? RESIDUAL_VERSION : corrected ? CORRECTIONS_VERSION
    : palette.length ? EXACT_COLOURS_VERSION : FORMAT_VERSION;
  if (version >= 3 && used !== version) {
    const what = version === CORRECTIONS_VERSION ? "corrected layers"
      : "the tools it names in use";
    throw new BitstreamError(`damaged .rpn header (version ${version} without ${what})`);
  }
  return header;
}

/** Whether layer `k` (1-based) of a file with `header` carries colour corrections. */
export function isCorrected(header: Header, k: number): boolean {
  return ((header.corrected >> (k - 1)) & 1) === 1;
}

/**
 * A corrected layer's tile string as its learned part and its colour-correction string
 * (possibly empty): `learned length u32 | learned | correction`. A length beyond the string
 * is damage (`rpncodec.bitstream.split_correction`).
 */
export function splitCorrection(string: Uint8Array): [Uint8Array, Uint8Array] {
  if (string.length < 4 || readU32(string, 0) > string.length - 4) {
    throw new BitstreamError("damaged layer payload (a corrected tile string's learned part " +
      "does not fit it)");
  }
  const end = 4 + readU32(string, 0);
  return [string.subarray(4, end), string.subarray(end)];
}

/** A tile `[top, left, height, width]`. */
export type Tile = [number, number, number, number];

/** Every tile of a `height x width` image cut into `tile` squares, row-major. */
export function tileGrid(height: number, width: number, tile: number): Tile[] {
  const grid: Tile[] = [];
  for (let top = 0; top < height; top += tile) {
    for (let left = 0; left < width; left += tile) {
      grid.push([top, left, Math.min(tile, height - top), Math.min(tile, width - left)]);
    }
  }
  return grid;
}

/** Number of tiles of `tileGrid` (without building it). */
export function tileCount(height: number, width: number, tile: number): number {
  return Math.ceil(height / tile) * Math.ceil(width / tile);
}

/**
 * The tile strings of a layer payload of `tiles` tiles: `tiles - 1` big-endian u32 lengths,
 * then the strings; the last is what remains. Throws `BitstreamError` if they do not fit.
 */
export function splitTiles(payload: Uint8Array, tiles: number): Uint8Array[] {
  const table = 4 * (tiles - 1);
  if (table > payload.length) {
    throw new BitstreamError(`tile table of ${tiles} tiles does not fit the layer payload ` +
      `of ${payload.length} bytes`);
  }
  const strings: Uint8Array[] = [];
  let start = table;
  for (let i = 0; i < tiles - 1; i++) {
    const end = start + readU32(payload, 4 * i);
    strings.push(payload.subarray(start, end));
    start = end;
  }
  if (start > payload.length) {
    throw new BitstreamError(`tile lengths add up to ${start - table} bytes, more than ` +
      `the ${payload.length - table} the layer payload holds`);
  }
  strings.push(payload.subarray(start));
  return strings;
}

/**
 * Parse a (possibly cut or damaged) `.rpn` file. Header problems throw (`TruncatedError` if
 * the file ends inside the header); chunk problems end the usable prefix, and the result
 * says what happened.
 */
export function parseContainer(data: Uint8Array): Container {
  const header = parseHeader(data);
  const tiles = tileCount(header.height, header.width, header.tile);
  const chunks: Uint8Array[] = [];
  const byteRanges: Array<[number, number]> = [];
  let damaged: number | null = null;
  let damage: string | null = null;
  let truncated = false;
  let pos = header.size;
  for (let index = 1; index <= header.layers; index++) {
    if (pos + CHUNK_OVERHEAD > data.length) {
      truncated = true;
      break;
    }
    const length = readU32(data, pos);
    if (length > MAX_PAYLOAD) {
      damaged = index;
      damage = `impossible chunk length ${length}`;
      break;
    }
    const end = pos + CHUNK_OVERHEAD + length;
    if (end > data.length) {
      truncated = true;
      break;
    }
    const payload = data.subarray(pos + CHUNK_OVERHEAD, end);
    if (crc32(payload) !== readU32(data, pos + 4)) {
      damaged = index;
      damage = "CRC mismatch";
      break;
    }
    try {
      splitTiles(payload, tiles);
    } catch (exc) {
      if (!(exc instanceof BitstreamError)) throw exc;
      damaged = index;
      damage = exc.message;
      break;
    }
    chunks.push(payload);
    byteRanges.push([pos, end]);
    pos = end;
  }
  const trailing = chunks.length === header.layers ? data.length - pos : 0;
  return { header, chunks, available: chunks.length, damaged, damage, truncated, byteRanges,
    trailing };
}

/** The one-line error for a damaged `layer` of `total`, naming the layers that still decode. */
export function damagedMessage(layer: number, total: number, why: string): string {
  const have = layer - 1;
  let usable: string;
  if (have === 0) usable = "no layer can be decoded";
  else if (have === 1) usable = "layer 1 decodes (use --layers 1)";
  else usable = `layers 1-${have} decode (use --layers ${have})`;
  return `layer ${layer} of ${total} is damaged (${why}); ${usable}`;
}

/**
 * The chunks needed to decode `layers` layers (null: every intact layer, which may be fewer
 * than declared: see `partialNote`). An explicit count must be fully available; otherwise
 * the error says which `--layers` would work.
 */
export function selectLayers(container: Container, layers: number | null): Uint8Array[] {
  const total = container.header.layers;
  if (layers !== null && !(Number.isInteger(layers) && layers >= 1 && layers <= total)) {
    if (total === 1) {
      throw new RpncodecError(`--layers must be 1 (this file has 1 layer, not ${layers})`);
    }
    throw new RpncodecError(`--layers must be between 1 and ${total} ` +
      `(this file has ${total} layers, not ${layers})`);
  }
  const wanted = layers ?? total;
  const have = container.available;
  if (wanted <= have || (layers === null && have > 0)) return container.chunks.slice(0, wanted);
  if (container.damaged !== null) {
    throw new BitstreamError(
      damagedMessage(container.damaged, total, container.damage ?? "CRC mismatch"));
  }
  if (have === 0) {
    throw new TruncatedError(`file is truncated: none of its ${total} layers is complete`);
  }
  throw new TruncatedError(
    `file is truncated: only ${have} of ${total} layers are complete (use --layers ${have})`);
}

/**
 * Why a decode of every layer used `used` layers of a file that declares more (the warning
 * the command line prints), or null when it used them all.
 */
export function partialNote(container: Container, used: number): string | null {
  const declared = container.header.layers;
  if (used === declared) return null;
  const why = container.truncated ? "file is truncated"
    : `layer ${container.damaged} is damaged (${container.damage})`;
  return `${why}: decoded ${used} of ${declared} layers`;
}

/**
 * Bytes a file needs to decode `layers` layers: the header and the first `layers` chunks
 * (the rate of that layer). Throws like `selectLayers` if they are not available.
 */
export function prefixSize(container: Container, layers: number): number {
  selectLayers(container, layers);
  return container.byteRanges[layers - 1][1];
}

/**
 * `[width, height]` layer `k` (1-based) decodes to: the full size halved `shifts[k - 1]`
 * times, rounding up (`shifts`: the header's, or those a decoder derived with its model).
 */
export function layerSize(header: Header, k: number,
  shifts: number[] = header.shifts): [number, number] {
  const f = 2 ** shifts[k - 1];
  return [Math.ceil(header.width / f), Math.ceil(header.height / f)];
}
