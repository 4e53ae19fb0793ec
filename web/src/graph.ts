/**
 * A float64 interpreter of the exported coding networks (`graphs.json`, docs/graphs.md): the
 * TypeScript twin of `rpncodec/runtime/graph.py`, with the same op set and the same rules.
 * Nodes that read only stored parameters (spectrally normalised weights, folded masks) are
 * evaluated once at load; nodes computed from the input's shape alone are kept per input
 * shape; the rest run at each call in the stored (topological) order. Integers (shapes,
 * indices) are held as float64 values (exact below 2^53; larger constants are only slice
 * bounds, which clamp).
 */

import { ModelError } from "./errors";
import { conv2d, convTranspose2d, matmul as matmulInto, transpose2 } from "./kernels";

export type DType = "float" | "int" | "bool";

/** An n-dimensional array, row-major. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Float64Array;
}

export function tensor(shape: number[], data?: Float64Array, dtype: DType = "float"): Tensor {
  const n = size(shape);
  const d = data ?? new Float64Array(n);
  if (d.length !== n) throw new Error(`tensor of shape [${shape}] given ${d.length} values`);
  return { dtype, shape, data: d };
}

export function size(shape: number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

function strides(shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i];
  }
  return out;
}

function ints(t: Tensor): number[] {
  return Array.from(t.data);
}

function axisOf(axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new Error(`axis ${axis} out of range for ${ndim} dimensions`);
  return a;
}

// -- broadcasting -------------------------------------------------------------------------------
function broadcastShape(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    }
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Strides of `shape` read as the broadcast `out` shape (0 on broadcast axes). */
function broadcastStrides(shape: number[], out: number[]): number[] {
  const s = strides(shape);
  const res = new Array<number>(out.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const j = out.length - shape.length + i;
    res[j] = shape[i] === 1 ? 0 : s[i];
  }
  return res;
}

