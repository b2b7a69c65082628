import { chmod, lutimes, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bufferReader, collectSink, CopyingPayloadSink, extractArchive, extractSplitArchive } from "../src/index.js";
import { diffSnapshots, encodeToBuffer, removeDir, snapshot, tempDir } from "./helpers/tree.js";

type Node =
  | { kind: "file"; name: Buffer; data: Buffer; mode: number; mtime: number }
  | { kind: "symlink"; name: Buffer; target: Buffer; mtime: number }
  | { kind: "dir"; name: Buffer; mode: number; mtime: number; children: Node[] };

const nameArb = fc
  .uint8Array({ minLength: 1, maxLength: 12 })
  .map((a) => Buffer.from(a.map((b) => (b === 0x2f || b === 0 ? 0x5f : b))))
  .filter((b) => !b.equals(Buffer.from(".")) && !b.equals(Buffer.from("..")));
const mtimeArb = fc.integer({ min: -1_000_000_000, max: 2_000_000_000 }).map((s) => s + 0.5);
const modeArb = fc.integer({ min: 0, max: 0o7777 });

const { tree } = fc.letrec<{ tree: Node[]; node: Node }>((tie) => ({
  tree: fc.uniqueArray(tie("node"), { maxLength: 6, selector: (n) => n.name.toString("hex") }),
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ kind: fc.constant("file" as const), name: nameArb, data: fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)), mode: modeArb, mtime: mtimeArb }),
    fc.record({ kind: fc.constant("symlink" as const), name: nameArb, target: nameArb, mtime: mtimeArb }),
    fc.record({ kind: fc.constant("dir" as const), name: nameArb, mode: modeArb, mtime: mtimeArb, children: tie("tree") as fc.Arbitrary<Node[]> }),
  ),
}));

async function build(dir: Buffer, nodes: Node[]): Promise<void> {
  for (const n of nodes) {
    const p = Buffer.concat([dir, Buffer.from("/"), n.name]);
    if (n.kind === "file") {
      await writeFile(p, n.data);
      await chmod(p, n.mode);
    } else if (n.kind === "symlink") {
      await symlink(n.target, p);
    } else {
      await mkdir(p);
      await build(p, n.children);
      await chmod(p, n.mode);
    }
    await lutimes(p, n.mtime, n.mtime);
  }
}

describe("property: random trees round-trip", () => {
  let work: string;
  let runs = 0;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => removeDir(work));

  it("decode(encode(tree)) equals the tree, single stream and split", async () => {
    await fc.assert(
      fc.asyncProperty(tree, fc.boolean(), async (nodes, split) => {
        const run = join(work, `r${runs++}`);
        const src = join(run, "src");
        await mkdir(src, { recursive: true });
        await build(Buffer.from(src), nodes);
        const out = join(run, "out");
        if (split) {
          const p = collectSink();
          const meta = await encodeToBuffer(src, { payload: new CopyingPayloadSink((b) => p.write(b)) });
          await extractSplitArchive([meta], bufferReader(p.buffer()), out);
        } else {
          await extractArchive([await encodeToBuffer(src)], out);
        }
        expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);
        await removeDir(run);
      }),
      { numRuns: 40 },
    );
  });
});
