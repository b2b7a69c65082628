// Cross-checks of an index against the values its manifest lists, shared by both readers.

import { FormatError } from "../errors.js";

/** The checks against manifest values shared by both readers. */
export function checkExpected(kind: string, csum: Buffer, size: number, options: { expectedCsum?: Uint8Array; expectedSize?: number }): void {
  if (options.expectedCsum !== undefined && !csum.equals(options.expectedCsum)) {
    throw new FormatError(
      "ERR_INDEX_CSUM",
      `${kind} csum ${csum.toString("hex")} differs from the expected ${Buffer.from(options.expectedCsum).toString("hex")}`,
    );
  }
  if (options.expectedSize !== undefined && size !== options.expectedSize) {
    throw new FormatError("ERR_INDEX_SIZE", `${kind} covers ${size} bytes, expected ${options.expectedSize}`);
  }
}
