// The calibration tables (docs/CALIBRATION.md) from finished run folders and earlier tables' CSVs: one CSV row per
// run, and per task a markdown table of mean ± sample std over seeds per model, with the ceiling and the majority
// baseline. Task 4 (one run tests a trained Task-2 network at several gaps) also gets one CSV row per gap
// (--gaps-csv) and a table of accuracy per gap with the share kept from the shortest to the longest gap.
//   node benchmarks/calibration/table.mjs [--csv OUT.csv] [--gaps-csv OUT.csv] [--from EARLIER.csv …]
//                                         [--from-gaps EARLIER_GAPS.csv …] SWEEP_DIR …
// --from-gaps adds an earlier --gaps-csv's rows (a run read back from a --from CSV has no per-gap results of its own);
// a run folder's gaps replace the earlier rows of the same (task, model, seed).
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const take = (flag) => {
  const found = [];
  for (let i = args.indexOf(flag); i >= 0; i = args.indexOf(flag)) found.push(args.splice(i, 2)[1]);
  return found;
};
const [csvPath] = take("--csv");
const [gapsCsvPath] = take("--gaps-csv");
const earlier = take("--from");
const earlierGaps = take("--from-gaps");
if (args.length === 0 && earlier.length === 0) {
  console.error(
    "usage: node benchmarks/calibration/table.mjs [--csv OUT.csv] [--gaps-csv OUT.csv] [--from EARLIER.csv …] [--from-gaps EARLIER_GAPS.csv …] SWEEP_DIR …",
  );
  process.exit(2);
}

// The same (task, model, seed) found twice must agree: wasm runs are deterministic across machines.
const runs = new Map();
function add(r, where) {
  const key = `${r.task}/${r.model}/${r.seed}`;
  const seen = runs.get(key);
  if (seen && seen.testAccuracy !== r.testAccuracy) {
    console.error(`${key}: ${seen.testAccuracy} in ${seen.where}, ${r.testAccuracy} in ${where}`);
    process.exit(1);
  }
  if (seen) agreed++;
  runs.set(key, { ...r, where: seen?.where ?? where });
}
let agreed = 0;
// A missing or unreadable input is one line naming it, not a stack trace.
for (const path of [...earlier, ...earlierGaps, ...args]) {
  if (!existsSync(path)) {
    console.error(`table.mjs: ${path}: no such file or folder; give earlier CSVs with --from and sweep folders as arguments`);
    process.exit(2);
  }
}
const numeric = new Set(["seed", "gap", "testAccuracy", "testLoss", "ceiling", "majorityBaseline", "params", "wallSeconds"]);
const readCsv = (file) => {
  const [header, ...lines] = readFileSync(file, "utf8").trim().split("\n");
  const names = header.split(",");
  return lines.map((line) => {
    const cells = line.split(",");
    return Object.fromEntries(names.map((n, i) => [n, numeric.has(n) ? Number(cells[i]) : cells[i]]));
  });
};
for (const file of earlier) for (const r of readCsv(file)) add(r, file);
for (const dir of args) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, "result.json");
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, "utf8"));
    if (r.status !== "completed") continue;
    add(r, dir);
  }
}
if (agreed > 0) console.error(`${agreed} runs found twice gave the same accuracy`);

const rows = [...runs.values()].sort((a, b) =>
  a.task === b.task ? (a.model === b.model ? a.seed - b.seed : a.model.localeCompare(b.model)) : a.task.localeCompare(b.task),
);
const columns = ["task", "model", "seed", "testAccuracy", "testLoss", "ceiling", "majorityBaseline", "params", "backend", "wallSeconds"];
if (csvPath) {
  writeFileSync(csvPath, [columns.join(","), ...rows.map((r) => columns.map((c) => r[c] ?? "").join(","))].join("\n") + "\n");
  console.error(`${rows.length} runs → ${csvPath}`);
}
const runKey = (r) => `${r.task}/${r.model}/${r.seed}`;
const freshGapRows = rows.flatMap((r) => (r.variants ?? []).map((v) => ({ ...r, ...v, gap: v.value })));
const fresh = new Set(freshGapRows.map(runKey));
const gapRows = [...earlierGaps.flatMap(readCsv).filter((r) => !fresh.has(runKey(r))), ...freshGapRows].sort((a, b) =>
  runKey(a) === runKey(b) ? a.gap - b.gap : a.task === b.task && a.model === b.model ? a.seed - b.seed : runKey(a).localeCompare(runKey(b)),
);
const gapColumns = ["task", "model", "seed", "gap", "testAccuracy", "testLoss", "ceiling", "majorityBaseline"];
if (gapsCsvPath) {
  writeFileSync(gapsCsvPath, [gapColumns.join(","), ...gapRows.map((r) => gapColumns.map((c) => r[c] ?? "").join(","))].join("\n") + "\n");
  console.error(`${gapRows.length} (run, gap) rows → ${gapsCsvPath}`);
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

// Accuracy per test gap (Task 4): mean ± std over seeds, and the share of the shortest gap's accuracy kept at the
// longest (mean over seeds of each seed's ratio).
const gapTasks = [...new Set(gapRows.map((r) => r.task))];
for (const task of gapTasks) {
  const ofTask = gapRows.filter((r) => r.task === task);
  const gaps = [...new Set(ofTask.map((r) => r.gap))].sort((a, b) => a - b);
  const models = [...new Set(ofTask.map((r) => r.model))].map((model) => {
    const at = (gap) => ofTask.filter((r) => r.model === model && r.gap === gap);
    const seeds = [...new Set(at(gaps[0]).map((r) => r.seed))];
    const kept = seeds.map(
      (seed) => at(gaps.at(-1)).find((r) => r.seed === seed).testAccuracy / at(gaps[0]).find((r) => r.seed === seed).testAccuracy,
    );
    return { model, at, kept };
  });
  models.sort((a, b) => mean(b.kept) - mean(a.kept));
  console.log(`\n${task}: accuracy per test gap (steps per gap symbol)\n`);
  console.log(`| model | ${gaps.map((g) => `gap ${g}`).join(" | ")} | kept at gap ${gaps.at(-1)} (of gap ${gaps[0]}) |`);
  console.log(`| --- | ${gaps.map(() => "---").join(" | ")} | --- |`);
  for (const m of models) {
    const cells = gaps.map((g) => {
      const acc = m.at(g).map((r) => r.testAccuracy);
      return `${f(mean(acc))} ± ${f(std(acc))}`;
    });
    console.log(`| ${m.model} | ${cells.join(" | ")} | ${f(mean(m.kept))} ± ${f(std(m.kept))} |`);
  }
  const ceilings = gaps.map((g) => f(mean(ofTask.filter((r) => r.gap === g).map((r) => r.ceiling))));
  console.log(`| ceiling | ${ceilings.join(" | ")} | |`);
}
