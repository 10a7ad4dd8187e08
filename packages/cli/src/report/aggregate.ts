import type { RunRecord } from "./read-runs.js";

/** Mean and sample standard deviation (n − 1, as pandas) of the finite values; std is NaN below two values. */
export interface Stat {
  readonly mean: number;
  readonly std: number;
  readonly n: number;
}

export function meanStd(values: readonly number[]): Stat {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = finite.reduce((a, v) => a + v, 0) / n;
  const std = n < 2 ? NaN : Math.sqrt(finite.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, std, n };
}

/** The width has its own column and axis, so it never counts among a condition's `settings`. */
export const WIDTH_SETTING = "train.width";

/** Runs with the same settings but for the seed: the unit that the report averages over. */
export interface Condition {
  readonly task: string;
  readonly model: string;
  readonly preset: string;
  readonly width: number;
  readonly layers: number;
  /**
   * The settings (but width) that differ between conditions of the same task, model and preset, as
   * `key=value, …`; empty when width alone tells them apart.
   */
  readonly settings: string;
  /** Runs of the same task, model, preset and settings at any width: one line of a plot over width. */
  readonly seriesKey: string;
  readonly runs: readonly RunRecord[];
}

export interface SummaryRow {
  readonly task: string;
  readonly model: string;
  readonly preset: string;
  readonly width: number;
  readonly layers: number;
  readonly settings: string;
  readonly seeds: readonly number[];
  readonly diverged: number;
  readonly te: Stat;
  readonly testAccuracy: Stat;
  readonly bestTestAccuracy: Stat;
  readonly testLoss: Stat;
  readonly majorityBaseline: Stat;
  /** The best accuracy any model can reach (docs/spec/TASKS.md §4.1); n = 0 where no run has one. */
  readonly ceiling: Stat;
  /** Prediction runs: test KL divergence (n = 0 for classification conditions). */
  readonly testKl: Stat;
  readonly bestTestKl: Stat;
  readonly params: Stat;
  readonly wallSeconds: Stat;
}

/** Object keys in sorted order, so that two equal settings give the same key whatever order they were written in. */
function canonicalJson(settings: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(
    Object.keys(settings)
      .sort()
      .map((k) => [k, settings[k]]),
  );
}

/** Settings that say only how often and in what batches to evaluate: they do not change what a run measures. */
const EVALUATION_SETTINGS = ["train.evalEvery", "train.evalBatchSize"];

/** The settings that make a condition, but the seed. */
function conditionSettings(settings: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).filter(([k]) => !EVALUATION_SETTINGS.includes(k)));
}

function withoutWidth(settings: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { [WIDTH_SETTING]: _width, ...rest } = settings;
  return rest;
}

/**
 * Groups runs into conditions (same task, model, preset and settings but evaluation ones; any seed), ordered by task, model,
 * settings and width. A condition's `settings` names only the keys whose values differ among conditions of its
 * task, model and preset, so a folder of one sweep shows just what the sweep varied.
 */
export function groupConditions(runs: readonly RunRecord[]): Condition[] {
  const byCondition = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = JSON.stringify([run.task, run.model, run.preset, canonicalJson(conditionSettings(run.settings))]);
    byCondition.set(key, [...(byCondition.get(key) ?? []), run]);
  }
  const families = new Map<string, RunRecord[][]>();
  for (const group of byCondition.values()) {
    const { task, model, preset } = group[0]!;
    const family = JSON.stringify([task, model, preset]);
    families.set(family, [...(families.get(family) ?? []), group]);
  }
  const conditions: Condition[] = [];
  for (const groups of families.values()) {
    const all = groups.map((g) => withoutWidth(conditionSettings(g[0]!.settings)));
    const keys = [...new Set(all.flatMap((s) => Object.keys(s)))].sort();
    const varying = keys.filter((k) => new Set(all.map((s) => JSON.stringify(s[k]))).size > 1);
    for (const group of groups) {
      const first = group[0]!;
      const settings = varying.map((k) => `${k}=${first.settings[k] ?? "(unset)"}`).join(", ");
      conditions.push({
        task: first.task,
        model: first.model,
        preset: first.preset,
        width: first.width,
        layers: first.layers,
        settings,
        seriesKey: JSON.stringify([first.task, first.model, first.preset, settings]),
        runs: [...group].sort((a, b) => a.seed - b.seed),
      });
    }
  }
  return conditions.sort(
    (a, b) =>
      a.task.localeCompare(b.task) ||
      a.model.localeCompare(b.model) ||
      a.preset.localeCompare(b.preset) ||
      a.settings.localeCompare(b.settings) ||
      a.width - b.width,
  );
}

/** One row per condition: mean ± std over its seeds. */
export function summarise(conditions: readonly Condition[]): SummaryRow[] {
  return conditions.map((c) => {
    const stat = (f: (r: RunRecord) => number): Stat => meanStd(c.runs.map(f));
    return {
      task: c.task,
      model: c.model,
      preset: c.preset,
      width: c.width,
      layers: c.layers,
      settings: c.settings,
      seeds: c.runs.map((r) => r.seed),
      diverged: c.runs.filter((r) => r.status === "diverged").length,
      te: stat((r) => r.te),
      testAccuracy: stat((r) => r.testAccuracy),
      bestTestAccuracy: stat((r) => r.bestTestAccuracy),
      testLoss: stat((r) => r.testLoss),
      majorityBaseline: stat((r) => r.majorityBaseline),
      ceiling: stat((r) => r.ceiling),
      testKl: stat((r) => r.testKl),
      bestTestKl: stat((r) => r.bestTestKl),
      params: stat((r) => r.params),
      wallSeconds: stat((r) => r.wallSeconds),
    };
  });
}
