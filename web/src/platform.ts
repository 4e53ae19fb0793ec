/**
 * The few platform functions the engine uses that the ECMAScript 2020 library does not type
 * (the type check allows no DOM or Node API): each is present in pages, workers and Node 20.
 */

interface Platform {
  TextDecoder?: new () => { decode(data: Uint8Array): string };
  performance?: { now(): number };
}

const platform = globalThis as unknown as Platform;

/** `data` as UTF-8 text. */
export function utf8(data: Uint8Array): string {
  if (!platform.TextDecoder) throw new Error("TextDecoder is not available");
  return new platform.TextDecoder().decode(data);
}

/** Milliseconds from an arbitrary origin (`performance.now()` where there is one). */
export function now(): number {
  return platform.performance ? platform.performance.now() : Date.now();
}
