import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { SelectivError } from "./errors.js";
import { withFileLock, writeFileAtomic } from "./files.js";

/** One evaluation, as a line of metrics.jsonl. */
export interface EvaluationRecord {
  step: number;
  samples: number;
  lr: number;
  trainLoss: number;
  testLoss: number;
  /** Window accuracy (classification); NaN in prediction mode. */
  testAccuracy: number;
  majorityBaseline: number;
  /** Prediction mode: mean KL divergence per masked test step (docs/spec/TASKS.md §4); absent in classification. */
  testKl?: number;
  gradNorm: number;
  wallSeconds: number;
}

export interface RunResult {
  status: "completed" | "diverged";
  task: string;
  model: string;
  seed: number;
  preset: string;
  params: number;
  backend: string;
  backendReason: string;
  steps: number;
  /** Absent = classification. In prediction mode accuracies and the majority baseline are NaN and KL is the metric. */
  objective?: "prediction";
  testAccuracy: number;
  testLoss: number;
  bestTestAccuracy: number;
  bestTestLoss: number;
  majorityBaseline: number;
  /**
   * The best window accuracy any model can reach on the test split (docs/spec/TASKS.md §4.1); absent in prediction
   * mode and for tasks that cannot compute it. Transfer tasks: the mean over the variants.
   */
  ceiling?: number;
  /** Prediction mode: mean KL divergence per masked test step at the end, and the lowest over evaluations. */
  testKl?: number;
  bestTestKl?: number;
  wallSeconds: number;
  runDir: string;
  taskSummary: Record<string, number | string>;
  /** Transfer tasks (Task 4): the trained model's test accuracy and loss on each variant (e.g. each test gap). */
  variants?: {
    label: string;
    value: number;
    testAccuracy: number;
    testLoss: number;
    majorityBaseline: number;
    ceiling?: number;
    testKl?: number;
  }[];
  /** Transfer tasks: the run that trained the model. */
  trainedIn?: string;
}

/** Receives one line per problem that is skipped rather than fatal (the CLI prints it as a warning). */
export type WarningSink = (line: string) => void;

const warned = new Set<string>();
/** The index is rebuilt after every run: each problem is printed once per process, not once per rebuild. */
const stderrWarning: WarningSink = (line) => {
  if (warned.has(line)) return;
  warned.add(line);
  process.stderr.write(`warning: ${line}\n`);
};

/** Whether a parsed result.json has the fields every reader relies on. */
function isRunResult(x: unknown): x is RunResult {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const r = x as Partial<RunResult>;
  return (
    typeof r.task === "string" &&
    typeof r.model === "string" &&
    Number.isInteger(r.seed) &&
    (r.status === "completed" || r.status === "diverged") &&
    typeof r.preset === "string" &&
    typeof r.backend === "string"
  );
}

/**
 * Every `result.json` under a results folder (one level of run folders), sorted by task, model and seed. One
 * that is not a selectiv result (unreadable, `null`, `{}`, fields missing) is left out with one warning line.
 */
export function readResults(dir: string, warn: WarningSink = stderrWarning): RunResult[] {
  if (!existsSync(dir)) throw new SelectivError(`results folder ${JSON.stringify(dir)} does not exist`);
  const results: RunResult[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name, "result.json");
    if (!entry.isDirectory() || !existsSync(path)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8"));
    } catch {
      warn(`${path}: not valid JSON; left out of the results index`);
      continue;
    }
    if (isRunResult(parsed)) results.push(parsed);
    else warn(`${path}: not a selectiv result (needs task, model, seed, status, preset, backend); left out of the results index`);
  }
  return results.sort((a, b) => a.task.localeCompare(b.task) || a.model.localeCompare(b.model) || a.seed - b.seed);
}

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
  "ceiling",
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

/** Prediction runs' columns, added after bestTestLoss when some run in the folder has them (docs/spec/TASKS.md §4). */
const KL_COLUMNS: (keyof RunResult)[] = ["objective", "testKl", "bestTestKl"];

/**
 * Collects every `<out>/<run>/result.json` into `<out>/results.jsonl` and `<out>/results.csv` (pandas-readable). The CSV
 * has objective, testKl and bestTestKl columns only when some run trains the prediction objective.
 */
export function writeResultsIndex(outDir: string, warn: WarningSink = stderrWarning): RunResult[] {
  // Rebuilt from the run folders under a lock: two processes finishing runs in one folder each see the other's
  // result.json, and neither renames an older snapshot over a newer one.
  return withFileLock(join(outDir, ".results.lock"), () => writeIndexFiles(outDir, readResults(outDir, warn)));
}

function writeIndexFiles(outDir: string, results: RunResult[]): RunResult[] {
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
