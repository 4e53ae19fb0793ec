// The plain-TypeScript SHA-256 (model files are checked with it where a page has no WebCrypto:
// plain HTTP from another host than localhost) gives node:crypto's digests.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { sha256Bytes, sha256Hex } from "../dist/rpncodec.mjs";

test("sha256Bytes is SHA-256 for every padding case and for views into larger buffers",
  async () => {
    let seed = 7;
    const random = (n) => Uint8Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    });
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 65537]) {
      const data = random(n);
      const want = createHash("sha256").update(data).digest("hex");
      assert.equal(Buffer.from(sha256Bytes(data)).toString("hex"), want, `${n} bytes`);
      assert.equal(await sha256Hex(data), want);
      const inside = new Uint8Array(n + 13);
      inside.set(data, 5);
      assert.equal(Buffer.from(sha256Bytes(inside.subarray(5, 5 + n))).toString("hex"), want);
    }
  });
