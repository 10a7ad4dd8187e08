import type { BackendPreference, ConfigValue, PresetName } from "@selectiv/core";
import type { SweepDimension, SweepPoint } from "./parameters.js";

/** One `--set` assignment of a run, with the sweep key it came from (named in errors). */
export interface Assignment {
  text: string;
  source: string;
}

/** What one point of a sweep asks to train. */
export interface RunRequest {
  task: string;
  model: string;
  seed: number;
  assignments: Assignment[];
}

/** A sweep file, read and checked: its axes, and how a point of them becomes a run. */
export interface SweepSource {
  file: string;
  format: "selectiv" | "wandb";
  name: string;
  method: "grid" | "random";
  /** Random search: configurations drawn (each crossed with the crossed dimensions). */
  count?: number;
  randomSeed: number;
  preset: PresetName;
  backend: BackendPreference;
  out?: string;
  dimensions: SweepDimension[];
  /** Names the file sets that do not change results, with why (W&B files: logging, devices, …). */
  ignored: { name: string; reason: string }[];
  runOf(point: SweepPoint): RunRequest;
}

/** A run of a sweep as planned: enough for any worker, on any machine, to plan and train it again. */
export interface SweepRun {
  /** core's runId: task, model, seed and a hash of every setting. */
  id: string;
  task: string;
  model: string;
  seed: number;
  preset: PresetName;
  backend: BackendPreference;
  /** `--set` texts, applied in order. */
  assignments: string[];
  /** The sweep point in the file's own names (W&B names for a W&B file). */
  point: Record<string, ConfigValue>;
}
