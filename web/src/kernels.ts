/**
 * Float64 kernels of the graph interpreter's heavy ops: one matrix product `C = A B`, run by
 * a small WebAssembly SIMD module where the platform has one (src/gemm.wat: 4x4 blocks, two
 * columns per vector) and by a register-tiled loop otherwise, and the convolutions written as
 * that product. Every `C[i, j]` is summed over k in order from 0, a multiply then an add, in
 * both paths: the results are the same bit for bit whichever runs.
 */

import { GEMM_WASM } from "./gemm_wasm";

function base64Bytes(b64: string): Uint8Array {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const clean = b64.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor(clean.length * 3 / 4));
  let bits = 0, value = 0, pos = 0;
  for (const ch of clean) {
    value = (value << 6) | alphabet.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[pos++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface GemmModule {
  memory: WasmMemory;
  gemm(a: number, b: number, c: number, m: number, n: number, k: number): void;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => unknown;
  Instance: new (module: unknown, imports: object) => { exports: unknown };
}

let wasmGemm: GemmModule | null | undefined;

/** The SIMD module, instantiated on first use (null where WebAssembly SIMD is missing). */
function gemmModule(): GemmModule | null {
  if (wasmGemm === undefined) {
    wasmGemm = null;
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (api && simdEnabled) {
      try {
        // a 641-byte module: synchronous compilation is allowed everywhere, main thread too
        const instance = new api.Instance(new api.Module(base64Bytes(GEMM_WASM)), {});
        wasmGemm = instance.exports as GemmModule;
      } catch {
        wasmGemm = null; // no SIMD: the loop below
      }
    }
  }
  return wasmGemm;
}

let simdEnabled = true;

/** Use the WebAssembly SIMD product where there is one (default) or the loop (tests). */
export function useSimd(on: boolean): boolean {
  simdEnabled = on;
  wasmGemm = undefined;
  return gemmModule() !== null;
}

/** Below this many multiply-adds, copying into the module's memory is not worth it. */
const WASM_MIN = 4096;

/**
 * `C = A B` for `A [M, K]`, `B [K, N]`, `C [M, N]`, row-major at the given offsets:
 * `C[i, j] = 0 + A[i, 0] B[0, j] + A[i, 1] B[1, j] + ...`, in that order.
 */
export function matmul(a: Float64Array, aOff: number, b: Float64Array, bOff: number,
  c: Float64Array, cOff: number, m: number, n: number, k: number): void {
  const wasm = m >= 4 && n >= 4 && m * n * k >= WASM_MIN ? gemmModule() : null;
  if (!wasm) {
    matmulLoop(a, aOff, b, bOff, c, cOff, m, n, k, 0, 0);
    return;
  }
  const aBytes = m * k * 8, bBytes = k * n * 8, cBytes = m * n * 8;
  const bAt = aBytes + (-aBytes & 15), cAt = bAt + bBytes + (-bBytes & 15);
  const need = cAt + cBytes;
  const have = wasm.memory.buffer.byteLength;
  if (need > have) wasm.memory.grow(Math.ceil((need - have) / 65536));
  const heap = new Float64Array(wasm.memory.buffer);
  heap.set(a.subarray(aOff, aOff + m * k), 0);
  heap.set(b.subarray(bOff, bOff + k * n), bAt / 8);
  wasm.gemm(0, bAt, cAt, m, n, k);
  const m4 = m - (m % 4), n4 = n - (n % 4);
  const cv = heap.subarray(cAt / 8, cAt / 8 + m * n);
  if (n4 === n) c.set(cv.subarray(0, m4 * n), cOff);
  else for (let i = 0; i < m4; i++) c.set(cv.subarray(i * n, i * n + n4), cOff + i * n);
  matmulLoop(a, aOff, b, bOff, c, cOff, m, n, k, m4, n4);
}

/**
 * The loop form of `matmul` for every `C[i, j]` outside the block `i < m0, j < n0` (all of
 * it with `m0 = n0 = 0`): 2x4 register tiles, then single values.
 */
function matmulLoop(a: Float64Array, aOff: number, b: Float64Array, bOff: number,
  c: Float64Array, cOff: number, m: number, n: number, k: number, m0: number,
  n0: number): void {
  const single = (i: number, from: number) => {
    const ar = aOff + i * k;
    for (let j = from; j < n; j++) {
      let s = 0;
      for (let t = 0, pb = bOff + j; t < k; t++, pb += n) s += a[ar + t] * b[pb];
      c[cOff + i * n + j] = s;
    }
  };
  for (let i = 0; i < m0; i++) single(i, n0);
  const n4 = n - (n % 4);
  let i = m0;
  for (; i + 2 <= m; i += 2) {
    const a0 = aOff + i * k, a1 = a0 + k;
    for (let j = 0; j < n4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let pb = bOff + j;
      for (let t = 0; t < k; t++, pb += n) {
        const x0 = a[a0 + t], x1 = a[a1 + t];
        const y0 = b[pb], y1 = b[pb + 1], y2 = b[pb + 2], y3 = b[pb + 3];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
      }
      const o = cOff + i * n + j;
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03;
      c[o + n] = c10; c[o + n + 1] = c11; c[o + n + 2] = c12; c[o + n + 3] = c13;
    }
    single(i, n4);
    single(i + 1, n4);
  }
  if (i < m) single(i, 0);
}

/** `[rows, cols]` row-major -> `[cols, rows]`. */
export function transpose2(x: Float64Array, off: number, rows: number, cols: number,
  out: Float64Array = new Float64Array(rows * cols)): Float64Array {
  for (let r = 0; r < rows; r++) {
    const base = off + r * cols;
    for (let q = 0; q < cols; q++) out[q * rows + r] = x[base + q];
  }
  return out;
}

/**
 * 2-D convolution (cross-correlation) of one image `x [C, H, W]` with `w [O, C, kh, kw]`,
 * stride `s`, zero padding `p` on every side: `[O, Ho, Wo]`, then `+ bias[o]` (after the
 * sum, as a matrix product then a bias). Patches are gathered as `[C*kh*kw, Ho*Wo]` (the
 * input itself for a 1x1 convolution) and multiplied by the weight `[O, C*kh*kw]`.
 */
export function conv2d(x: Float64Array, c: number, h: number, wd: number, w: Float64Array,
  o: number, kh: number, kw: number, s: number, p: number,
  bias: Float64Array | null): { data: Float64Array; ho: number; wo: number } {
  const ho = Math.floor((h + 2 * p - kh) / s) + 1;
  const wo = Math.floor((wd + 2 * p - kw) / s) + 1;
  if (ho <= 0 || wo <= 0) return { data: new Float64Array(0), ho: Math.max(ho, 0), wo: Math.max(wo, 0) };
  const kk = c * kh * kw;
  const pixels = ho * wo;
  const out = new Float64Array(o * pixels);
  let cols: Float64Array;
  if (kh === 1 && kw === 1 && s === 1 && p === 0) {
    cols = x;
  } else {
    cols = new Float64Array(kk * pixels); // zeros: the padding
    for (let ci = 0; ci < c; ci++) {
      for (let ky = 0; ky < kh; ky++) {
        // output rows whose tap ky lands inside the input: 0 <= oy*s + ky - p < h
        const y0 = Math.max(0, Math.ceil((p - ky) / s));
        const y1 = Math.min(ho, Math.floor((h - 1 + p - ky) / s) + 1);
        for (let kx = 0; kx < kw; kx++) {
          const x0 = Math.max(0, Math.ceil((p - kx) / s));
          const x1 = Math.min(wo, Math.floor((wd - 1 + p - kx) / s) + 1);
          const row = ((ci * kh + ky) * kw + kx) * pixels;
          for (let oy = y0; oy < y1; oy++) {
            const src = (ci * h + oy * s + ky - p) * wd + kx - p;
            const dst = row + oy * wo;
            if (s === 1) {
              for (let ox = x0; ox < x1; ox++) cols[dst + ox] = x[src + ox];
            } else {
              for (let ox = x0; ox < x1; ox++) cols[dst + ox] = x[src + ox * s];
            }
          }
        }
      }
    }
  }
  matmul(w, 0, cols, 0, out, 0, o, pixels, kk);
  if (bias) {
    for (let oc = 0; oc < o; oc++) {
      const b = bias[oc];
      const base = oc * pixels;
      for (let i = 0; i < pixels; i++) out[base + i] += b;
    }
  }
  return { data: out, ho, wo };
}

/**
 * Transposed convolution of one image `x [Cin, H, W]` with `wt`, the weight `[Cin, Cout, kh,
 * kw]` already transposed to `[Cout*kh*kw, Cin]`: every input pixel's `k x k` patch by one
 * product, then each tap added at its strided place in the uncropped output, cropped by
 * `p`, then `+ bias`. Output side `(H - 1) * s - 2p + k + outputPadding`.
 */
export function convTranspose2d(x: Float64Array, cin: number, h: number, wd: number,
  wt: Float64Array, cout: number, kh: number, kw: number, s: number, p: number, op: number,
  bias: Float64Array | null): { data: Float64Array; ho: number; wo: number } {
  const ho = (h - 1) * s - 2 * p + kh + op;
  const wo = (wd - 1) * s - 2 * p + kw + op;
  const pixels = h * wd;
  const taps = cout * kh * kw;
  const patches = new Float64Array(taps * pixels); // [Cout*kh*kw, pixels]
  matmul(wt, 0, x, 0, patches, 0, taps, pixels, cin);
  const out = new Float64Array(cout * ho * wo);
  for (let oc = 0; oc < cout; oc++) {
    const obase = oc * ho * wo;
    for (let ky = 0; ky < kh; ky++) {
      // rows y of the input landing inside the crop: 0 <= y*s + ky - p < ho
      const y0 = Math.max(0, Math.ceil((p - ky) / s));
      const y1 = Math.min(h, Math.floor((ho - 1 + p - ky) / s) + 1);
      for (let kx = 0; kx < kw; kx++) {
        const x0 = Math.max(0, Math.ceil((p - kx) / s));
        const x1 = Math.min(wd, Math.floor((wo - 1 + p - kx) / s) + 1);
        const pbase = ((oc * kh + ky) * kw + kx) * pixels;
        for (let y = y0; y < y1; y++) {
          const orow = obase + (y * s + ky - p) * wo + (kx - p);
          const prow = pbase + y * wd;
          for (let xx = x0; xx < x1; xx++) out[orow + xx * s] += patches[prow + xx];
        }
      }
    }
    if (bias) {
      const b = bias[oc];
      for (let i = 0; i < ho * wo; i++) out[obase + i] += b;
    }
  }
  return { data: out, ho, wo };
}
