// The rolling-hash value a scanner carries between calls, kept in an object so that the small
// hot-loop functions (see buzhash.ts, fastcdc.ts) can hand it back without a closure.

export interface HashState {
  h: number;
}
