// The one error class of @cairn/chunker (spec: chunker.md). Callers branch on `code`,
// never on the message; the message names the value that was wrong.
//   ERR_CHUNKER_PARAMS  bad avg/size/algorithm given to a constructor or chunkerParams()
//   ERR_CHUNKER_INPUT   a source yielded something that is not a Uint8Array, or a scan start
//                       lies outside the bytes given

export type ChunkerErrorCode = "ERR_CHUNKER_PARAMS" | "ERR_CHUNKER_INPUT";

export class ChunkerError extends Error {
  readonly code: ChunkerErrorCode;

  constructor(code: ChunkerErrorCode, message: string) {
    super(message);
    this.name = "ChunkerError";
    this.code = code;
  }
}

/** The error for a scan `start` outside [0, bytes.length]. */
export function badStart(start: number, length: number): ChunkerError {
  return new ChunkerError("ERR_CHUNKER_INPUT", `scan start must be an integer in [0, ${length}], got ${String(start)}`);
}
