// Builds the "every entry type" tree used by the round-trip tests.

import { randomBytes } from "node:crypto";
import { chmod, chown, lutimes, mkdir, symlink, utimes, writeFile, link } from "node:fs/promises";
import { join } from "node:path";
import { tryExec } from "./tree.js";

export interface FixtureInfo {
  devicesMade: boolean;
  deviceSkipReason?: string;
  deepPath: string;
}

const b = (s: string | number[]) => (typeof s === "string" ? Buffer.from(s) : Buffer.from(s));
const at = (root: string, ...parts: (string | Buffer)[]) => Buffer.concat([b(root), ...parts.flatMap((p) => [b("/"), typeof p === "string" ? b(p) : p])]);

export async function makeEveryTypeTree(root: string): Promise<FixtureInfo> {
  await writeFile(at(root, "empty"), "");
  await writeFile(at(root, "with space.txt"), "hello world\n");
  await writeFile(at(root, "new\nline"), "newline name\n");
  await writeFile(at(root, b([0x66, 0xff, 0xfe, 0x2e, 0x80])), "latin1 name\n");
  await writeFile(at(root, "n".repeat(255)), "long name\n");
  await writeFile(at(root, "random.bin"), randomBytes(3 * 1024 * 1024 + 17));
  await writeFile(at(root, "zeros-then-data"), Buffer.concat([Buffer.alloc(300_000), b("tail")]));
  const parts = Array.from({ length: 40 }, (_, i) => `d${i}`);
  await mkdir(join(root, ...parts), { recursive: true });
  await writeFile(join(root, ...parts, "bottom.txt"), "deep\n");
  await symlink("with space.txt", at(root, "link"));
  await symlink("/etc/passwd", at(root, "abs-link"));
  await symlink("does/not/exist", at(root, "dangling"));
  await mkdir(at(root, "sub"));
  await writeFile(at(root, "hl1"), "shared inode\n");
  await link(at(root, "hl1"), at(root, "sub", "hl2"));
  await link(at(root, "hl1"), at(root, "sub", "hl3"));
  await writeFile(at(root, "sub", "setuid"), "#!/bin/sh\n");
  await chmod(at(root, "sub", "setuid"), 0o4755);
  await chown(at(root, "sub", "setuid"), 1234, 5678);
  await chmod(at(root, "sub", "setuid"), 0o4755);
  await mkdir(at(root, "private"), 0o711);
  await chmod(at(root, "private"), 0o711);
  await writeFile(at(root, "private", "ro"), "read only\n", { mode: 0o400 });
  await chmod(at(root, "private", "ro"), 0o400);
  const fifoErr = tryExec("mkfifo", [join(root, "fifo")]);
  if (fifoErr) throw new Error(`mkfifo failed: ${fifoErr}`);
  const chr = tryExec("mknod", [join(root, "chr"), "c", "1", "3"]);
  const blk = chr ? chr : tryExec("mknod", [join(root, "blk"), "b", "7", "200"]);
  // distinctive times, including one before 1970
  await utimes(at(root, "empty"), 1_000_000_000.5, 1_000_000_000.123456);
  // times before 1970 go as strings: fs turns a negative number into the current time
  await utimes(at(root, "with space.txt"), 1_700_000_000, "-86400.25");
  await lutimes(at(root, "link"), 1_600_000_000, "-315359999.8765435");
  await utimes(at(root, "sub"), 1_650_000_000, 1_650_000_000.5);
  return { devicesMade: !blk, deviceSkipReason: blk, deepPath: parts.join("/") };
}
