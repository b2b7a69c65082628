import { defineConfig } from "vitest/config";

// The fault-injection suite alone (pnpm test:chaos sets CAIRN_CHAOS=long for the long version).
// Files run one after another: they kill processes and fill disks, and share two cores.
export default defineConfig({
  test: {
    include: [
      "test/chaos-*.test.ts",
      "test/disk-full-backup-fails-cleanly.test.ts",
      "test/corrupt-chunk-is-reuploaded.test.ts",
      "test/fuzz-routes-and-session.test.ts",
      "test/reload-keeps-running-backup.test.ts",
    ],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 120_000,
  },
});
