// Warnings: things that go wrong with one entry but must not stop a backup or restore (a file
// vanished or changed while read, a socket skipped). Reported through `onWarning`; the default
// writes one line to stderr.

import { displayPath } from "./errors.js";

export type WarningReason =
  | "vanished"
  | "size-changed"
  | "mtime-changed"
  | "replaced"
  | "unreadable"
  | "socket-skipped"
  | "hardlink-outside"
  | "partial-removed"
  | "bad-pattern"
  | "time-clamped"
  | "node-skipped";

export interface ArchiveWarning {
  /** Archive path (raw bytes). */
  path: Buffer;
  /** Printable form of `path`. */
  display: string;
  reason: WarningReason;
  message: string;
}

export type WarningHandler = (w: ArchiveWarning) => void;

export function defaultWarningHandler(w: ArchiveWarning): void {
  process.stderr.write(`cxar: warning: ${w.display}: ${w.message}\n`);
}

export function makeWarning(path: Buffer, reason: WarningReason, message: string): ArchiveWarning {
  return { path, display: displayPath(path), reason, message };
}
