import { assertBackendHealthy } from "./backend.js";
import { DEFAULT_ACTIVATION_WIDTHS } from "./model.js";
import { sumOfTensors } from "./nn/layers.js";
import { batchTensors, maskedCrossEntropySum } from "./metric.js";
import { type Adam, clipByGlobalNorm } from "./optim.js";
import type { RecNet } from "./recnet.js";
import { hashSeed } from "./rng.js";
import type { Batch } from "./task.js";
import { tf } from "./tf.js";

/**
 * Floats one forward + backward pass may hold (2 GiB). The wasm backend's heap stops at 4 GiB; the paper's shape
 * (64 × 400 steps, width 256, 8 layers, 1601 classes) needs about 70 GiB in one pass.
 */
export const ACTIVATION_FLOAT_BUDGET = 512 * 1024 * 1024;

/** Floats a pass holds per step: each layer's intermediates plus the logits' (~20 class-sized per step, measured). */
export function activationFloatsPerStep(
  width: number,
  layers: number,
  numClasses: number,
  layerWidths = DEFAULT_ACTIVATION_WIDTHS,
): number {
  return layers * width * layerWidths + numClasses * 20;
}

/**
 * Samples per forward/backward pass. `requested` > 0 is taken as is; 0 picks the largest pass that fits
 * ACTIVATION_FLOAT_BUDGET, splitting the batch into equal parts. It depends on shapes only, so the same
 * config gives the same passes (and results) on every backend.
 */
export function microBatchSize(batch: Batch, net: RecNet, requested: number): number {
  if (requested > 0) return Math.min(requested, batch.size);
  const { width, layers, numClasses } = net.shape;
  const perSample = batch.steps * activationFloatsPerStep(width, layers, numClasses, net.definition.activationWidths);
  const parts = Math.max(1, Math.ceil((batch.size * perSample) / ACTIVATION_FLOAT_BUDGET));
  return Math.ceil(batch.size / parts);
}

export interface TrainingStepResult {
  /** Mean cross-entropy over the batch's valid steps. */
  readonly loss: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  /** false when the loss or gradient was not finite: no update was applied. */
  readonly applied: boolean;
}

export interface TrainingStepOptions {
  readonly seed: number;
  readonly step: number;
  readonly lr: number;
  readonly clipNorm: number;
  /** Samples per pass (0 = automatic, see microBatchSize). */
  readonly microBatch: number;
}

/**
 * One optimiser step: mean cross-entropy over the batch's valid steps (tasks.md §4), its gradient summed over
 * micro-batches (each pass divides by the whole batch's step count, so the sum is the full-batch gradient),
 * global-norm clipping, Adam. Adam state is keyed by parameter path (`variables`: path → variable).
 * Asynchronous because the loss and norm are read back with data() (webgpu in Node has no synchronous read);
 * the passes' losses stay on the device until one read at the end.
 */
export async function trainingStep(
  net: RecNet,
  optimizer: Adam,
  variables: Map<string, tf.Variable>,
  batch: Batch,
  options: TrainingStepOptions,
): Promise<TrainingStepResult> {
  const pathOf = new Map([...variables].map(([path, v]) => [v.name, path]));
  const varList = [...variables.values()];
  const micro = microBatchSize(batch, net, options.microBatch);
  const parts = Math.ceil(batch.size / micro);
  const full = batchTensors(batch);
  const validSteps = tf.sum(full.mask);
  const losses: tf.Scalar[] = [];
  let grads: tf.NamedTensorMap = {};
  for (let p = 0; p < parts; p++) {
    const lo = p * micro;
    const n = Math.min(micro, batch.size - lo);
    // One pass keeps the seed an unsplit step had, so micro-batching changes nothing where it is not needed.
    const dropoutSeed = parts === 1 ? hashSeed(options.seed, "dropout", options.step) : hashSeed(options.seed, "dropout", options.step, p);
    const previous = grads;
    let passLoss: tf.Scalar | undefined;
    grads = tf.tidy(() => {
      const pick = <T extends tf.Tensor>(x: T): T => (parts === 1 ? x : (tf.slice(x, lo, n) as T));
      const { value, grads: g } = tf.variableGrads(
        () =>
          tf.div(
            maskedCrossEntropySum(net.logits(pick(full.inputs), { training: true, dropoutSeed }), pick(full.targets), pick(full.mask)),
            validSteps,
          ) as tf.Scalar,
        varList,
      );
      passLoss = tf.keep(value);
      const sum: tf.NamedTensorMap = {};
      for (const [name, grad] of Object.entries(g)) {
        const path = pathOf.get(name)!;
        sum[path] = previous[path] ? tf.add(previous[path], grad) : grad;
      }
      return sum;
    });
    tf.dispose(previous);
    losses.push(passLoss!);
  }
  tf.dispose([full.inputs, full.targets, full.mask, validSteps]);
  const lossTensor = sumOfTensors(losses);
  const loss = (await lossTensor.data())[0]!;
  assertBackendHealthy();
  tf.dispose([lossTensor, ...losses]);
  const clipped = await clipByGlobalNorm(grads, options.clipNorm);
  assertBackendHealthy();
  const gradNorm = clipped.norm;
  const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
  if (applied) optimizer.apply(variables, clipped.grads, options.lr);
  tf.dispose(clipped.grads);
  if (clipped.grads !== grads) tf.dispose(grads);
  return { loss, gradNorm, applied };
}
