// PreviousMetadata: the previous snapshot's .mcxar read into a lookup by archive path, for
// change detection. `reuseFromPrevious` turns it into the encoder's re-use decision: a file is
// unchanged when size, mtime, ctime and inode all match (device optionally).

import type { BigIntStats } from "node:fs";
import { type ByteStream, decodeArchive } from "./decoder.js";
import { type PathLike, pathKey, toPathBuffer } from "./internal/paths.js";
import { type RandomAccessReader, readerStream } from "./random-access.js";
import type { ReuseDecider } from "./split.js";

export interface PreviousEntry {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  /** Offset of the file's PAYLOAD header in the previous .pcxar. */
  payloadOffset: number;
}

export interface PreviousMetadata {
  /** Number of regular files indexed. */
  readonly size: number;
  lookup(path: PathLike): PreviousEntry | undefined;
}

function isReader(x: unknown): x is RandomAccessReader {
  return typeof x === "object" && x !== null && typeof (x as RandomAccessReader).read === "function" && "size" in x;
}

/**
 * Reads a previous metadata archive (.mcxar) completely and indexes its regular files. Memory is
 * proportional to the number of files of the previous snapshot (about 150 bytes each).
 */
export async function openMetadataIndex(source: ByteStream | RandomAccessReader | Buffer): Promise<PreviousMetadata> {
  const stream: ByteStream = Buffer.isBuffer(source) ? [source] : isReader(source) ? readerStream(source) : source;
  const map = new Map<string, PreviousEntry>();
  for await (const ev of decodeArchive(stream, { layout: "split" })) {
    if (ev.kind !== "file") continue;
    const m = ev.meta;
    map.set(pathKey(ev.path), { size: m.size, mtimeNs: m.mtimeNs, ctimeNs: m.ctimeNs, ino: m.ino, dev: m.dev, payloadOffset: m.payloadOffset });
  }
  return {
    size: map.size,
    lookup: (path) => map.get(pathKey(toPathBuffer(path))),
  };
}

export interface ReuseOptions {
  /** Also require the same st_dev (off by default: device numbers change across reboots). */
  compareDev?: boolean;
}

/** The standard re-use decision: unchanged size, mtime, ctime and inode. */
export function reuseFromPrevious(prev: PreviousMetadata, opts: ReuseOptions = {}): ReuseDecider {
  return (path: Buffer, st: BigIntStats) => {
    const p = prev.lookup(path);
    if (!p) return undefined;
    if (BigInt(p.size) !== st.size || p.mtimeNs !== st.mtimeNs || p.ctimeNs !== st.ctimeNs || p.ino !== st.ino) return undefined;
    if (opts.compareDev && p.dev !== st.dev) return undefined;
    return { offset: p.payloadOffset };
  };
}
