// The embedding example of docs/LIBRARY.md runs, and the document shows exactly that file.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const example = join(root, "docs/examples/embedding.mjs");

describe("library API (docs/LIBRARY.md)", () => {
  it("the embedding example runs: registries, data, a benchmark and its results", () => {
    const out = mkdtempSync(join(tmpdir(), "selectiv-embed-"));
    const r = spawnSync(process.execPath, [example, out], { cwd: root, encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^models: .*gla \(diagonal\)/m);
    expect(r.stdout).toMatch(/^tasks: .*task1/m);
    expect(r.stdout).toMatch(/^batch: 2 samples × \d+ steps × 13 inputs, first classes [\d,]+$/m);
    expect(r.stdout).toMatch(/^run: task1 gla seed 1: accuracy 0\.\d{4}$/m);
    expect(r.stdout).toMatch(/^backend: cpu$/m);
    expect(r.stdout).toMatch(/^result: task1 gla seed 1 completed params \d+$/m);
  });

  it("the document embeds the example file verbatim", () => {
    const doc = readFileSync(join(root, "docs/LIBRARY.md"), "utf8");
    const block = doc.slice(doc.lastIndexOf("```js\n") + 6, doc.lastIndexOf("```"));
    expect(block).toBe(readFileSync(example, "utf8"));
  });
});
