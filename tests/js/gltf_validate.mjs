// Validates GLB files with the Khronos glTF validator (gltf-validator, pinned in package.json).
//
// argv:   one or more paths of .glb files
// stdout: one JSON line: {"reports": [{"path": "..", "errors": N, "warnings": N,
//          "infos": N, "messages": [{"code", "severity", "message", "pointer"}, ...]}, ...]}
// External resources are never loaded: a GLB the exhibit serves must be self-contained.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

// Resolved as CommonJS, so NODE_PATH can point at another node_modules when needed.
const validator = createRequire(import.meta.url)("gltf-validator");

const reports = [];
for (const path of process.argv.slice(2)) {
  const bytes = new Uint8Array(await readFile(path));
  const report = await validator.validateBytes(bytes, {
    maxIssues: 0,
    writeTimestamp: false,
    externalResourceFunction: (uri) => Promise.reject(new Error(`external resource ${uri}`)),
  });
  reports.push({
    path,
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    infos: report.issues.numInfos,
    messages: report.issues.messages.map((m) => ({
      code: m.code, severity: m.severity, message: m.message, pointer: m.pointer ?? null,
    })),
  });
}
process.stdout.write(JSON.stringify({ reports }) + "\n");
