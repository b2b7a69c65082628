// Streaming decoder: turns .cxar / .mcxar bytes into entry events, checking every structural
// rule of README §1.2 (markers, lengths, names, sort order, goodbye counts and offsets, end of
// stream). Inline file contents are handed out as a stream that must be read before the next
// event; whatever is not read is skipped.

import { ArchiveError } from "./errors.js";
import {
  CXAR_MAGIC,
  checkStreamHeader,
  decodeEntryBody,
  decodePrefix,
  type EntryMeta,
  EMPTY,
  GOODBYE_OFF_COUNT,
  GOODBYE_OFF_DIR,
  HEADER_SIZE,
  MCXAR_MAGIC,
  PREFIX_SIZE,
  RecordType,
  readSafeU64,
  SYMLINK_MAX,
} from "./format.js";
import { checkedComponents, checkName, joinPath } from "./internal/paths.js";

interface EntryEventBase {
  path: Buffer;
  name: Buffer;
  meta: EntryMeta;
  /** Stream offset of the entry's record. */
  offset: number;
}

export type ArchiveEvent =
  | (EntryEventBase & { kind: "dir" })
  | { kind: "goodbye"; path: Buffer; offset: number; dirOffset: number; count: number; endOffset: number }
  | (EntryEventBase & {
      kind: "file";
      /** Single stream: offset of the first content byte; split: offset of the PAYLOAD header in .pcxar. */
      contentOffset: number;
      /** Single stream only: exactly `meta.size` bytes; read before asking for the next event. */
      content?: AsyncIterable<Buffer>;
    })
  | (EntryEventBase & { kind: "symlink" | "hardlink"; target: Buffer })
  | (EntryEventBase & { kind: "device" | "fifo" });

export type Layout = "single" | "split";

export interface DecodeOptions {
  /** Accept only this layout (default: either, from the stream magic). */
  layout?: Layout;
  /**
   * Decode a subtree cut out of an archive: no stream header, starts at a DIR record and ends at
   * its GOODBYE. `baseOffset` is the stream offset of that DIR record (offsets stay absolute).
   * Paths of events are relative to that directory.
   */
  fragment?: { baseOffset: number; layout: Layout };
  /** Called once the layout is known (after the header). */
  onLayout?: (layout: Layout) => void;
}

/** Bytes to decode: a stream of pieces, or an array of Buffers. */
export type ByteStream = AsyncIterable<Buffer> | Iterable<Buffer>;

function toAsync(it: Iterator<Buffer>): AsyncIterator<Buffer> {
  return { next: async () => it.next() };
}

/** Pull-based byte reader over an async iterable of Buffers. */
export class ByteSource {
  private readonly it: AsyncIterator<Buffer>;
  private cur: Buffer = EMPTY;
  private at = 0;
  position: number;

