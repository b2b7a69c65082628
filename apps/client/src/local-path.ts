// Local paths of the command line. A relative path needs the current folder; when that folder
// has been deleted (Node's process.cwd() throws ENOENT "uv_cwd", and no worker thread starts),
// cairn works from `/` and tells the user to give an absolute path instead of failing half-way.
// Folders for a key file or the fingerprint store are made with @cairn/datastore's makeDirs, a
// `mkdir -p` that always returns (Node 20's recursive mkdirSync spins where a parent refuses
// children with ENOENT, as in /proc); its own subpath keeps the datastore's locks out of the CLI.

import path from "node:path";
import { ClientError, type ClientErrorCode } from "./errors.js";

export { makeDirs } from "@cairn/datastore/make-dirs";

let cwdGone = false;

/**
 * Called first: when the current folder has been deleted, cairn moves to `/`. Worker threads
 * cannot start without a current folder (Node's uv_cwd), and restic and borg work there too with
 * absolute paths; a relative path is then refused by absolutePath.
 */
export function settleWorkingFolder(): void {
  try {
    process.cwd();
  } catch {
    cwdGone = true;
    process.chdir("/");
  }
}

/** `p` made absolute; `what` names it in the error ("restore target", "source of root.cxar"). */
export function absolutePath(p: string, what: string, code: ClientErrorCode): string {
  if (path.isAbsolute(p)) return path.resolve(p);
  if (cwdGone) throw new ClientError(code, `${what} "${p}" is relative, but the current folder no longer exists; give an absolute path`);
  return path.resolve(p);
}