/** Index of each output element in each input, for a general broadcast. */
function broadcastIndex(shapes: number[][], out: number[]): Int32Array[] {
  const n = size(out);
  const st = shapes.map((s) => broadcastStrides(s, out));
  const idx = shapes.map(() => new Int32Array(n));
  const pos = new Array<number>(out.length).fill(0);
  const cur = shapes.map(() => 0);
  for (let e = 0; e < n; e++) {
    for (let k = 0; k < shapes.length; k++) idx[k][e] = cur[k];
    for (let d = out.length - 1; d >= 0; d--) {
      pos[d]++;
      for (let k = 0; k < shapes.length; k++) cur[k] += st[k][d];
      if (pos[d] < out[d]) break;
      for (let k = 0; k < shapes.length; k++) cur[k] -= st[k][d] * out[d];
      pos[d] = 0;
    }
  }
  return idx;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

type Binary = (x: number, y: number) => number;

function binary(a: Tensor, b: Tensor, f: Binary, dtype: DType): Tensor {
  const shape = broadcastShape(a.shape, b.shape);
  const n = size(shape);
  const out = new Float64Array(n);
  const x = a.data, y = b.data;
  if (sameShape(a.shape, b.shape)) {
    for (let i = 0; i < n; i++) out[i] = f(x[i], y[i]);
  } else if (y.length === 1) {
    const v = y[0];
    for (let i = 0; i < n; i++) out[i] = f(x[i], v);
  } else if (x.length === 1 && sameShape(b.shape, shape)) {
    const v = x[0];
    for (let i = 0; i < n; i++) out[i] = f(v, y[i]);
  } else {
    const [ia, ib] = broadcastIndex([a.shape, b.shape], shape);
    for (let i = 0; i < n; i++) out[i] = f(x[ia[i]], y[ib[i]]);
  }
  return { dtype, shape, data: out };
}

function resultType(a: Tensor, b: Tensor): DType {
  return a.dtype === "float" || b.dtype === "float" ? "float" : "int";
}

const add: Binary = (x, y) => x + y;
const sub: Binary = (x, y) => x - y;
const mul: Binary = (x, y) => x * y;
const div: Binary = (x, y) => x / y;
const idiv: Binary = (x, y) => Math.trunc(x / y);
const eq: Binary = (x, y) => (x === y ? 1 : 0);

// -- kernels ------------------------------------------------------------------------------------
type Attrs = Record<string, unknown>;
type Kernel = (inputs: Array<Tensor | null>, attrs: Attrs) => Tensor;

function num(attrs: Attrs, name: string, fallback: number): number {
  const v = attrs[name];
  return v === undefined ? fallback : (v as number);
}

function list(attrs: Attrs, name: string, fallback: number[]): number[] {
  const v = attrs[name];
  return v === undefined ? fallback : (v as number[]);
}

function single(values: number[], what: string): number {
  if (new Set(values).size !== 1) {
    throw new ModelError(`graph: ${what} [${values}] are not supported (only equal values)`);
  }
  return values[0];
}

function need(t: Tensor | null, what: string): Tensor {
  if (!t) throw new Error(`${what} is missing`);
  return t;
}

/** Conv weights transposed for ConvTranspose, computed once per weight tensor. */
const transposedWeights = new WeakMap<Tensor, Float64Array>();

function convTransposeWeight(w: Tensor): Float64Array {
  let wt = transposedWeights.get(w);
  if (!wt) {
    const [cin, cout, kh, kw] = w.shape;
    wt = transpose2(w.data, 0, cin, cout * kh * kw);
    transposedWeights.set(w, wt);
  }
  return wt;
}

function convCommon(attrs: Attrs, op: string): { s: number; p: number } {
  if (num(attrs, "group", 1) !== 1 || list(attrs, "dilations", [1, 1]).some((d) => d !== 1)) {
    throw new ModelError(`graph: ${op} with groups or dilation is not supported`);
  }
  return {
    s: single(list(attrs, "strides", [1, 1]), `${op} strides`),
    p: single(list(attrs, "pads", [0, 0, 0, 0]), `${op} pads`),
  };
}

const Conv: Kernel = ([x0, w0, b], attrs) => {
  const x = need(x0, "Conv input"), w = need(w0, "Conv weight");
  const { s, p } = convCommon(attrs, "Conv");
  const [n, c, h, wd] = x.shape;
  const [o, cw, kh, kw] = w.shape;
  if (cw !== c) throw new Error(`conv2d: input has ${c} channels, weight expects ${cw}`);
  const parts: Float64Array[] = [];
  let ho = 0, wo = 0;
  for (let i = 0; i < n; i++) {
    const r = conv2d(x.data.subarray(i * c * h * wd, (i + 1) * c * h * wd), c, h, wd, w.data,
      o, kh, kw, s, p, b ? b.data : null);
    parts.push(r.data);
    ho = r.ho;
    wo = r.wo;
  }
  return tensor([n, o, ho, wo], concatArrays(parts));
};

const ConvTranspose: Kernel = ([x0, w0, b], attrs) => {
  const x = need(x0, "ConvTranspose input"), w = need(w0, "ConvTranspose weight");
  const { s, p } = convCommon(attrs, "ConvTranspose");
  const op = single(list(attrs, "output_padding", [0, 0]), "output_padding");
  if (op < 0 || op >= s) throw new Error("output_padding must be in [0, stride)");
  const [n, cin, h, wd] = x.shape;
  const [cw, cout, kh, kw] = w.shape;
  if (cw !== cin) {
    throw new Error(`conv_transpose2d: input has ${cin} channels, weight expects ${cw}`);
  }
  const wt = convTransposeWeight(w);
  const parts: Float64Array[] = [];
  let ho = 0, wo = 0;
  for (let i = 0; i < n; i++) {
    const r = convTranspose2d(x.data.subarray(i * cin * h * wd, (i + 1) * cin * h * wd), cin,
      h, wd, wt, cout, kh, kw, s, p, op, b ? b.data : null);
    parts.push(r.data);
    ho = r.ho;
    wo = r.wo;
  }
  return tensor([n, cout, ho, wo], concatArrays(parts));
};

function concatArrays(parts: Float64Array[]): Float64Array {
  if (parts.length === 1) return parts[0];
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

const AveragePool: Kernel = ([x0], attrs) => {
  const x = need(x0, "AveragePool input");
  const ok = sameShape(list(attrs, "kernel_shape", []), [2, 2])
    && sameShape(list(attrs, "strides", [1, 1]), [2, 2])
    && !list(attrs, "pads", [0, 0, 0, 0]).some((v) => v !== 0) && num(attrs, "ceil_mode", 0) === 1;
  if (!ok) {
    throw new ModelError("graph: AveragePool other than 2x2, stride 2, ceil mode is not " +
      "supported");
  }
  const [n, c, h, w] = x.shape;
  const h2 = Math.ceil(h / 2), w2 = Math.ceil(w / 2);
  const out = new Float64Array(n * c * h2 * w2);
  const d = x.data;
  for (let plane = 0; plane < n * c; plane++) {
    const ib = plane * h * w, ob = plane * h2 * w2;
    for (let i = 0; i < h2; i++) {
      const rows = 2 * i + 1 < h ? 2 : 1;
      for (let j = 0; j < w2; j++) {
        const cols = 2 * j + 1 < w ? 2 : 1;
        // as numpy: the 2x2 sum of the zero-padded map (rows first), then one division
        const r0 = ib + 2 * i * w + 2 * j;
        const a = d[r0], b = cols === 2 ? d[r0 + 1] : 0;
        const c2 = rows === 2 ? d[r0 + w] : 0;
        const e = rows === 2 && cols === 2 ? d[r0 + w + 1] : 0;
        out[ob + i * w2 + j] = ((a + b) + (c2 + e)) / (rows * cols);
      }
    }
  }
  return tensor([n, c, h2, w2], out);
};

/** numpy's `matmul`: `[..., M, K] @ [..., K, N]` with broadcast batch dimensions; a 1-D
 * operand is a row (left) or a column (right) whose axis is dropped from the result. */
function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length === 1) {
    const r = matmul(reshapeTo(a, [1, a.shape[0]]), b);
    return reshapeTo(r, [...r.shape.slice(0, -2), r.shape[r.shape.length - 1]]);
  }
  if (b.shape.length === 1) {
    const r = matmul(a, reshapeTo(b, [b.shape[0], 1]));
    return reshapeTo(r, r.shape.slice(0, -1));
  }
  const m = a.shape[a.shape.length - 2], k = a.shape[a.shape.length - 1];
  const k2 = b.shape[b.shape.length - 2], n = b.shape[b.shape.length - 1];
  if (k !== k2) throw new Error(`MatMul of [${a.shape}] and [${b.shape}]`);
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = size(batch);
  const [ia, ib] = broadcastIndex([a.shape.slice(0, -2), b.shape.slice(0, -2)], batch);
  const out = new Float64Array(nb * m * n);
  for (let i = 0; i < nb; i++) {
    matmulInto(a.data, ia[i] * m * k, b.data, ib[i] * k * n, out, i * m * n, m, n, k);
  }
  return tensor([...batch, m, n], out);
}

