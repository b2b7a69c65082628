// The check of a session answer header, `{id, ok: true, result?}` or
// `{id, ok: false, error: {code, message}}` (schemas/session.ts `ResponseHeader`), written out by
// hand: the client runs it on every answer, and compiling the TypeBox schema would make every
// client command load the schema compiler (some 200 files) at start. A test holds it equal to the
// compiled schema.

export type AnswerHeader = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: { code: string; message: string } };

export function isAnswerHeader(h: unknown): h is AnswerHeader {
  if (h === null || typeof h !== "object" || Array.isArray(h)) return false;
  const o = h as Record<string, unknown>;
  if (typeof o.id !== "number" || !Number.isInteger(o.id) || o.id < 0) return false;
  if (o.ok === true) return true;
  if (o.ok !== false) return false;
  const e = o.error;
  if (e === null || typeof e !== "object" || Array.isArray(e)) return false;
  const err = e as Record<string, unknown>;
  return typeof err.code === "string" && typeof err.message === "string";
}
