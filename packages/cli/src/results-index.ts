import { join } from "node:path";
import { type RunResult, writeFileAtomic } from "@selectiv/core";
import { readResults } from "./library.js";

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

/** Prediction runs' columns, added after bestTestLoss when some run in the folder has them (tasks.md §4). */
const KL_COLUMNS: (keyof RunResult)[] = ["objective", "testKl", "bestTestKl"];

/**
 * Collects every `<out>/<run>/result.json` into `<out>/results.jsonl` and `<out>/results.csv` (pandas-readable). The CSV
 * has objective, testKl and bestTestKl columns only when some run trains the prediction objective.
 */
export function writeResultsIndex(outDir: string): RunResult[] {
  const results = readResults(outDir);
  const at = COLUMNS.indexOf("bestTestLoss") + 1;
  const columns = results.some((r) => r.objective === "prediction")
    ? [...COLUMNS.slice(0, at), ...KL_COLUMNS, ...COLUMNS.slice(at)]
    : COLUMNS;
  writeFileAtomic(join(outDir, "results.jsonl"), results.map((r) => JSON.stringify(r)).join("\n") + (results.length ? "\n" : ""));
  writeFileAtomic(
    join(outDir, "results.csv"),
    [
      columns.join(","),
      ...results.map((r) => columns.map((c) => csvCell(c === "objective" ? (r.objective ?? "classification") : r[c])).join(",")),
    ].join("\n") + "\n",
  );
  return results;
}