const Gemm: Kernel = ([a0, b0, c], attrs) => {
  let a = need(a0, "Gemm A"), b = need(b0, "Gemm B");
  if (num(attrs, "transA", 0)) a = transpose(a, [1, 0]);
  const alpha = num(attrs, "alpha", 1), beta = num(attrs, "beta", 1);
  if (num(attrs, "transB", 0)) {
    let bt = transposedWeights.get(b); // B is a stored weight: transposed once
    if (!bt) {
      bt = transpose2(b.data, 0, b.shape[0], b.shape[1]);
      transposedWeights.set(b, bt);
    }
    b = tensor([b.shape[1], b.shape[0]], bt);
  }
  let out = matmul(a, b);
  if (alpha !== 1) out = binary(out, tensor([], new Float64Array([alpha])), mul, "float");
  if (c) out = binary(out, beta === 1 ? c : binary(tensor([], new Float64Array([beta])), c, mul,
    "float"), add, "float");
  return out;
};

function transpose(x: Tensor, perm?: number[]): Tensor {
  const nd = x.shape.length;
  const p = perm ?? Array.from({ length: nd }, (_, i) => nd - 1 - i);
  const shape = p.map((a) => x.shape[a]);
  const inStrides = strides(x.shape);
  const st = p.map((a) => inStrides[a]);
  const n = size(shape);
  const out = new Float64Array(n);
  const pos = new Array<number>(nd).fill(0);
  let src = 0;
  const d = x.data;
  const last = nd - 1;
  const inner = shape[last] ?? 1, innerStride = st[last] ?? 0;
  for (let e = 0; e < n; e += inner) {
    for (let j = 0; j < inner; j++) out[e + j] = d[src + j * innerStride];
    for (let dd = last - 1; dd >= 0; dd--) {
      pos[dd]++;
      src += st[dd];
      if (pos[dd] < shape[dd]) break;
      src -= st[dd] * shape[dd];
      pos[dd] = 0;
    }
  }
  return { dtype: x.dtype, shape, data: out };
}

