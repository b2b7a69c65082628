// The message of a request that failed its route's schema (fastify + ajv). ajv reports a union of
// constants ("host" | "vm" | "ct") as one "must be equal to constant" per member plus "must match
// a schema in anyOf"; this folds those into "must be one of "vm", "ct", "host"", so the answer
// names what is allowed. Other errors keep ajv's wording, prefixed with where they were found.

export interface SchemaError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

export function validationMessage(context: string, errors: readonly SchemaError[]): string {
  const allowed = new Map<string, unknown[]>();
  for (const e of errors) {
    if (e.keyword !== "const") continue;
    const list = allowed.get(e.instancePath) ?? [];
    list.push(e.params.allowedValue);
    allowed.set(e.instancePath, list);
  }
  const parts: string[] = [];
  const done = new Set<string>();
  for (const e of errors) {
    const where = `${context}${e.instancePath}`;
    const values = allowed.get(e.instancePath);
    if (values && (e.keyword === "const" || e.keyword === "anyOf")) {
      if (done.has(e.instancePath)) continue;
      done.add(e.instancePath);
      parts.push(`${where} must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`);
      continue;
    }
    parts.push(`${where} ${e.message ?? e.keyword}`);
  }
  return `invalid ${context}: ${[...new Set(parts)].join(", ")}`;
}
