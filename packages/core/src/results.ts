import { mkdirSync, renameSync, writeFileSync, rmSync, accessSync, constants } from "node:fs";
import { dirname, join } from "node:path";
import { SelectivError } from "./errors.js";

/** Writes a file so that readers see the old or the new content, never a part: temp file, then rename. */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Checks that `dir` can be created and written, else a one-line error naming the flag. */
export function ensureWritableDir(dir: string, flag = "--out"): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.write-probe-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new SelectivError(`${flag}: cannot write to ${JSON.stringify(dir)} (${code}); give a folder you can write to`);
  }
}

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
  /** Prediction mode: mean KL divergence per masked test step (tasks.md §4); absent in classification. */
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
  /** Prediction mode: mean KL divergence per masked test step at the end, and the lowest over evaluations. */
  testKl?: number;
  bestTestKl?: number;
  wallSeconds: number;
  runDir: string;
  taskSummary: Record<string, number | string>;
  /** Transfer tasks (Task 4): the trained model's test accuracy and loss on each variant (e.g. each test gap). */
  variants?: { label: string; value: number; testAccuracy: number; testLoss: number; majorityBaseline: number; testKl?: number }[];
  /** Transfer tasks: the run that trained the model. */
  trainedIn?: string;
}
