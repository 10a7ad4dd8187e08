import type { ConfigSchema } from "./config.js";
import type { PresetName } from "./task.js";

/** Training settings shared by every task and model. */
export interface TrainingConfig {
  [key: string]: number | boolean | string;
  width: number;
  layers: number;
  /** 0 = the reference rule (docs/spec/MODELS.md §0). */
  heads: number;
  batchSize: number;
  /** Samples per forward/backward pass (gradients summed over passes); 0 = automatic (optimizer-step.ts). */
  microBatch: number;
  /** Threads sharing each step's passes (data parallelism; results are identical for any count). */
  workers: number;
  epochs: number;
  lr: number;
  warmupSteps: number;
  clipNorm: number;
  dropout: number;
  /** Evaluate on the test split every this many training samples (and at the end). 0 = only at the end. */
  evalEvery: number;
  evalBatchSize: number;
  /**
   * Until when dropout acts: `always`, or `first-eval` (until the first evaluation, as the reference, whose test
   * function calls model.eval() and never model.train() again; docs/spec/TASKS.md §5.1).
   */
  dropoutUntil: DropoutUntil;
}

/** Until when the wrapper's (and layers') dropout acts during training (docs/spec/TASKS.md §5.1). */
export type DropoutUntil = "always" | "first-eval";
export const DROPOUT_UNTIL: readonly DropoutUntil[] = ["always", "first-eval"];

export const TRAINING_SCHEMA: ConfigSchema = {
  width: { type: "int", min: 4, max: 8192, description: "model width d (the reference's feat_size)" },
  layers: { type: "int", min: 1, max: 64, description: "number of recurrent layers" },
  heads: { type: "int", min: 0, max: 256, description: "heads per layer; 0 = the reference rule (d/H ≤ 128)" },
  batchSize: { type: "int", min: 1, max: 4096, description: "training batch size" },
  microBatch: {
    type: "int",
    min: 0,
    max: 4096,
    description: "samples per forward/backward pass, gradients summed over passes; 0 = as many as fit 2 GiB of activations",
  },
  workers: {
    type: "int",
    min: 1,
    max: 64,
    description: "threads that share each step's passes (cpu and wasm; needs microBatch below batchSize); same results for any count",
  },
  epochs: { type: "int", min: 1, max: 1000, description: "passes over the training split" },
  lr: { type: "number", min: 0, max: 1, exclusiveMin: true, description: "peak learning rate (Adam)" },
  warmupSteps: { type: "int", min: 0, max: 1_000_000, description: "linear warm-up steps before the cosine decay" },
  clipNorm: { type: "number", min: 0, max: 1e6, description: "gradient global-norm clip; 0 = off" },
  dropout: { type: "number", min: 0, max: 1, exclusiveMax: true, description: "dropout after each layer" },
  evalEvery: { type: "int", min: 0, max: 100_000_000, description: "evaluate every this many training samples; 0 = at the end only" },
  evalBatchSize: { type: "int", min: 1, max: 4096, description: "evaluation batch size" },
  dropoutUntil: {
    type: "enum",
    values: DROPOUT_UNTIL,
    description: "always: dropout on every training step; first-eval: off after the first evaluation (the reference's model.eval())",
  },
};

export const TRAINING_DEFAULTS: TrainingConfig = {
  width: 64,
  layers: 2,
  heads: 0,
  batchSize: 32,
  microBatch: 0,
  workers: 1,
  epochs: 1,
  lr: 2e-3,
  warmupSteps: 20,
  clipNorm: 1,
  dropout: 0,
  evalEvery: 0,
  evalBatchSize: 100,
  dropoutUntil: "always",
};

/**
 * Training overrides per preset; `paper` follows docs/spec/TASKS.md §5.1 (8 layers, batch 64, dropout 0.2 until the
 * first evaluation, eval every 5,000).
 */
export const TRAINING_PRESETS: Record<PresetName, Partial<TrainingConfig>> = {
  smoke: { width: 16, layers: 1, batchSize: 8, lr: 5e-3, warmupSteps: 2, evalBatchSize: 16 },
  quick: { width: 64, layers: 2, batchSize: 32, lr: 3e-3, warmupSteps: 10, evalEvery: 1600 },
  // Between quick and paper (docs/CALIBRATION.md): twice the width and layers of quick; about 12 quick runs of work.
  medium: { width: 128, layers: 4, batchSize: 32, lr: 2e-3, warmupSteps: 20, evalEvery: 3200 },
  paper: {
    width: 256,
    layers: 8,
    batchSize: 64,
    lr: 1e-3,
    warmupSteps: 476,
    dropout: 0.2,
    evalEvery: 5000,
    evalBatchSize: 50,
    dropoutUntil: "first-eval",
  },
};