const LayerNormalization: Kernel = ([x0, scale, bias], attrs) => {
  const x = need(x0, "LayerNormalization input");
  const axis = num(attrs, "axis", -1);
  if (axis !== -1 && axis !== x.shape.length - 1) {
    throw new ModelError("graph: LayerNormalization is supported over the last axis only");
  }
  const eps = num(attrs, "epsilon", 1e-5);
  const n = x.shape[x.shape.length - 1];
  const rows = x.data.length / n;
  const out = new Float64Array(x.data.length);
  const d = x.data;
  const centred = new Float64Array(n);
  const sq = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    const mean = pairwiseSum(d, base, n) / n;
    for (let i = 0; i < n; i++) {
      centred[i] = d[base + i] - mean;
      sq[i] = centred[i] * centred[i];
    }
    const sd = Math.sqrt(pairwiseSum(sq, 0, n) / n + eps);
    for (let i = 0; i < n; i++) out[base + i] = centred[i] / sd;
  }
  let y = tensor(x.shape, out);
  if (scale) y = binary(y, scale, mul, "float");
  if (bias) y = binary(y, bias, add, "float");
  return y;
};

/**
 * numpy's sum of `n` contiguous float64 values (its pairwise summation: blocks of 128 summed
 * with 8 accumulators, halves above), so means agree with the numpy interpreter's bit for bit
 * where the order matters most.
 */
export function pairwiseSum(a: Float64Array, off: number, n: number): number {
  if (n < 8) {
    let s = -0;
    for (let i = 0; i < n; i++) s += a[off + i];
    return s;
  }
  if (n <= 128) {
    const r = [a[off], a[off + 1], a[off + 2], a[off + 3], a[off + 4], a[off + 5], a[off + 6],
      a[off + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[off + i + j];
    }
    let s = (r[0] + r[1]) + (r[2] + r[3]) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) s += a[off + i];
    return s;
  }
  let half = n >> 1;
  half -= half % 8;
  return pairwiseSum(a, off, half) + pairwiseSum(a, off + half, n - half);
}

/** Sum (or max) over one axis of `x`, kept as a size-1 axis. */
function reduceAxis(x: Tensor, axis: number, kind: "sum" | "max"): Tensor {
  const shape = x.shape.slice();
  const len = shape[axis];
  shape[axis] = 1;
  const inner = size(x.shape.slice(axis + 1));
  const outer = size(x.shape.slice(0, axis));
  const out = new Float64Array(outer * inner);
  const d = x.data;
  const buf = new Float64Array(len);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      if (kind === "max") {
        let m = -Infinity;
        for (let j = 0; j < len; j++) {
          const v = d[base + j * inner];
          if (v > m || v !== v) m = v;
          if (m !== m) break;
        }
        out[o * inner + i] = m;
      } else if (inner === 1) {
        out[o * inner + i] = pairwiseSum(d, base, len);
      } else {
        for (let j = 0; j < len; j++) buf[j] = d[base + j * inner];
        out[o * inner + i] = pairwiseSum(buf, 0, len);
      }
    }
  }
  return { dtype: x.dtype, shape, data: out };
}