  constructor(source: ByteStream, base = 0) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]());
    this.position = base;
  }

  private async fill(): Promise<boolean> {
    while (this.at >= this.cur.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.cur = r.value;
      this.at = 0;
    }
    return true;
  }

  async eof(): Promise<boolean> {
    return !(await this.fill());
  }

  async readExact(n: number, what: string, path?: Buffer): Promise<Buffer> {
    if (this.cur.length - this.at >= n) {
      const b = this.cur.subarray(this.at, this.at + n);
      this.at += n;
      this.position += n;
      return b;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (!(await this.fill())) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", `archive ends inside ${what}`, { path, offset: this.position });
      const take = Math.min(need, this.cur.length - this.at);
      parts.push(this.cur.subarray(this.at, this.at + take));
      this.at += take;
      this.position += take;
      need -= take;
    }
    return Buffer.concat(parts, n);
  }

  /** Returns 1..max bytes, or throws at end of stream. */
  async readSome(max: number, what: string, path?: Buffer): Promise<Buffer> {
    if (!(await this.fill())) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", `archive ends inside ${what}`, { path, offset: this.position });
    const take = Math.min(max, this.cur.length - this.at);
    const b = this.cur.subarray(this.at, this.at + take);
    this.at += take;
    this.position += take;
    return b;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

interface OpenDir {
  path: Buffer;
  offset: number;
  count: number;
  last: Buffer | null;
}

export async function* decodeArchive(source: ByteStream, opts: DecodeOptions = {}): AsyncGenerator<ArchiveEvent> {
  const frag = opts.fragment;
  const src = new ByteSource(source, frag?.baseOffset ?? 0);
  try {
    let layout: Layout;
    if (frag) {
      layout = frag.layout;
    } else {
      const allowed = opts.layout === "single" ? [CXAR_MAGIC] : opts.layout === "split" ? [MCXAR_MAGIC] : [CXAR_MAGIC, MCXAR_MAGIC];
      let header: Buffer;
      try {
        header = await src.readExact(HEADER_SIZE, "the stream header");
      } catch (e) {
        if (e instanceof ArchiveError && src.position === 0) throw new ArchiveError("ERR_ARCHIVE_TRUNCATED", "empty archive", { offset: 0 });
        throw e;
      }
      const { magic } = checkStreamHeader(header, allowed, "archive");
      layout = magic.equals(MCXAR_MAGIC) ? "split" : "single";
    }
    opts.onLayout?.(layout);
    const stack: OpenDir[] = [];
    let first = true;
    for (;;) {
      if (!first && stack.length === 0) {
        if (!frag && !(await src.eof())) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "bytes after the end of the root directory", { offset: src.position });
        return;
      }
      const top = stack[stack.length - 1] as OpenDir | undefined;
      const parentPath = top?.path;
      const offset = src.position;
      const prefix = decodePrefix(await src.readExact(PREFIX_SIZE, "a record header", parentPath), offset, parentPath);
      const body = await src.readExact(prefix.bodyLen, "a record", parentPath);
      if (prefix.type === RecordType.GOODBYE) {
        if (!top) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "archive starts with a goodbye", { offset });
        const count = readSafeU64(body, GOODBYE_OFF_COUNT, "goodbye count", { offset, path: top.path });
        const dirOffset = readSafeU64(body, GOODBYE_OFF_DIR, "goodbye offset", { offset, path: top.path });
        if (count !== top.count || dirOffset !== top.offset)
          throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `goodbye does not match its directory (${count}/${dirOffset} vs ${top.count}/${top.offset})`, {
            offset,
            path: top.path,
          });
        stack.pop();
        yield { kind: "goodbye", path: top.path, offset, dirOffset, count, endOffset: src.position };
        continue;
      }
      const entry = decodeEntryBody(prefix, body, offset, parentPath);
      let path: Buffer;
      if (first) {
        if (entry.kind !== "dir") throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "archive does not start with a directory", { offset });
        if (!frag && entry.name.length !== 0) throw new ArchiveError("ERR_ARCHIVE_BAD_NAME", "root directory has a name", { offset, path: entry.name });
        if (frag && entry.name.length !== 0) checkName(entry.name, { offset });
        path = EMPTY;
        first = false;
      } else {
        const parent = top!;
        checkName(entry.name, { path: joinPath(parent.path, entry.name), offset });
        path = joinPath(parent.path, entry.name);
        if (parent.last && Buffer.compare(parent.last, entry.name) >= 0)
          throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "entry names not strictly sorted (duplicate or out of order)", { offset, path });
        parent.last = entry.name;
        parent.count++;
      }
      const base = { path, name: entry.name, meta: entry.meta, offset };
      switch (entry.kind) {
        case "dir":
          stack.push({ path, offset, count: 0, last: null });
          yield { ...base, kind: "dir" };
          break;
        case "symlink":
          if (entry.tail.length > SYMLINK_MAX || entry.tail.includes(0))
            throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "bad symlink target", { offset, path });
          yield { ...base, kind: "symlink", target: entry.tail };
          break;
        case "hardlink":
          checkedComponents(entry.tail, { path, offset });
          yield { ...base, kind: "hardlink", target: entry.tail };
          break;
        case "device":
        case "fifo":
          yield { ...base, kind: entry.kind };
          break;
        case "file": {
          if (layout === "split") {
            if (entry.meta.payloadOffset < HEADER_SIZE) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "payload offset inside the payload stream header", { offset, path });
            yield { ...base, kind: "file", contentOffset: entry.meta.payloadOffset };
            break;
          }
          if (entry.meta.payloadOffset !== 0) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "payload offset in a single-stream archive", { offset, path });
          let remaining = entry.meta.size;
          const contentOffset = src.position;
          const content: AsyncIterable<Buffer> = {
            async *[Symbol.asyncIterator]() {
              while (remaining > 0) {
                const piece = await src.readSome(Math.min(remaining, 1 << 20), "file content", path);
                remaining -= piece.length;
                yield piece;
              }
            },
          };
          yield { ...base, kind: "file", contentOffset, content };
          while (remaining > 0) remaining -= (await src.readSome(remaining, "file content", path)).length;
          break;
        }
      }
    }
  } finally {
    await src.close();
  }
}
