import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { FormatError, type FormatErrorCode } from "../src/index.js";

export function expectCode(fn: () => unknown, code: FormatErrorCode): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(FormatError);
  expect((caught as FormatError).code).toBe(code);
}

export async function expectCodeAsync(p: Promise<unknown>, code: FormatErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(FormatError);
  expect((caught as FormatError).code).toBe(code);
}

/** A real temp folder, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-format-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Compressible but not trivial bytes. */
export function textData(size: number, seed = 1): Buffer {
  const words = ["alpha", "beta", "gamma", "delta", "chunk", "index", "blob", "cairn", "\n"];
  let x = seed;
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const w = words[x % words.length];
    parts.push(w, " ");
    len += w.length + 1;
  }
  return Buffer.from(parts.join("")).subarray(0, size);
}
