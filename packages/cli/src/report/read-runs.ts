import type { EvaluationRecord } from "@selectiv/core";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

/** Test accuracy of a trained model at one test gap (Task 4). */
export interface GapAccuracy {
  readonly gapSteps: number;
  readonly accuracy: number;
}

/** One run folder as the report sees it: result.json, the settings of config.json, and metrics.jsonl. */
export interface RunRecord {
  /** The run folder's name inside the results folder. */
  readonly folder: string;
  readonly task: string;
  readonly model: string;
  readonly seed: number;
  readonly preset: string;
  readonly status: string;
  readonly backend: string;
  readonly width: number;
  readonly layers: number;
  /** Topological entropy of the run's grammar; NaN for tasks that record none. */
  readonly te: number;
  readonly params: number;
  readonly testAccuracy: number;
  readonly bestTestAccuracy: number;
  readonly testLoss: number;
  readonly majorityBaseline: number;
  /** The best accuracy any model can reach on the run's test split (docs/spec/TASKS.md §4.1); NaN where none. */
  readonly ceiling: number;
  /** Prediction runs (docs/spec/TASKS.md §4): mean test KL divergence per step at the end, and the lowest; NaN otherwise. */
  readonly testKl: number;
  readonly bestTestKl: number;
  readonly wallSeconds: number;
  /** Every setting but the seed, flattened: `task.<field>`, `model.<field>`, `train.<field>`. */
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  /** Evaluations during training, in order (empty when the folder has no metrics.jsonl). */
  readonly curve: readonly EvaluationRecord[];
  readonly gapAccuracies: readonly GapAccuracy[];
}

export interface RunsFolder {
  readonly runs: RunRecord[];
  /** One line each: folders left out, or parts of a run that could not be read. */
  readonly warnings: string[];
}

type Json = Record<string, unknown>;

/** JSON writes NaN as null: read any non-number as NaN. */
function numberOr(value: unknown, fallback = NaN): number {
  return typeof value === "number" ? value : fallback;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A folder, or a link to one (a run folder linked in from another results folder). */
function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}

function flattenSettings(config: Json): Record<string, string | number | boolean> {
  const settings: Record<string, string | number | boolean> = {};
  for (const [section, prefix] of [
    ["taskConfig", "task"],
    ["modelConfig", "model"],
    ["training", "train"],
  ] as const) {
    const values = config[section];
    if (!isObject(values)) continue;
    for (const [key, value] of Object.entries(values)) {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") settings[`${prefix}.${key}`] = value;
    }
  }
  return settings;
}

/**
 * Test gaps of a Task-4 run: `gapAccuracies` where a result carries them, else the variants of a transfer result
 * (Task 4 varies the test gap, so a variant's value is its gap in steps).
 */
function gapAccuraciesOf(result: Json): GapAccuracy[] {
  const fromGaps = Array.isArray(result.gapAccuracies)
    ? result.gapAccuracies.filter(isObject).map((g) => ({ gapSteps: numberOr(g.gapSteps), accuracy: numberOr(g.accuracy) }))
    : Array.isArray(result.variants)
      ? result.variants.filter(isObject).map((v) => ({ gapSteps: numberOr(v.value), accuracy: numberOr(v.testAccuracy) }))
      : [];
  // Prediction runs have no accuracy per gap (null): nothing to draw.
  return fromGaps.filter((g) => Number.isFinite(g.gapSteps) && Number.isFinite(g.accuracy));
}

