// The float64 networks: every graph of every model in graphs.json computes what the numpy
// interpreter computed (within 1e-12), and the kernels agree with plain loops.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { Graph, KERNELS, matmul, readArrays, tensor, useSimd } from "../dist/rpncodec.mjs";
import { dir, load, needsFixtures } from "./fixtures.mjs";

function f64(path) {
  const raw = readFileSync(path);
  return new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

test("the matrix product is the plain triple loop, bit for bit, with SIMD and without", () => {
  assert.equal(useSimd(true), true, "WebAssembly SIMD is missing");
  for (const simd of [true, false]) {
    useSimd(simd);
    for (const [m, n, k] of [[1, 1, 1], [4, 4, 3], [5, 7, 9], [9, 6, 17], [3, 2, 0],
      [64, 384, 576], [66, 383, 31], [7, 1, 300]]) {
      const a = Float64Array.from({ length: m * k + 3 }, (_, i) => Math.sin(i) * 1e3 ** (i % 3));
      const b = Float64Array.from({ length: n * k + 5 }, (_, i) => Math.cos(i) / (1 + i % 7));
      const c = new Float64Array(m * n + 2).fill(NaN);
      matmul(a, 3, b, 5, c, 2, m, n, k);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += a[3 + i * k + t] * b[5 + t * n + j];
          assert.equal(c[2 + i * n + j], s, `${simd} ${m}x${n}x${k} at ${i},${j}`);
        }
      }
    }
  }
  useSimd(true);
});

test("a convolution with padding and stride is the direct sum", () => {
  const [c, h, w, o, kk, s, p] = [3, 5, 6, 2, 3, 2, 1];
  const x = tensor([1, c, h, w], Float64Array.from({ length: c * h * w }, (_, i) => i % 7 - 3));
  const wt = tensor([o, c, kk, kk], Float64Array.from({ length: o * c * kk * kk },
    (_, i) => (i % 5) - 2));
  const y = KERNELS.Conv([x, wt, null], { strides: [s, s], pads: [p, p, p, p] });
  assert.deepEqual(y.shape, [1, o, 3, 3]);
  for (let oc = 0; oc < o; oc++) {
    for (let oy = 0; oy < 3; oy++) {
      for (let ox = 0; ox < 3; ox++) {
        let sum = 0;
        for (let ci = 0; ci < c; ci++) {
          for (let ky = 0; ky < kk; ky++) {
            for (let kx = 0; kx < kk; kx++) {
              const iy = oy * s + ky - p, ix = ox * s + kx - p;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              sum += x.data[(ci * h + iy) * w + ix] * wt.data[((oc * c + ci) * kk + ky) * kk + kx];
            }
          }
        }
        assert.equal(y.data[(oc * 3 + oy) * 3 + ox], sum);
      }
    }
  }
});

test("unsupported ops and attributes are refused", () => {
  const spec = { params: [], nodes: [{ op: "Tanh", in: ["x"], out: ["y"], attrs: {} }] };
  assert.throws(() => new Graph("g", spec, () => null), /graph g: unsupported op "Tanh"/);
  const conv = { params: [], nodes: [{ op: "Conv", in: ["x", "x"], out: ["y"],
    attrs: { group: 2 } }] };
  const g = new Graph("g", conv, () => null);
  assert.throws(() => g.run(tensor([1, 1, 2, 2])), /Conv with groups or dilation/);
});

test("every graph of every model matches the numpy interpreter", { skip: needsFixtures }, () => {
  const cases = load("graphs.json");
  const exports = new Map();
  let worst = 0;
  let runs = 0;
  for (const c of cases) {
    if (!exports.has(c.folder)) {
      const manifest = JSON.parse(readFileSync(join(c.folder, "manifest.json"), "utf8"));
      const graphs = JSON.parse(readFileSync(join(c.folder, "graphs.json"), "utf8")).graphs;
      exports.set(c.folder, { arrays: readArrays(manifest.arrays,
        new Uint8Array(readFileSync(join(c.folder, "arrays.bin")))), graphs });
    }
    const { arrays, graphs } = exports.get(c.folder);
    const graph = new Graph(c.graph, graphs[c.graph], arrays);
    for (const run of c.runs) {
      const x = tensor(run.shape, f64(join(dir, "graphs", run.x)));
      const want = f64(join(dir, "graphs", run.y));
      const got = graph.run(x);
      assert.deepEqual(got.shape, run.out_shape, `${c.model} ${c.graph}`);
      let diff = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(got.data[i] - want[i]);
        if (!(d <= diff)) diff = d; // NaN too
      }
      assert.ok(diff <= 1e-12, `${c.model} ${c.graph} ${run.shape}: max |ts - numpy| ${diff}`);
      worst = Math.max(worst, diff);
      runs++;
    }
  }
  assert.ok(cases.length >= 5, `only ${cases.length} graphs`);
  console.log(`# ${cases.length} graphs, ${runs} runs, max |ts - numpy| ${worst.toExponential(2)}`);
});

test("src/gemm_wasm.ts is the build of src/gemm.wat", async () => {
  const { spawnSync } = await import("node:child_process");
  const run = spawnSync(process.execPath, ["scripts/wasm.mjs", "--check"], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr + run.stdout);
});
