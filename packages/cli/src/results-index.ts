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

/** Collects every `<out>/<run>/result.json` into `<out>/results.jsonl` and `<out>/results.csv` (pandas-readable). */
export function writeResultsIndex(outDir: string): RunResult[] {
  const results = readResults(outDir);
  writeFileAtomic(join(outDir, "results.jsonl"), results.map((r) => JSON.stringify(r)).join("\n") + (results.length ? "\n" : ""));
  writeFileAtomic(
    join(outDir, "results.csv"),
    [COLUMNS.join(","), ...results.map((r) => COLUMNS.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n",
  );
  return results;
}
