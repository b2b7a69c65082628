import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { xorshiftBytes, scannerLengths, splitBy } from "./helpers.js";

// Made by compiling PBS's own Chunker (pbs-datastore/src/chunker.rs, proxmox/proxmox-backup)
// with a driver that feeds these inputs and prints the chunk lengths; the driver and PBS's code
// are not part of this repository, only their output.
interface Vector {
  name: string;
  avg: number;
  lengths: number[];
}
const vectors: Vector[] = JSON.parse(
  readFileSync(new URL("./fixtures/pbs-buzhash-vectors.json", import.meta.url), "utf8"),
);

function input(name: string): Buffer {
  if (name === "counter-u32le-4MiB") {
    const b = Buffer.alloc(4 << 20);
    for (let i = 0; i < 1 << 20; i++) b.writeUInt32LE(i, i * 4);
    return b;
  }
  if (name === "xorshift32-seed1-8MiB") return xorshiftBytes(1, 8 << 20);
  if (name === "xorshift32-seed2-16MiB") return xorshiftBytes(2, 16 << 20);
  if (name === "xorshift32-seed3-2MiB+zeros-3MiB+seed4-3MiB")
    return Buffer.concat([xorshiftBytes(3, 2 << 20), Buffer.alloc(3 << 20), xorshiftBytes(4, 3 << 20)]);
  throw new Error(`no input for vector ${name}`);
}

describe("buzhash cuts exactly where PBS's chunker cuts", () => {
  for (const v of vectors) {
    it(`${v.name}, avg ${v.avg}`, () => {
      const data = input(v.name);
      expect(scannerLengths([data], { algorithm: "buzhash", avg: v.avg })).toEqual(v.lengths);
      // PBS feeds reader-sized buffers; odd sizes make windows straddle calls.
      expect(scannerLengths(splitBy(data, [4093, 63, 1 << 20]), { algorithm: "buzhash", avg: v.avg })).toEqual(
        v.lengths,
      );
    });
  }
});
