import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // prune periods use the local time zone: tests run in UTC unless a test sets another zone
    env: { TZ: "UTC" },
  },
});
