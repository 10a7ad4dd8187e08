import type { Config, ConfigSchema } from "./config.js";

export type Split = "train" | "test";
export type PresetName = "smoke" | "quick" | "paper";
export const PRESET_NAMES: readonly PresetName[] = ["smoke", "quick", "paper"];

/**
 * A padded batch of samples, laid out row-major. B = size, T = steps (the longest sample), F = inputSize,
 * S = maxSymbols. Evaluation windows (tasks.md §3): a symbol's own step plus the gap that follows it.
 */
export interface Batch {
  readonly size: number;
  readonly steps: number;
  readonly inputSize: number;
  readonly maxSymbols: number;
  /** [B, T, F] model inputs (one-hot symbols, gap frames, noise). Zero at padding. */
  readonly inputs: Float32Array;
  /** [B, T] class id per step (the hidden state held through the gap); 0 at padding. */
  readonly targets: Int32Array;
  /** [B, T] 1 at real steps, 0 at padding. */
  readonly mask: Float32Array;
  /** [B, T] index of the symbol whose evaluation window holds this step; -1 at padding. */
  readonly windows: Int32Array;
  /** [B, S] class id per symbol; -1 past a sample's last symbol. */
  readonly symbolTargets: Int32Array;
}

/** A task made concrete from its config and seed. Sample i of a split is a pure function of (config, seed, split, i). */
export interface TaskInstance {
  readonly inputSize: number;
  readonly numClasses: number;
  /** Facts worth recording with a result (grammar states, edges, topological entropy, ...). */
  readonly summary: Readonly<Record<string, number | string>>;
  splitSize(split: Split): number;
  /** Samples start .. start+count-1 of `split`, padded into one batch. */
  batch(split: Split, start: number, count: number): Batch;
}

export interface TaskDefinition<C extends Config = Config> {
  readonly id: string;
  readonly description: string;
  readonly schema: ConfigSchema;
  readonly defaults: C;
  /** Overrides of `defaults` per preset (`paper` = the published settings). */
  readonly presets: Readonly<Record<PresetName, Partial<C>>>;
  create(config: C, seed: number): TaskInstance;
  /**
   * A task that is not trained on itself but tests models trained on another task (Task 4: Task-2 models at
   * longer test gaps). The model is trained as `trainTask` with this task's config (the schemas match), then
   * evaluated on each variant's test split.
   */
  readonly transfer?: {
    readonly trainTask: string;
    variants(config: C): ReadonlyArray<{ readonly label: string; readonly value: number; readonly config: C }>;
  };
}