/** metrics.jsonl; a line that is not an evaluation record costs a warning and leaves the curve out. */
function readCurve(path: string, warn: (reason: string) => void): EvaluationRecord[] {
  if (!existsSync(path)) return [];
  const records: EvaluationRecord[] = [];
  const lines = readFileSync(path, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trim()) continue;
    let record: unknown;
    try {
      record = JSON.parse(lines[i]!);
    } catch {
      record = undefined;
    }
    if (!isObject(record) || typeof record.samples !== "number") {
      warn(`metrics.jsonl line ${i + 1} is not an evaluation record; its training curve is left out`);
      return [];
    }
    records.push({
      step: numberOr(record.step),
      samples: record.samples,
      lr: numberOr(record.lr),
      trainLoss: numberOr(record.trainLoss),
      testLoss: numberOr(record.testLoss),
      testAccuracy: numberOr(record.testAccuracy),
      majorityBaseline: numberOr(record.majorityBaseline),
      ...(record.testKl !== undefined ? { testKl: numberOr(record.testKl) } : {}),
      gradNorm: numberOr(record.gradNorm),
      wallSeconds: numberOr(record.wallSeconds),
    });
  }
  return records;
}

/** Reads one run folder, or says in a few words why it is not one. */
function readRun(dir: string, folder: string, warn: (reason: string) => void): RunRecord | string {
  const resultPath = join(dir, "result.json");
  const configPath = join(dir, "config.json");
  if (!existsSync(resultPath)) return existsSync(configPath) ? "no result.json (an unfinished run?)" : "not a run folder (no result.json)";
  if (!existsSync(configPath)) return "no config.json";
  let result: unknown;
  let config: unknown;
  try {
    result = readJson(resultPath);
  } catch {
    return "result.json is not valid JSON";
  }
  try {
    config = readJson(configPath);
  } catch {
    return "config.json is not valid JSON";
  }
  if (!isObject(result) || typeof result.task !== "string" || typeof result.model !== "string" || typeof result.seed !== "number") {
    return "result.json has no task, model and seed";
  }
  if (!isObject(config) || !isObject(config.training) || typeof config.training.width !== "number") {
    return "config.json has no training.width";
  }
  const taskSummary = isObject(result.taskSummary) ? result.taskSummary : isObject(config.taskSummary) ? config.taskSummary : {};
  return {
    folder,
    task: result.task,
    model: result.model,
    seed: result.seed,
    preset: typeof result.preset === "string" ? result.preset : "",
    status: typeof result.status === "string" ? result.status : "",
    backend: typeof result.backend === "string" ? result.backend : "",
    width: config.training.width,
    layers: numberOr(config.training.layers),
    te: numberOr(taskSummary.te),
    params: numberOr(result.params, numberOr(config.params)),
    testAccuracy: numberOr(result.testAccuracy),
    bestTestAccuracy: numberOr(result.bestTestAccuracy),
    testLoss: numberOr(result.testLoss),
    majorityBaseline: numberOr(result.majorityBaseline),
    ceiling: numberOr(result.ceiling),
    testKl: numberOr(result.testKl),
    bestTestKl: numberOr(result.bestTestKl),
    wallSeconds: numberOr(result.wallSeconds),
    settings: flattenSettings(config),
    curve: readCurve(join(dir, "metrics.jsonl"), warn),
    gapAccuracies: gapAccuraciesOf(result),
  };
}

/**
 * Every run folder directly under `dir`, sorted by task, model, width and seed. Folders that are not runs are
 * left out with one warning each; hidden folders and `exclude` (the report's own folder) silently.
 */
export function readRunsFolder(dir: string, exclude: readonly string[] = []): RunsFolder {
  const excluded = new Set(exclude.map((p) => resolve(p)));
  const runs: RunRecord[] = [];
  const warnings: string[] = [];
  const entries = readdirSync(dir)
    .filter((name) => !name.startsWith(".") && !excluded.has(resolve(dir, name)) && isFolder(join(dir, name)))
    .sort();
  for (const folder of entries) {
    const path = join(dir, folder);
    const run = readRun(path, folder, (reason) => warnings.push(`${path}: ${reason}`));
    if (typeof run === "string") {
      // A report written into the results folder earlier is ours, not a foreign folder.
      if (!existsSync(join(path, "report.html"))) warnings.push(`skipping ${path}: ${run}`);
      continue;
    }
    runs.push(run);
  }
  runs.sort((a, b) => a.task.localeCompare(b.task) || a.model.localeCompare(b.model) || a.width - b.width || a.seed - b.seed);
  return { runs, warnings };
}
