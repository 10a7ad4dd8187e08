import { SelectivError } from "./errors.js";
import type { Config, ConfigSchema, ConfigValue } from "./config.js";

export type Split = "train" | "test";
export type PresetName = "smoke" | "quick" | "medium" | "paper";
/** The presets every task has; `medium` is optional (a plugin's task may not define it). */
export type RequiredPresetName = Exclude<PresetName, "medium">;

/**
 * What a task trains and measures (docs/spec/TASKS.md §4). `classification`: per-step class targets, window accuracy.
 * `prediction`: per-step targets are the next symbol, and the metric is the KL divergence from each step's true
 * next-symbol distribution (`Batch.targetDistributions`) to the model's softmax.
 */
export type Objective = "classification" | "prediction";
export const OBJECTIVES: readonly Objective[] = ["classification", "prediction"];

/**
 * Per-step target distributions over the C output classes, stored as distinct rows plus a row index per step
 * (R×C + B×T numbers instead of B×T×C: a 20,000-step Task-4 sample needs 80 kB of indices, not 3 MB per sample).
 */
export interface TargetDistributions {
  /** [R, C] row-major; each row sums to 1. The same array may be shared by every batch of a task. */
  readonly rows: Float32Array;
  /** [B, T] the row of each step; -1 where the step has none (padding, steps outside the mask). */
  readonly index: Int32Array;
}
export const PRESET_NAMES: readonly PresetName[] = ["smoke", "quick", "medium", "paper"];

/**
 * A padded batch of samples, laid out row-major. B = size, T = steps (the longest sample), F = inputSize,
 * S = maxSymbols. Evaluation windows (docs/spec/TASKS.md §3): a symbol's own step plus the gap that follows it.
 */
export interface Batch {
  readonly size: number;
  readonly steps: number;
  readonly inputSize: number;
  readonly maxSymbols: number;
  /** [B, T, F] model inputs (one-hot symbols, gap frames, noise). Zero at padding. */
  readonly inputs: Float32Array;
  /**
   * [B, T] class id per step: the hidden state held through the gap (classification), or the next symbol
   * (prediction); 0 at padding.
   */
  readonly targets: Int32Array;
  /** [B, T] 1 at the steps the loss and metric count (all real steps in classification), 0 at padding. */
  readonly mask: Float32Array;
  /** [B, T] index of the symbol whose evaluation window holds this step; -1 at padding. */
  readonly windows: Int32Array;
  /** [B, S] class id per symbol; -1 past a sample's last symbol (or where a symbol has no target). */
  readonly symbolTargets: Int32Array;
  /** Prediction tasks: the true next-class distribution of every masked step (C = the task's numClasses). */
  readonly targetDistributions?: TargetDistributions;
}

/** A task made concrete from its config and seed. Sample i of a split is a pure function of (config, seed, split, i). */
export interface TaskInstance {
  readonly inputSize: number;
  readonly numClasses: number;
  /** Absent = classification. A prediction task's batches carry `targetDistributions`. */
  readonly objective?: Objective;
  /** Facts worth recording with a result (grammar states, edges, topological entropy, ...). */
  readonly summary: Readonly<Record<string, number | string>>;
  splitSize(split: Split): number;
  /** Samples start .. start+count-1 of `split`, padded into one batch. */
  batch(split: Split, start: number, count: number): Batch;
  /**
   * The best window accuracy any model can reach on `split` (docs/spec/TASKS.md §4.1: the Bayes-optimal predictor given
   * each step's inputs so far), NaN where unknown. Optional: a task that cannot compute it leaves it out. Should be
   * cached by the instance; core calls it once per run, for classification only.
   */
  ceiling?(split: Split): number;
}

/** A task's place in the SelectivBench suite (`selectiv bench suite`) and what the paper reported on it. */
export interface SuiteEntry {
  /** Order of the task in the suite's tables. */
  readonly position: number;
  /** The paper's test accuracy per model id (mean ± std over its seeds), ranked beside ours. */
  readonly paperAccuracy?: Readonly<Record<string, { readonly mean: number; readonly std: number }>>;
  /** What the paper found on this task where it gave no numbers (shown under the table). */
  readonly paperFinding?: string;
}

export interface TaskDefinition<C extends Config = Config> {
  readonly id: string;
  readonly description: string;
  readonly schema: ConfigSchema;
  readonly defaults: C;
  /** Overrides of `defaults` per preset (`paper` = the published settings); `medium` may be left out. */
  readonly presets: Readonly<Record<RequiredPresetName, Partial<C>>> & { readonly medium?: Partial<C> };
  create(config: C, seed: number): TaskInstance;
  /**
   * Model settings this task's presets set (core knows no concrete model): per preset, config key → value,
   * applied to every model whose schema has the key, over the model's own preset and under `--set`. Task 3's
   * paper preset sets `{ dState: 64 }` as the reference's task3.yaml (docs/spec/TASKS.md §5).
   */
  readonly modelPresets?: Readonly<Partial<Record<PresetName, Readonly<Record<string, ConfigValue>>>>>;
  /**
   * A task that is not trained on itself but tests models trained on another task (Task 4: Task-2 models at
   * longer test gaps). The model is trained as `trainTask` with the fields of this task's config that
   * `trainTask`'s schema has (test-only fields such as Task 4's `testGaps` do not change the trained run), then
   * evaluated on each variant's test split. `variants` is also called when runs are planned, so a bad value fails
   * before anything trains.
   */
  readonly transfer?: {
    readonly trainTask: string;
    variants(config: C): ReadonlyArray<{ readonly label: string; readonly value: number; readonly config: C }>;
  };
  /** Present when the task belongs to the SelectivBench suite. */
  readonly suite?: SuiteEntry;
}

/**
 * A task's overrides for `preset`: one line naming the task and the presets it has when it lacks it (a plugin's task
 * need not define `medium`).
 */
export function taskPreset<C extends Config>(task: TaskDefinition<C>, preset: PresetName): Partial<C> {
  const overrides = task.presets[preset];
  if (overrides === undefined) {
    const has = PRESET_NAMES.filter((name) => task.presets[name] !== undefined);
    throw new SelectivError(`--preset: got "${preset}"; task ${task.id} has no such preset; its presets: ${has.join(", ")}`);
  }
  return overrides;
}
