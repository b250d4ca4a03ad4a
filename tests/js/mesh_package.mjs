// Reads a published mesh from an npm package, for the model derivative tests.
//
// argv:   package name (e.g. "bunny", "teapot", "snowden", "@gsimone/suzanne")
// stdout: one JSON line: {"dir": "<the package's folder>", "positions": [[x, y, z], ...],
//          "cells": [[a, b, c], ...]} for simplicial-complex packages, or
//          {"dir": "..", "data_url": "data:..;base64,.."} for packages that export a file as a
//          data URL (its default export).
import { createRequire } from "node:module";
import { dirname } from "node:path";

// Resolved as CommonJS, so NODE_PATH can point at another node_modules when needed.
const require = createRequire(import.meta.url);
const name = process.argv[2];
const dir = dirname(require.resolve(`${name}/package.json`));
const mesh = require(name);
const out = { dir };
if (typeof mesh.default === "string") {
  out.data_url = mesh.default;
} else {
  out.positions = Array.from(mesh.positions, (p) => Array.from(p));
  out.cells = Array.from(mesh.cells, (c) => Array.from(c));
}
process.stdout.write(JSON.stringify(out) + "\n");