const Softmax: Kernel = ([x0], attrs) => {
  const x = need(x0, "Softmax input");
  const axis = axisOf(num(attrs, "axis", -1), x.shape.length);
  const e = binary(x, reduceAxis(x, axis, "max"), sub, "float");
  for (let i = 0; i < e.data.length; i++) e.data[i] = Math.exp(e.data[i]);
  return binary(e, reduceAxis(e, axis, "sum"), div, "float");
};

const ReduceSum: Kernel = ([x0, axes], attrs) => {
  const x = need(x0, "ReduceSum input");
  const keep = num(attrs, "keepdims", 1) !== 0;
  let list0 = axes && axes.data.length ? ints(axes).map((a) => axisOf(a, x.shape.length)) : null;
  if (!list0) {
    if (num(attrs, "noop_with_empty_axes", 0)) return x;
    list0 = x.shape.map((_, i) => i);
  }
  let y = x;
  for (const a of [...new Set(list0)].sort((p, q) => q - p)) y = reduceAxis(y, a, "sum");
  if (!keep) y = { ...y, shape: y.shape.filter((_, i) => !list0!.includes(i)) };
  return y;
};

function reshapeTo(x: Tensor, shape: number[]): Tensor {
  if (size(shape) !== x.data.length) {
    throw new Error(`cannot reshape [${x.shape}] to [${shape}]`);
  }
  return { dtype: x.dtype, shape, data: x.data };
}

const Reshape: Kernel = ([x0, s0], attrs) => {
  const x = need(x0, "Reshape input");
  let shape = ints(need(s0, "Reshape shape"));
  if (!num(attrs, "allowzero", 0)) shape = shape.map((s, i) => (s === 0 ? x.shape[i] : s));
  const known = shape.reduce((a, s) => (s === -1 ? a : a * s), 1);
  shape = shape.map((s) => (s === -1 ? x.data.length / known : s));
  return reshapeTo(x, shape);
};

/** Python's `slice(start, stop, step).indices(len)`. */
function sliceIndices(start: number, stop: number, step: number, len: number): number[] {
  if (step === 0) throw new Error("Slice step 0");
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const norm = (v: number, lo: number, hi: number) => clamp(v < 0 ? v + len : v, lo, hi);
  const s = step > 0 ? norm(start, 0, len) : norm(start, -1, len - 1);
  const e = step > 0 ? norm(stop, 0, len) : norm(stop, -1, len - 1);
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

function gatherAxis(x: Tensor, axis: number, index: number[]): Tensor {
  const shape = x.shape.slice();
  const len = shape[axis];
  shape[axis] = index.length;
  const inner = size(x.shape.slice(axis + 1));
  const outer = size(x.shape.slice(0, axis));
  const out = new Float64Array(outer * index.length * inner);
  const d = x.data;
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of index) {
      const src = (o * len + i) * inner;
      if (inner === 1) out[pos++] = d[src];
      else {
        out.set(d.subarray(src, src + inner), pos);
        pos += inner;
      }
    }
  }
  return { dtype: x.dtype, shape, data: out };
}

const Slice: Kernel = ([x0, starts, ends, axes, steps]) => {
  let x = need(x0, "Slice input");
  const st = ints(need(starts, "Slice starts")), en = ints(need(ends, "Slice ends"));
  const ax = axes ? ints(axes) : st.map((_, i) => i);
  const sp = steps ? ints(steps) : st.map(() => 1);
  for (let i = 0; i < st.length; i++) {
    const a = axisOf(ax[i], x.shape.length);
    const index = sliceIndices(st[i], en[i], sp[i], x.shape[a]);
    if (index.length === x.shape[a] && sp[i] === 1) continue;
    x = gatherAxis(x, a, index);
  }
  return x;
};

const Gather: Kernel = ([x0, i0], attrs) => {
  const x = need(x0, "Gather input"), ix = need(i0, "Gather indices");
  const axis = axisOf(num(attrs, "axis", 0), x.shape.length);
  const len = x.shape[axis];
  const index = ints(ix).map((i) => {
    const j = i < 0 ? i + len : i;
    if (j < 0 || j >= len) throw new Error(`Gather index ${i} out of range ${len}`);
    return j;
  });
  const g = gatherAxis(x, axis, index);
  const shape = [...x.shape.slice(0, axis), ...ix.shape, ...x.shape.slice(axis + 1)];
  return reshapeTo(g, shape);
};

