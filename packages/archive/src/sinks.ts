// ByteSink: where the encoder writes side streams (catalog, payload copies). `collectSink` keeps
// bytes in memory (tests, small catalogs); `openFileSink` appends to a file.

import { open } from "node:fs/promises";

export interface ByteSink {
  write(buf: Buffer): void | Promise<void>;
}

export interface CollectSink extends ByteSink {
  readonly length: number;
  buffer(): Buffer;
}

export function collectSink(): CollectSink {
  let parts: Buffer[] = [];
  let length = 0;
  return {
    get length() {
      return length;
    },
    write(buf) {
      // copy: callers may reuse their buffers
      parts.push(Buffer.from(buf));
      length += buf.length;
    },
    buffer() {
      if (parts.length !== 1) parts = [Buffer.concat(parts, length)];
      return parts[0] ?? Buffer.alloc(0);
    },
  };
}

export interface FileSink extends ByteSink {
  readonly length: number;
  close(): Promise<void>;
}

export async function openFileSink(path: string | Buffer): Promise<FileSink> {
  const fh = await open(path, "w");
  let length = 0;
  return {
    get length() {
      return length;
    },
    async write(buf) {
      let done = 0;
      while (done < buf.length) {
        const { bytesWritten } = await fh.write(buf, done, buf.length - done);
        done += bytesWritten;
      }
      length += buf.length;
    },
    close: () => fh.close(),
  };
}
