/**
 * The decoder's error types, one per kind of failure the Python package reports, with the
 * same messages, so a page can show what `rpncodec decode` would print for the same file.
 */

/** Base of every error caused by the input (a damaged or cut file, a wrong argument). */
export class RpncodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * An `.rpn` file is not valid: wrong magic, unknown version, a damaged header, chunk or
 * entropy-coded string. `layer` is the 1-based layer whose payload failed to decode, when
 * the failure happened inside one (the caller then names it, as the CLI does).
 */
export class BitstreamError extends RpncodecError {
  layer: number | null = null;
}

/** An `.rpn` file ends before the requested layers are complete. */
export class TruncatedError extends BitstreamError {}

/** A model cannot decode a file (other weights, another mode, fewer levels), or its files are
 * missing, altered or malformed. */
export class ModelError extends RpncodecError {}