const Concat: Kernel = (xs, attrs) => {
  const ts = xs.map((x) => need(x, "Concat input"));
  const nd = ts[0].shape.length;
  const axis = axisOf(num(attrs, "axis", 0), nd);
  const shape = ts[0].shape.slice();
  shape[axis] = ts.reduce((a, t) => a + t.shape[axis], 0);
  const outer = size(shape.slice(0, axis));
  const out = new Float64Array(size(shape));
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of ts) {
      const block = size(t.shape.slice(axis));
      out.set(t.data.subarray(o * block, (o + 1) * block), pos);
      pos += block;
    }
  }
  const dtype = ts.some((t) => t.dtype === "float") ? "float" : ts[0].dtype;
  return { dtype, shape, data: out };
};

const Expand: Kernel = ([x0, s0]) => {
  const x = need(x0, "Expand input");
  const shape = broadcastShape(x.shape, ints(need(s0, "Expand shape")));
  const [ix] = broadcastIndex([x.shape], shape);
  const out = new Float64Array(ix.length);
  for (let i = 0; i < ix.length; i++) out[i] = x.data[ix[i]];
  return { dtype: x.dtype, shape, data: out };
};

const Where: Kernel = ([c0, a0, b0]) => {
  const c = need(c0, "Where condition"), a = need(a0, "Where x"), b = need(b0, "Where y");
  const shape = broadcastShape(broadcastShape(c.shape, a.shape), b.shape);
  const [ic, ia, ib] = broadcastIndex([c.shape, a.shape, b.shape], shape);
  const out = new Float64Array(ic.length);
  for (let i = 0; i < ic.length; i++) out[i] = c.data[ic[i]] ? a.data[ia[i]] : b.data[ib[i]];
  return { dtype: a.dtype === "float" || b.dtype === "float" ? "float" : a.dtype, shape,
    data: out };
};

/** ONNX TensorProto data types the graphs use. */
const CASTS: Record<number, DType> = { 1: "float", 6: "int", 7: "int", 9: "bool", 11: "float" };

const Cast: Kernel = ([x0], attrs) => {
  const x = need(x0, "Cast input");
  const to = num(attrs, "to", 11);
  const dtype = CASTS[to];
  if (!dtype) throw new ModelError(`graph: Cast to type ${to} is not supported`);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i];
    out[i] = to === 1 ? Math.fround(v) : dtype === "int" ? Math.trunc(v)
      : dtype === "bool" ? (v !== 0 ? 1 : 0) : v;
  }
  return { dtype, shape: x.shape, data: out };
};

const sigmoid = (v: number): number => {
  const e = Math.exp(-Math.abs(v));
  return v >= 0 ? 1 / (1 + e) : e / (1 + e);
};

function unary(x: Tensor, f: (v: number) => number): Tensor {
  const out = new Float64Array(x.data.length);
  const d = x.data;
  for (let i = 0; i < out.length; i++) out[i] = f(d[i]);
  return { dtype: x.dtype, shape: x.shape, data: out };
}

const relu = (v: number): number => (v > 0 ? v : v === v ? 0 : v);

/** Decode an inline tensor attribute `{dtype, shape, data}`. */
export function inlineTensor(v: { dtype: string; shape: number[]; data: number[] }): Tensor {
  const dtype: DType = v.dtype.startsWith("float") ? "float" : v.dtype === "bool" ? "bool"
    : "int";
  return tensor(v.shape, Float64Array.from(v.data), dtype);
}

