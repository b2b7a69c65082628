// RandomAccessReader: read any byte range of a stored stream (archive, payload, catalog). The
// client implements it over a dynamic index + chunk fetches; here are readers over a Buffer and
// over a file, a counting wrapper for tests, and a range-to-stream adapter.

import { type FileHandle, open } from "node:fs/promises";
import { ArchiveError } from "./errors.js";

export interface RandomAccessReader {
  /** Total length of the stream in bytes. */
  readonly size: number;
  /** Returns exactly `length` bytes at `offset`, or fewer only at the end of the stream. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: 1 … maxLength bytes at `offset` (fewer when that is cheaper, e.g. up to the end of
   * an internal chunk, so nothing is copied); empty only at the end of the stream. The result
   * may be a view of a buffer the reader reuses: only `payloadPieces` consumers that are done
   * with a piece before asking for the next one should rely on this method.
   */
  readView?(offset: number, maxLength: number): Promise<Buffer>;
}

export function bufferReader(buf: Buffer): RandomAccessReader {
  return {
    size: buf.length,
    async read(offset, length) {
      return buf.subarray(offset, Math.min(buf.length, offset + length));
    },
  };
}

export interface FileReader extends RandomAccessReader {
  close(): Promise<void>;
}

export async function openFileReader(path: string | Buffer): Promise<FileReader> {
  const fh: FileHandle = await open(path, "r");
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

export interface ReadCounter {
  reads: number;
  bytes: number;
}

/** Wraps a reader and counts the calls and bytes it serves (tests, diagnostics). */
export function countingReader(inner: RandomAccessReader, counter: ReadCounter = { reads: 0, bytes: 0 }): RandomAccessReader & { counter: ReadCounter } {
  return {
    size: inner.size,
    counter,
    async read(offset, length) {
      const b = await inner.read(offset, length);
      counter.reads++;
      counter.bytes += b.length;
      return b;
    },
  };
}

/** Reads exactly `length` bytes or throws ERR_ARCHIVE_TRUNCATED. */
export async function readExactAt(r: RandomAccessReader, offset: number, length: number, what: string, path?: Buffer): Promise<Buffer> {
  const b = length === 0 ? Buffer.alloc(0) : await r.read(offset, length);
  if (b.length < length) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", `${what}: range ends early`, { offset: offset + b.length, path });
  return b;
}

/** Streams the range [start, end) of a reader in pieces of at most `piece` bytes. */
export async function* readerStream(r: RandomAccessReader, start = 0, end = r.size, piece = 1 << 20): AsyncGenerator<Buffer> {
  let pos = start;
  while (pos < end) {
    const n = Math.min(piece, end - pos);
    const b = await r.read(pos, n);
    if (b.length === 0) return;
    yield b;
    pos += b.length;
  }
}

/**
 * Streams [start, end) like readerStream, but through `readView` when the reader has one: each
 * piece is valid only until the next one is requested (the reader may reuse its buffer).
 */
export async function* readerPieces(r: RandomAccessReader, start: number, end: number, piece = 1 << 20): AsyncGenerator<Buffer> {
  if (!r.readView) {
    yield* readerStream(r, start, end, piece);
    return;
  }
  let pos = start;
  while (pos < end) {
    const b = await r.readView(pos, end - pos);
    if (b.length === 0) return;
    yield b;
    pos += b.length;
  }
}
