/**
 * Float64 kernels of the graph interpreter's heavy ops: one matrix product `C = A B^T` with
 * both operands row-contiguous (a 4x4 register tile: 16 accumulators, 8 loads per step), and
 * the convolutions written as that product over gathered patches. Plain typed-array loops,
 * no SIMD: V8 keeps the 16 accumulators in registers.
 */

/**
 * `C[i, j] = sum_k A[i, k] B[j, k]` for `A [M, K]`, `B [N, K]`, `C [M, N]`, all row-major at
 * the given offsets. Each sum runs over k in order (no reassociation), from 0.
 */
export function gemmABt(a: Float64Array, aOff: number, b: Float64Array, bOff: number,
  c: Float64Array, cOff: number, m: number, n: number, k: number): void {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aOff + i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n4; j += 4) {
      const b0 = bOff + j * k;
      const b1 = b0 + k;
      const b2 = b1 + k;
      const b3 = b2 + k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let t = 0; t < k; t++) {
        const x0 = a[a0 + t], x1 = a[a1 + t], x2 = a[a2 + t], x3 = a[a3 + t];
        const y0 = b[b0 + t], y1 = b[b1 + t], y2 = b[b2 + t], y3 = b[b3 + t];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      let o = cOff + i * n + j;
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03; o += n;
      c[o] = c10; c[o + 1] = c11; c[o + 2] = c12; c[o + 3] = c13; o += n;
      c[o] = c20; c[o + 1] = c21; c[o + 2] = c22; c[o + 3] = c23; o += n;
      c[o] = c30; c[o + 1] = c31; c[o + 2] = c32; c[o + 3] = c33;
    }
    for (let j = n4; j < n; j++) {
      const b0 = bOff + j * k;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let t = 0; t < k; t++) {
        const y = b[b0 + t];
        s0 += a[a0 + t] * y; s1 += a[a1 + t] * y; s2 += a[a2 + t] * y; s3 += a[a3 + t] * y;
      }
      const o = cOff + i * n + j;
      c[o] = s0; c[o + n] = s1; c[o + 2 * n] = s2; c[o + 3 * n] = s3;
    }
  }
  for (let i = m4; i < m; i++) {
    const a0 = aOff + i * k;
    for (let j = 0; j < n; j++) {
      const b0 = bOff + j * k;
      let s = 0;
      for (let t = 0; t < k; t++) s += a[a0 + t] * b[b0 + t];
      c[cOff + i * n + j] = s;
    }
  }
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
 * sum, as a matrix product then a bias). Patches are gathered as rows `[Ho*Wo, C*kh*kw]` and
 * multiplied with the weight rows.
 */
export function conv2d(x: Float64Array, c: number, h: number, wd: number, w: Float64Array,
  o: number, kh: number, kw: number, s: number, p: number,
  bias: Float64Array | null): { data: Float64Array; ho: number; wo: number } {
  const ho = Math.floor((h + 2 * p - kh) / s) + 1;
  const wo = Math.floor((wd + 2 * p - kw) / s) + 1;
  const kk = c * kh * kw;
  const pixels = ho * wo;
  const out = new Float64Array(o * pixels);
  if (ho <= 0 || wo <= 0) return { data: out, ho: Math.max(ho, 0), wo: Math.max(wo, 0) };
  let cols: Float64Array;
  if (kh === 1 && kw === 1 && s === 1 && p === 0) {
    cols = transpose2(x, 0, c, pixels); // [pixels, C]
  } else {
    cols = new Float64Array(pixels * kk); // zeros: the padding
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const row = (oy * wo + ox) * kk;
        const iy0 = oy * s - p;
        const ix0 = ox * s - p;
        const ky0 = Math.max(0, -iy0), ky1 = Math.min(kh, h - iy0);
        const kx0 = Math.max(0, -ix0), kx1 = Math.min(kw, wd - ix0);
        for (let ci = 0; ci < c; ci++) {
          const plane = ci * h * wd;
          const rc = row + ci * kh * kw;
          for (let ky = ky0; ky < ky1; ky++) {
            const src = plane + (iy0 + ky) * wd + ix0;
            const dst = rc + ky * kw;
            for (let kx = kx0; kx < kx1; kx++) cols[dst + kx] = x[src + kx];
          }
        }
      }
    }
  }
  gemmABt(w, 0, cols, 0, out, 0, o, pixels, kk);
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
  const xt = transpose2(x, 0, cin, pixels); // [pixels, Cin]
  const taps = cout * kh * kw;
  const patches = new Float64Array(taps * pixels); // [Cout*kh*kw, pixels]
  gemmABt(wt, 0, xt, 0, patches, 0, taps, pixels, cin);
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