export const KERNELS: Record<string, Kernel> = {
  Add: ([a, b]) => binary(need(a, "Add"), need(b, "Add"), add, resultType(a!, b!)),
  AveragePool,
  Cast,
  Concat,
  Constant: (_, attrs) => attrs.value as Tensor,
  ConstantOfShape: ([s0], attrs) => {
    const shape = ints(need(s0, "ConstantOfShape shape"));
    const fill = (attrs.value as Tensor | undefined) ?? tensor([1], new Float64Array(1));
    return { dtype: fill.dtype, shape, data: new Float64Array(size(shape)).fill(fill.data[0]) };
  },
  Conv,
  ConvTranspose,
  Div: ([a, b]) => {
    const t = resultType(need(a, "Div"), need(b, "Div"));
    return binary(a!, b!, t === "float" ? div : idiv, t);
  },
  Equal: ([a, b]) => binary(need(a, "Equal"), need(b, "Equal"), eq, "bool"),
  Expand,
  Flatten: ([x0], attrs) => {
    const x = need(x0, "Flatten input");
    const axis = num(attrs, "axis", 1);
    const a = axis < 0 ? axis + x.shape.length : axis;
    const rows = size(x.shape.slice(0, a));
    return reshapeTo(x, [rows, rows ? x.data.length / rows : 0]);
  },
  Gather,
  Gemm,
  Identity: ([x]) => need(x, "Identity input"),
  LayerNormalization,
  MatMul: ([a, b]) => matmul(need(a, "MatMul"), need(b, "MatMul")),
  Mul: ([a, b]) => binary(need(a, "Mul"), need(b, "Mul"), mul, resultType(a!, b!)),
  ReduceSum,
  Relu: ([x]) => unary(need(x, "Relu input"), relu),
  Reshape,
  Shape: ([x0], attrs) => {
    const x = need(x0, "Shape input");
    const nd = x.shape.length;
    const norm = (v: number) => Math.min(Math.max(v < 0 ? v + nd : v, 0), nd);
    const start = norm(num(attrs, "start", 0));
    const end = attrs.end === undefined ? nd : norm(attrs.end as number);
    const s = x.shape.slice(start, end);
    return tensor([s.length], Float64Array.from(s), "int");
  },
  Sigmoid: ([x]) => unary(need(x, "Sigmoid input"), sigmoid),
  Slice,
  Softmax,
  Sub: ([a, b]) => binary(need(a, "Sub"), need(b, "Sub"), sub, resultType(a!, b!)),
  Transpose: ([x], attrs) => transpose(need(x, "Transpose input"), attrs.perm as
    number[] | undefined),
  Unsqueeze: ([x0, a0]) => {
    const x = need(x0, "Unsqueeze input");
    const out = x.shape.length + need(a0, "Unsqueeze axes").data.length;
    const axes = ints(a0!).map((a) => (a < 0 ? a + out : a));
    const shape: number[] = [];
    let j = 0;
    for (let i = 0; i < out; i++) shape.push(axes.includes(i) ? 1 : x.shape[j++]);
    return reshapeTo(x, shape);
  },
  Where,
};

// -- the graph ----------------------------------------------------------------------------------
/** One node of `graphs.json`. */
export interface NodeJson {
  op: string;
  in: string[];
  out: string[];
  attrs: Record<string, unknown>;
}

/** One graph of `graphs.json`. */
export interface GraphJson {
  params: string[];
  nodes: NodeJson[];
}

interface Step {
  kernel: Kernel;
  ins: string[];
  out: string;
  attrs: Attrs;
  drops: string[];
}

function isOne(t: Tensor | null | undefined): boolean {
  return !!t && t.data.length === 1 && t.dtype === "float" && t.data[0] === 1;
}

const MAX_SHAPES = 64;

/**
 * One exported network, ready to run: `graph.run(x)` on float64 `[1, C, h, w]`. `arrays`
 * gives the stored arrays by key, as float64 (`params` and tensor attributes stored there).
 */
export class Graph {
  readonly name: string;
  private consts = new Map<string, Tensor | null>();
  private full: Step[];
  private dynamic: Step[];
  private staticNames = new Set<string>();
  private byShape = new Map<string, Map<string, Tensor>>();

