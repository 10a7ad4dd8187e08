// The calibration tables (docs/CALIBRATION.md) from finished run folders: one CSV row per run, and per task a
// markdown table of mean ± sample std over seeds per model, with the ceiling and the majority baseline.
//   node benchmarks/calibration/table.mjs --csv OUT.csv SWEEP_DIR [SWEEP_DIR …]
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const csvAt = args.indexOf("--csv");
const csvPath = csvAt >= 0 ? args.splice(csvAt, 2)[1] : undefined;
if (args.length === 0) {
  console.error("usage: node benchmarks/calibration/table.mjs [--csv OUT.csv] SWEEP_DIR [SWEEP_DIR …]");
  process.exit(2);
}

// The same (task, model, seed) found in two folders must agree: wasm runs are deterministic across machines.
const runs = new Map();
for (const dir of args) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, "result.json");
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, "utf8"));
    if (r.status !== "completed") continue;
    const key = `${r.task}/${r.model}/${r.seed}`;
    const seen = runs.get(key);
    if (seen && seen.testAccuracy !== r.testAccuracy) {
      console.error(`${key}: ${seen.testAccuracy} in one folder, ${r.testAccuracy} in ${dir}`);
      process.exit(1);
    }
    runs.set(key, r);
  }
}

const rows = [...runs.values()].sort((a, b) =>
  a.task === b.task ? (a.model === b.model ? a.seed - b.seed : a.model.localeCompare(b.model)) : a.task.localeCompare(b.task),
);
const columns = ["task", "model", "seed", "testAccuracy", "testLoss", "ceiling", "majorityBaseline", "params", "backend", "wallSeconds"];
if (csvPath) {
  writeFileSync(csvPath, [columns.join(","), ...rows.map((r) => columns.map((c) => r[c] ?? "").join(","))].join("\n") + "\n");
  console.error(`${rows.length} runs → ${csvPath}`);
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const f = (x) => (Number.isFinite(x) ? x.toFixed(3) : "—");
for (const task of [...new Set(rows.map((r) => r.task))]) {
  const ofTask = rows.filter((r) => r.task === task);
  const models = [...new Set(ofTask.map((r) => r.model))]
    .map((model) => ({ model, runs: ofTask.filter((r) => r.model === model) }))
    .map((m) => ({ ...m, acc: m.runs.map((r) => r.testAccuracy) }))
    .sort((a, b) => mean(b.acc) - mean(a.acc));
  console.log(`\n${task}\n`);
  console.log("| model | accuracy (mean ± std) | seeds | per seed | ceiling | majority baseline | wall per run (min) |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const m of models) {
    const perSeed = m.runs.map((r) => `${r.seed}: ${r.testAccuracy.toFixed(4)}`).join(", ");
    const walls = m.runs.map((r) => r.wallSeconds / 60);
    console.log(
      `| ${m.model} | ${f(mean(m.acc))} ± ${f(std(m.acc))} | ${m.runs.length} | ${perSeed} | ${f(mean(m.runs.map((r) => r.ceiling)))} | ${f(mean(m.runs.map((r) => r.majorityBaseline)))} | ${Math.min(...walls).toFixed(1)}–${Math.max(...walls).toFixed(1)} |`,
    );
  }
}
