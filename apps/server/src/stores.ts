// The datastores named in datastore.json, opened on first use and kept open (a DataStore holds
// the process-wide lock state that GC and running backups share, so there must be one per path).

import path from "node:path";
import { DataStore } from "@cairn/datastore";
import { ProtocolError } from "@cairn/protocol";
import { type ConfigDir, type DatastoreEntry, FILES } from "./config.js";

const STORE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export interface StoreOptions {
  /** Create chunk folders lazily (tests: 65536 folders cost seconds). */
  lazyChunkFolders?: boolean;
  /**
   * A previous generation still runs backups (reload): its temp chunk files are in use, so the
   * start-up cleanup keeps the default grace whatever `cleanupGraceSeconds` says.
   */
  predecessorRunning?: boolean;
}

export function validateStoreName(name: string): string {
  if (!STORE_NAME_RE.test(name) || name.includes("..") || name.length > 32 || name in Object.prototype) {
    throw new ProtocolError("ERR_BAD_NAME", `invalid datastore name "${name}"`);
  }
  return name;
}

/** Creates the datastore folder and records it in the config (works without a running server). */
export async function createDatastore(config: ConfigDir, name: string, dir: string, opts: StoreOptions & { comment?: string } = {}): Promise<DatastoreEntry> {
  validateStoreName(name);
  const all = config.datastores();
  if (Object.hasOwn(all, name)) throw new ProtocolError("ERR_EXISTS", `datastore ${name} already exists (at ${all[name].path})`);
  const abs = path.resolve(dir);
  for (const [other, e] of Object.entries(all)) {
    if (path.resolve(e.path) === abs) throw new ProtocolError("ERR_EXISTS", `path ${abs} is already datastore ${other}`);
  }
  await DataStore.create(abs, { lazyChunkFolders: opts.lazyChunkFolders });
  const entry: DatastoreEntry = { path: abs, comment: opts.comment };
  all[name] = entry;
  config.writeJson(FILES.datastores, all);
  return entry;
}

/** Config values are hand-edited JSON: anything but a finite number ≥ 0 is ignored. */
export function nonNegative(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

export class StoreRegistry {
  readonly #config: ConfigDir;
  readonly #open = new Map<string, Promise<DataStore>>();
  readonly options: StoreOptions;

  constructor(config: ConfigDir, options: StoreOptions = {}) {
    this.#config = config;
    this.options = options;
  }

  names(): string[] {
    return Object.keys(this.#config.datastores()).sort();
  }

  entry(name: string): DatastoreEntry {
    const all = this.#config.datastores();
    // Own properties only: "__proto__" or "constructor" must not find Object.prototype (fuzzing found it).
    const e = Object.hasOwn(all, name) ? all[name] : undefined;
    if (!e) throw new ProtocolError("ERR_NOT_FOUND", `datastore ${name} does not exist`);
    return e;
  }

  get(name: string): Promise<DataStore> {
    const e = this.entry(name);
    let p = this.#open.get(name);
    if (!p) {
      // Removes leftovers of a crash (temp chunks, unfinished snapshots nobody holds a lock on).
      const grace = this.options.predecessorRunning ? undefined : nonNegative(e.cleanupGraceSeconds);
      p = DataStore.open(e.path, { cleanup: grace === undefined ? true : { graceSeconds: grace } });
      p.catch(() => this.#open.delete(name));
      this.#open.set(name, p);
    }
    return p;
  }

  async create(name: string, dir: string, comment?: string): Promise<void> {
    await createDatastore(this.#config, name, dir, { ...this.options, comment });
  }
}
