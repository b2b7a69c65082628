// What commands print: a text table (columns padded, a header line) or JSON for scripts
// (`--output-format json`, one document on stdout). Sizes and rates in human units for text.
// Everything the user asked for goes to stdout; progress and warnings go to stderr.

export type OutputFormat = "text" | "json";

export interface Column<T> {
  header: string;
  get: (row: T) => string | number | undefined | null;
  right?: boolean;
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? "")));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (columns[i].right ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

export function print<T>(format: OutputFormat, data: unknown, rows: readonly T[] | undefined, columns?: readonly Column<T>[], empty = "(none)"): void {
  if (format === "json") {
    process.stdout.write(`${JSON.stringify(data)}\n`);
    return;
  }
  if (rows && columns) process.stdout.write(`${rows.length === 0 ? empty : renderTable(rows, columns)}\n`);
  else process.stdout.write(`${typeof data === "string" ? data : JSON.stringify(data, null, 2)}\n`);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function humanBytes(n: number): string {
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

export function mbPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : 0;
}

/** RFC 3339 UTC without fractional seconds, as PBS prints snapshot times. */
export function isoTime(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
