#!/usr/bin/env node
// Runs the whole test suite: build every package, lint, run each package's vitest suite
// (which writes test-results.json beside it), then sums the counts. The last line printed is
// always `N passed, N failed`; the exit status is non-zero if any step or any test failed.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", FORCE_COLOR: "0" };

function packageDirs() {
  const dirs = [];
  for (const group of ["packages", "apps"]) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      if (existsSync(join(base, name, "package.json"))) dirs.push(join(base, name));
    }
  }
  return dirs;
}

function run(cmd, args) {
  console.log(`\n$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit" });
  return r.status === 0;
}

const dirs = packageDirs();
for (const d of dirs) rmSync(join(d, "test-results.json"), { force: true });

let ok = run("npx", ["turbo", "run", "build"]);
ok = run("npx", ["biome", "lint", "."]) && ok;
// Packages run one after another: the stress tests use real processes and both cores.
ok = run("npx", ["turbo", "run", "test", "--continue", "--concurrency=1"]) && ok;

let passed = 0;
let failed = 0;
for (const d of dirs) {
  const file = join(d, "test-results.json");
  if (!existsSync(file)) {
    const pkg = JSON.parse(readFileSync(join(d, "package.json"), "utf8"));
    if (pkg.scripts?.test) {
      console.log(`no test results from ${pkg.name}`);
      failed += 1;
      ok = false;
    }
    continue;
  }
  const res = JSON.parse(readFileSync(file, "utf8"));
  passed += res.numPassedTests ?? 0;
  failed += res.numFailedTests ?? 0;
  if ((res.numFailedTestSuites ?? 0) > 0 && (res.numFailedTests ?? 0) === 0) {
    // a suite that failed to load counts as a failure even though no test inside it ran
    failed += res.numFailedTestSuites;
  }
}
if (failed > 0) ok = false;
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