  constructor(name: string, spec: GraphJson, arrays: (key: string) => Tensor) {
    this.name = name;
    const consts = new Map<string, Tensor | null>([["", null]]);
    const steps: Array<Omit<Step, "drops">> = [];
    try {
      for (const key of spec.params) consts.set(key, arrays(key));
      const defined = new Set(["x"]);
      for (const node of spec.nodes) {
        let kernel = KERNELS[node.op];
        if (!kernel) throw new ModelError(`graph ${name}: unsupported op ${JSON.stringify(node.op)}`);
        if (node.out.length !== 1 && node.op !== "LayerNormalization") {
          throw new ModelError(`graph ${name}: ${node.op} with several outputs`);
        }
        const attrs: Attrs = {};
        for (const [k, v] of Object.entries(node.attrs)) {
          if (v && typeof v === "object" && !Array.isArray(v)) {
            const o = v as Record<string, unknown>;
            attrs[k] = "array" in o ? arrays(o.array as string)
              : inlineTensor(o as { dtype: string; shape: number[]; data: number[] });
          } else attrs[k] = v;
        }
        let ins = node.in;
        const ones = ins.filter((i) => consts.has(i) && isOne(consts.get(i)));
        if (node.op === "Mul" && ones.length && ones.length < ins.length) {
          // torch's addcmul exports a Mul by 1 of a whole map: x itself unless it adds axes
          const other = ins.find((i) => i !== ones[0])!;
          const one = ones[0];
          ins = [other, one];
          kernel = ([x, o]) => (o!.shape.length <= x!.shape.length ? x!
            : binary(x!, o!, mul, x!.dtype));
        }
        const step = { kernel, ins, out: node.out[0], attrs };
        if (ins.every((i) => consts.has(i))) {
          consts.set(step.out, kernel(ins.map((i) => consts.get(i)!), attrs));
        } else if (ins.every((i) => consts.has(i) || defined.has(i))) {
          steps.push(step);
          defined.add(step.out);
        } else {
          throw new Error(`${node.op} reads an undefined value`);
        }
      }
      if (!defined.has("y")) throw new Error("no output y");
    } catch (exc) {
      if (exc instanceof ModelError) throw exc;
      throw new ModelError(`graph ${name} is malformed (${(exc as Error).message})`);
    }
    const needed = new Set(steps.flatMap((s) => s.ins));
    for (const [k, v] of consts) if (needed.has(k)) this.consts.set(k, v);
    const shapeOp = KERNELS.Shape;
    for (const s of steps) {
      if (s.kernel === shapeOp || (s.ins.some((i) => this.staticNames.has(i))
        && s.ins.every((i) => this.staticNames.has(i) || this.consts.has(i)))) {
        this.staticNames.add(s.out);
      }
    }
    this.full = this.plan(steps);
    this.dynamic = this.plan(steps.filter((s) => !this.staticNames.has(s.out)));
  }

  private plan(steps: Array<Omit<Step, "drops">>): Step[] {
    const last = new Map<string, number>();
    steps.forEach((s, i) => s.ins.forEach((name) => {
      if (!this.consts.has(name) && name !== "x" && name !== "y") last.set(name, i);
    }));
    const drops: string[][] = steps.map(() => []);
    for (const [name, i] of last) drops[i].push(name);
    return steps.map((s, i) => ({ ...s, drops: drops[i] }));
  }

  /** The network's output for the float64 input `x`. */
  run(x: Tensor): Tensor {
    const values = new Map<string, Tensor | null>(this.consts);
    values.set("x", x);
    const key = x.shape.join(",");
    const known = this.byShape.get(key);
    if (known) for (const [k, v] of known) values.set(k, v);
    const fresh = new Map<string, Tensor>();
    for (const step of known ? this.dynamic : this.full) {
      const inputs = step.ins.map((i) => values.get(i) ?? null);
      const out = step.kernel(inputs, step.attrs);
      values.set(step.out, out);
      if (!known && this.staticNames.has(step.out)) fresh.set(step.out, out);
      for (const name of step.drops) values.delete(name);
    }
    if (!known) {
      if (this.byShape.size >= MAX_SHAPES) this.byShape.clear();
      this.byShape.set(key, fresh);
    }
    return values.get("y")!;
  }
}
