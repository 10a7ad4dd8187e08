import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type RunResult, writeFileAtomic } from "@selectiv/core";

const COLUMNS: (keyof RunResult)[] = [
  "task",
  "model",
  "seed",
  "preset",
  "status",
  "params",
  "testAccuracy",
  "bestTestAccuracy",
  "majorityBaseline",
  "testLoss",
  "bestTestLoss",
  "steps",
  "wallSeconds",
  "backend",
  "runDir",
];

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? "" : typeof v === "number" && !Number.isFinite(v) ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Collects every `<out>/<run>/result.json` into `<out>/results.jsonl` and `<out>/results.csv` (pandas-readable). */
export function writeResultsIndex(outDir: string): RunResult[] {
  const results: RunResult[] = [];
  for (const entry of readdirSync(outDir, { withFileTypes: true })) {
    const path = join(outDir, entry.name, "result.json");
    if (!entry.isDirectory() || !existsSync(path)) continue;
    try {
      results.push(JSON.parse(readFileSync(path, "utf8")) as RunResult);
    } catch {
      // A result.json is written atomically, so an unreadable one is foreign to us: leave it out of the index.
    }
  }
  results.sort((a, b) => a.task.localeCompare(b.task) || a.model.localeCompare(b.model) || a.seed - b.seed);
  writeFileAtomic(join(outDir, "results.jsonl"), results.map((r) => JSON.stringify(r)).join("\n") + (results.length ? "\n" : ""));
  writeFileAtomic(
    join(outDir, "results.csv"),
    [COLUMNS.join(","), ...results.map((r) => COLUMNS.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n",
  );
  return results;
}
