// Hand-crafts archives record by record (for hostile-input tests): the builder tracks offsets
// and child counts so only the deliberately broken part is broken.

import { CXAR_MAGIC, encodeEntry, encodeGoodbye, encodeStreamHeader, type EntryMeta, S_IFDIR, S_IFLNK, S_IFREG } from "../../src/format.js";

export function meta(mode: number, extra: Partial<EntryMeta> = {}): EntryMeta {
  return { mode, uid: 0, gid: 0, mtimeNs: 1_700_000_000_000_000_000n, ctimeNs: 0n, ino: 0n, dev: 0n, size: 0, rdev: 0n, payloadOffset: 0, flags: 0, ...extra };
}

export class Crafter {
  parts: Buffer[] = [];
  pos = 0;
  /** Offsets where a record starts (truncation points). */
  boundaries: number[] = [];
  private dirs: { offset: number; count: number }[] = [];

  constructor(magic = CXAR_MAGIC) {
    this.push(encodeStreamHeader(magic));
  }

  private push(b: Buffer, record = false): this {
    if (record) this.boundaries.push(this.pos);
    this.parts.push(b);
    this.pos += b.length;
    return this;
  }

  private counted(): void {
    const top = this.dirs[this.dirs.length - 1];
    if (top) top.count++;
  }

  dir(name: string | Buffer, mode = 0o755): this {
    this.counted();
    this.dirs.push({ offset: this.pos, count: 0 });
    return this.push(encodeEntry("dir", meta(S_IFDIR | mode), Buffer.from(name)), true);
  }

  end(): this {
    const d = this.dirs.pop()!;
    return this.push(encodeGoodbye(d.count, d.offset), true);
  }

  file(name: string | Buffer, content: string | Buffer, extra: Partial<EntryMeta> = {}): this {
    this.counted();
    const c = Buffer.from(content);
    this.push(encodeEntry("file", meta(S_IFREG | 0o644, { size: c.length, ...extra }), Buffer.from(name)), true);
    return this.push(c);
  }

  symlink(name: string | Buffer, target: string): this {
    this.counted();
    return this.push(encodeEntry("symlink", meta(S_IFLNK | 0o777), Buffer.from(name), Buffer.from(target)), true);
  }

  hardlink(name: string | Buffer, target: string): this {
    this.counted();
    return this.push(encodeEntry("hardlink", meta(S_IFREG | 0o644), Buffer.from(name), Buffer.from(target)), true);
  }

  raw(b: Buffer): this {
    return this.push(b);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Yields `first`, then runs `between` (the extractor has handled every record of `first`), then `rest`. */
export async function* twoParts(first: Buffer, between: () => Promise<void>, rest: Buffer): AsyncGenerator<Buffer> {
  yield first;
  await between();
  yield rest;
}
