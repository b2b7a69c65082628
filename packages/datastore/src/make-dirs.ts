// `mkdir -p` that always returns. Node 20's `mkdirSync(dir, {recursive: true})` spins forever
// where a parent exists but refuses children with ENOENT (`/proc/x/y`, a folder on a file system
// that has no such entries); a datastore or config folder given there must be an error instead.

import fs from "node:fs";
import path from "node:path";

/** Creates `dir` and its missing parents (each with `mode`); an existing folder is fine. */
export function makeDirs(dir: string, mode = 0o777): void {
  try {
    fs.mkdirSync(dir, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    const parent = path.dirname(dir);
    // the parent is missing (make it, then try again) or there and refusing (fail as it says)
    if (code !== "ENOENT" || parent === dir || fs.existsSync(parent)) throw e;
    makeDirs(parent, mode);
    try {
      fs.mkdirSync(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}
