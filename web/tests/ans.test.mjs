// The ANS decoder against constriction: payloads and decoded symbols written by Python.
import assert from "node:assert/strict";
import { test } from "node:test";

import { AnsDecoder, BitstreamError, buildTables, categoricalTable, decodeGroups }
  from "../dist/rpncodec.mjs";
import { attempt, bytes, int32, load, needsFixtures } from "./fixtures.mjs";

test("a table's fixed-point cdf is constriction's fast quantization", () => {
  // 4 entries summing to 2^16: cdf[i] = floor(cum * (2^24 - 4) / 2^16) + i (worked in Python)
  const t = categoricalTable([1, 2, 65532, 1, 0, 0]);
  assert.deepEqual(Array.from(t.cdf), [0, 256, 769, 16776959, 16777216]);
  assert.equal(t.escape, 3);
  assert.throws(() => categoricalTable([65536]), /cannot be used/);
});

test("an empty string is the empty coder; a string ending in a zero word is refused", () => {
  assert.ok(new AnsDecoder(new Uint32Array(0)).isEmpty());
  assert.throws(() => new AnsDecoder(Uint32Array.of(5, 0)),
    (e) => e instanceof BitstreamError && /never ends in a zero word/.test(e.message));
});

test("every payload decodes to Python's symbols, or fails with its message", { skip: needsFixtures },
  () => {
    const { tables, cases } = load("ans.json");
    const coding = buildTables(tables.offsets, tables.freqs, tables.length);
    assert.ok(cases.length > 20);
    for (const c of cases) {
      const got = attempt(() => decodeGroups(bytes(c.data), c.counts, c.tables, coding));
      if (c.error !== undefined) {
        assert.equal(got.error, c.error, c.name);
        assert.ok(got.exc instanceof BitstreamError, c.name);
      } else {
        assert.equal(got.error, undefined, `${c.name}: ${got.error}`);
        assert.deepEqual(got.value, int32(c.symbols), c.name);
      }
    }
  });
