// Embedding selectiv in a program: list models and tasks, generate data, run a benchmark, read the results.
// Run it from the repository root after `pnpm build`:  node docs/examples/embedding.mjs [OUT_DIR]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Selectiv, readResults } from "@selectiv/cli";

const out = process.argv[2] ?? mkdtempSync(join(tmpdir(), "selectiv-embedding-"));
const selectiv = await Selectiv.create();

// The registries: every built-in model with its taxonomy, every task.
const models = selectiv.models(256);
console.log(`models: ${models.map((m) => `${m.id} (${m.transition})`).join(", ")}`);
console.log(
  `tasks: ${selectiv
    .tasks()
    .map((t) => t.id)
    .join(", ")}`,
);

// Data: sample 0 of Task 1's training split on the quick preset, as a padded batch.
const batch = selectiv.generate("task1", { preset: "quick", seed: 1, split: "train", start: 0, count: 2 });
console.log(
  `batch: ${batch.size} samples × ${batch.steps} steps × ${batch.inputSize} inputs, first classes ${Array.from(batch.symbolTargets.slice(0, 5)).join(",")}`,
);

// A benchmark: GLA on Task 1, smoke preset, one seed, on the cpu backend.
const report = await selectiv.run(
  { tasks: ["task1"], models: ["gla"], seeds: [1], preset: "smoke", backend: "cpu", outDir: out },
  { onRunEnd: (r) => console.log(`run: ${r.task} ${r.model} seed ${r.seed}: accuracy ${r.testAccuracy.toFixed(4)}`) },
);
console.log(`backend: ${report.backend.name}`);

// Results, read back from the folder.
for (const r of readResults(out)) console.log(`result: ${r.task} ${r.model} seed ${r.seed} ${r.status} params ${r.params}`);
