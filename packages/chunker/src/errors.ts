// The one error class of @cairn/chunker (spec: chunker.md). Callers branch on `code`,
// never on the message; the message names the value that was wrong.
//   ERR_CHUNKER_PARAMS  bad avg/size/algorithm given to a constructor or chunkerParams()
//   ERR_CHUNKER_INPUT   a source yielded something that is not a Uint8Array

export type ChunkerErrorCode = "ERR_CHUNKER_PARAMS" | "ERR_CHUNKER_INPUT";

export class ChunkerError extends Error {
  readonly code: ChunkerErrorCode;

  constructor(code: ChunkerErrorCode, message: string) {
    super(message);
    this.name = "ChunkerError";
    this.code = code;
  }
}
