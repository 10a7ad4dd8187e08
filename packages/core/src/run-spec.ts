import { createHash } from "node:crypto";
import type { BackendChoice } from "./backend.js";
import type { Config } from "./config.js";
import type { ModelDefinition } from "./model.js";
import { RecNet, headsForWidth } from "./recnet.js";
import { hashSeed } from "./rng.js";
import type { PresetName, TaskDefinition, TaskInstance } from "./task.js";
import type { TrainingConfig } from "./training-config.js";

/** Everything that determines one run. */
export interface RunSpec {
  readonly task: TaskDefinition;
  readonly taskConfig: Config;
  readonly model: ModelDefinition;
  readonly modelConfig: Config;
  readonly training: TrainingConfig;
  readonly seed: number;
  readonly preset: PresetName;
  readonly backend: BackendChoice;
  /** Results root; the run writes to `<outDir>/<runId>/`. */
  readonly outDir: string;
  /**
   * true (default): a finished run with the same settings is reused and an unfinished one continues from its
   * last checkpoint; false: train from scratch.
   */
  readonly resume?: boolean;
}

/** The settings that name a run: task, model, seed, preset and every config value. */
export type RunIdentity = Pick<RunSpec, "task" | "model" | "seed" | "taskConfig" | "modelConfig" | "training" | "preset">;

/** The canonical settings string of a run (stored in config.json and checkpoints; reuse compares it). */
export function runSettings(spec: RunIdentity): string {
  // `workers` changes where passes run, not what they compute: a run is the same run with any count.
  const { workers: _workers, ...training } = spec.training;
  return JSON.stringify([spec.task.id, spec.model.id, spec.seed, spec.preset, spec.taskConfig, spec.modelConfig, training]);
}

/**
 * A stable id for a run: task, model, seed and the first 128 bits of the SHA-256 of its settings, so distinct
 * settings never share a folder (a 32-bit hash collided within a few hundred thousand sweep points).
 */
export function runId(spec: RunIdentity): string {
  const digest = createHash("sha256").update(runSettings(spec)).digest("hex").slice(0, 32);
  return `${spec.task.id}-${spec.model.id}-seed${spec.seed}-${digest}`;
}

/** Heads per layer: `train.heads`, or the reference rule when it is 0 (docs/spec/MODELS.md §0). */
export function headsOf(training: TrainingConfig): number {
  return training.heads > 0 ? training.heads : headsForWidth(training.width);
}

/** The run's network, initialised from its seed. */
export function buildNet(spec: RunSpec, task: TaskInstance): RecNet {
  const tc = spec.training;
  return new RecNet(
    spec.model,
    spec.modelConfig,
    { inputSize: task.inputSize, numClasses: task.numClasses, width: tc.width, layers: tc.layers, heads: headsOf(tc), dropout: tc.dropout },
    hashSeed(spec.seed, "model-init"),
  );
}
