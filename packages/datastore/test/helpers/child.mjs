// Child process for multi-process lock tests: performs one action against a datastore, reports
// JSON lines on stdout ({ready:true} once the lock/state is held), and waits for a line on stdin
// before finishing (or exits at once for one-shot actions).

import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { encodeBlob } from "@cairn/format";
import { DataStore } from "../../dist/index.js";

const args = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const rl = createInterface({ input: process.stdin });
const lines = [];
let waiter;
rl.on("line", (l) => {
  if (!waiter) return lines.push(l);
  const w = waiter;
  waiter = undefined;
  w(l);
});
const nextLine = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => (waiter = r)));

const fail = (err) => out({ ok: false, code: err.code, message: err.message, holder: err.holder });

async function main() {
  const store = await DataStore.open(args.root, { lockTimeoutMs: args.lockTimeoutMs ?? 2000 });
  switch (args.action) {
    case "hold-backup": {
      const w = await store.openBackup({ type: "host", id: args.id ?? "h1", time: args.time, owner: args.owner ?? "root@pam" });
      const data = Buffer.from(args.data ?? "child data");
      const digest = createHash("sha256").update(data).digest("hex");
      await w.insertChunk(digest, encodeBlob(data));
      out({ ready: true, digest });
      const cmd = await nextLine();
      if (cmd === "finish") {
        await w.writeDynamicIndex("root.pxar.didx", [{ end: data.length, digest: Buffer.from(digest, "hex") }]);
        await w.finish();
      } else await w.abort();
      out({ ok: true });
      break;
    }
    case "hold-process-exclusive": {
      const g = await store.locker.exclusiveLock({ operation: args.operation ?? "garbage collection" });
      out({ ready: true });
      await nextLine();
      await g.release();
      out({ ok: true });
      break;
    }
    case "hold-process-shared": {
      const g = await store.locker.sharedLock({ operation: args.operation ?? "backup" });
      out({ ready: true });
      await nextLine();
      await g.release();
      out({ ok: true });
      break;
    }
    case "hold-snapshot": {
      const l = await store.lockSnapshot(args.snapshot, { mode: args.mode ?? "shared", operation: args.operation ?? "reader" });
      out({ ready: true });
      await nextLine();
      l.release();
      out({ ok: true });
      break;
    }
    case "hold-manifest": {
      const l = await store.lockManifest(args.snapshot, args.operation ?? "verify");
      out({ ready: true });
      await nextLine();
      l.release();
      out({ ok: true });
      break;
    }
    case "append-notes": {
      out({ ready: true });
      await nextLine();
      for (let i = 0; i < args.count; i++) {
        await store.updateManifest(args.snapshot, (m) => {
          const prev = typeof m.unprotected.notes === "string" ? m.unprotected.notes : "";
          m.unprotected.notes = `${prev}${args.tag}${i};`;
        });
      }
      out({ ok: true });
      break;
    }
    case "try": {
      // one-shot operations that may fail: report ok or the error code
      out({ ready: true });
      await nextLine();
      try {
        if (args.op === "gc") {
          const st = await store.garbageCollection(args.gc ?? {});
          out({ ok: true, status: st });
        } else if (args.op === "forget") {
          await store.forgetSnapshot(args.snapshot);
          out({ ok: true });
        } else if (args.op === "backup") {
          const w = await store.openBackup({ type: "host", id: args.id ?? "h1", time: args.time, owner: "root@pam" });
          await w.abort();
          out({ ok: true });
        } else if (args.op === "exclusive") {
          const g = await store.locker.exclusiveLock({ operation: "garbage collection" });
          await g.release();
          out({ ok: true });
        }
      } catch (err) {
        fail(err);
      }
      break;
    }
    default:
      throw new Error(`unknown action ${args.action}`);
  }
  rl.close();
}

main().catch((err) => {
  fail(err);
  process.exit(1);
});
