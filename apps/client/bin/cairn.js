#!/usr/bin/env node
// Launcher for cairn kept in the repository so pnpm can link the bin before the build;
// the command itself is dist/bundle/cairn.js (dist/cli.js and its imports, bundled by scripts/bundle.mjs).
import "../dist/bundle/cairn.js";
