// Split layout (.mcxar + .pcxar): the payload sink the encoder writes file contents to, and the
// re-use protocol. A re-used file is not read: the encoder asks the sink to materialize a range of
// the *previous* payload stream and records the offset the sink reports back (README §3).

import type { BigIntStats } from "node:fs";
import { ArchiveError } from "./errors.js";
import { checkPayloadHeader, PAYLOAD_HEADER_SIZE } from "./format.js";
import { type RandomAccessReader, readExactAt } from "./random-access.js";

export interface PayloadSink {
  /** Offset in the new payload stream where the next `write` lands. */
  position(): number;
  /**
   * Appends bytes to the new payload stream. The buffer is handed over: the encoder never
   * touches it again, so a sink may keep (or transfer) it without copying.
   */
  write(buf: Buffer): void | Promise<void>;
  /**
   * Makes the range [prevOffset, prevOffset + length) of the previous payload stream (a PAYLOAD
   * header and its content) part of the new payload stream and returns the new offset of its
   * first byte. The sink may place unrelated bytes before or after it; `position()` must then
   * report the new end. The offset may also point into bytes injected for an earlier call, and
   * injection may be deferred, as long as the offset ends up holding exactly the range's bytes.
   */
  reuse(prevOffset: number, length: number): number | Promise<number>;
}

/** Answer of a re-use decision: where the file's PAYLOAD header lies in the previous payload. */
export interface ReuseHint {
  offset: number;
}

/** Called by the encoder for each regular file in split mode; `path` is the archive path. */
export type ReuseDecider = (path: Buffer, stat: BigIntStats) => ReuseHint | undefined | Promise<ReuseHint | undefined>;

/**
 * The simple sink: forwards writes to `out` and satisfies re-use by copying the bytes from a
 * reader over the previous payload stream (checking the PAYLOAD header first).
 */
export class CopyingPayloadSink implements PayloadSink {
  private pos = 0;
  readonly counters = { reusedRanges: 0, reusedBytes: 0 };

  constructor(
    private readonly out: (buf: Buffer) => void | Promise<void>,
    private readonly previous?: RandomAccessReader,
    private readonly piece = 1 << 20,
  ) {}

  position(): number {
    return this.pos;
  }

  async write(buf: Buffer): Promise<void> {
    await this.out(buf);
    this.pos += buf.length;
  }

  async reuse(prevOffset: number, length: number): Promise<number> {
    const prev = this.previous;
    if (!prev) throw new ArchiveError("ERR_ARCHIVE_CORRUPT", "re-use requested but no previous payload stream given", { offset: prevOffset });
    const header = await readExactAt(prev, prevOffset, PAYLOAD_HEADER_SIZE, "previous payload header");
    const size = checkPayloadHeader(header, prevOffset);
    if (size + PAYLOAD_HEADER_SIZE !== length)
      throw new ArchiveError("ERR_ARCHIVE_CORRUPT", `previous payload has ${size} bytes, ${length - PAYLOAD_HEADER_SIZE} expected`, { offset: prevOffset });
    const at = this.pos;
    await this.write(header);
    let done = PAYLOAD_HEADER_SIZE;
    while (done < length) {
      const n = Math.min(this.piece, length - done);
      await this.write(await readExactAt(prev, prevOffset + done, n, "previous payload"));
      done += n;
    }
    this.counters.reusedRanges++;
    this.counters.reusedBytes += length;
    return at;
  }
}
