#!/usr/bin/env node
// Launcher for cairn-server kept in the repository so pnpm can link the bin before the build;
// the command itself is dist/cli.js (built by `tsc -b`).
import "../dist/cli.js";
