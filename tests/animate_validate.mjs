// Validate a glTF/GLB file with the Khronos glTF validator (npm package "gltf-validator").
// Usage: node tests/animate_validate.mjs FILE.glb  -> prints the validator's JSON report.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const validator = require("gltf-validator");
const file = process.argv[2];
const data = new Uint8Array(await readFile(file));
const report = await validator.validateBytes(data, { maxIssues: 100 });
console.log(JSON.stringify(report));
