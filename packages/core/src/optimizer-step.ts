import { assertBackendHealthy, releaseUnusedGpuBuffers } from "./backend.js";
import { DEFAULT_ACTIVATION_WIDTHS } from "./model.js";
import { sumOfTensors } from "./nn/layers.js";
import { type BatchTensors, batchTensors } from "./batch-tensors.js";
import { maskedCrossEntropySum } from "./metric.js";
import { type Adam, clipByGlobalNorm } from "./optim.js";
import { prefersRegisteredKernels } from "./recurrence/kernels.js";
import type { RecNet } from "./recnet.js";
import { hashSeed } from "./rng.js";
import type { Batch } from "./task.js";
import { tf } from "./tf.js";

/**
 * Floats one forward + backward pass may hold (2 GiB). The wasm backend's heap stops at 4 GiB; the paper's shape
 * (64 × 400 steps, width 256, 8 layers, 1601 classes) needs about 70 GiB in one pass.
 */
export const ACTIVATION_FLOAT_BUDGET = 512 * 1024 * 1024;

/**
 * The same on webgpu, where a pass is as large as GPU memory allows (issue 17: no micro-batching on the GPU while
 * memory allows); ACTIVATION_FLOAT_BUDGET would cut the paper's batch into passes of 13 samples, each paying the
 * per-dispatch cost again. The per-step widths are measured for the TF-op forms that cpu and wasm run and overstate
 * the registered kernels': the paper's GLA batch, estimated at 70 GiB, trains as one pass of 64 on an 80 GB H100
 * (docs/BENCHMARKS.md). So this is 128 GiB as estimated; a run that does not fit fails with a one-line error naming
 * train.microBatch, which also lets several runs share one GPU.
 */
export const GPU_ACTIVATION_FLOAT_BUDGET = 32 * 1024 * 1024 * 1024;

/** The activation budget of a backend: GPU memory on webgpu, else ACTIVATION_FLOAT_BUDGET. */
export function activationFloatBudget(backend: string = tf.getBackend()): number {
  return backend === "webgpu" ? GPU_ACTIVATION_FLOAT_BUDGET : ACTIVATION_FLOAT_BUDGET;
}

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
 * Samples per forward/backward pass. `requested` > 0 is taken as is; 0 picks the largest pass that fits the
 * backend's activation budget (activationFloatBudget), splitting the batch into equal parts. It depends on shapes and
 * on where the backend keeps tensors, so every CPU backend takes the same passes (and gives the same results); a
 * batch that webgpu runs as one pass and cpu splits gets its gradients summed in another order (and, with dropout,
 * other masks: they are seeded per pass).
 */
export function microBatchSize(batch: Batch, net: RecNet, requested: number, budget = activationFloatBudget()): number {
  if (requested > 0) return Math.min(requested, batch.size);
  const { width, layers, numClasses } = net.shape;
  const perSample = batch.steps * activationFloatsPerStep(width, layers, numClasses, net.definition.activationWidths);
  const parts = Math.max(1, Math.ceil((batch.size * perSample) / budget));
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

/** One micro-batch of a step: samples [lo, lo + n) of the batch and its dropout seed. */
export interface PassSpec {
  readonly index: number;
  readonly lo: number;
  readonly n: number;
  readonly dropoutSeed: number;
  /** false: no dropout in this pass (`train.dropoutUntil=first-eval` after the first evaluation). Default true. */
  readonly dropout?: boolean;
}

/** What a pass computed: its share of the mean loss and its gradient by parameter path. */
export interface PassGradients {
  readonly loss: number;
  readonly grads: Readonly<Record<string, Float32Array>>;
}

/**
 * Runs some passes of a step elsewhere (a worker thread with its own copy of the network), for data parallelism
 * inside one run. It loads `weights` (by parameter path), computes each pass as `passGradients` does, and
 * resolves one promise per pass, in the order given.
 */
export interface GradientHelper {
  passes(request: {
    readonly weights: Readonly<Record<string, Float32Array>>;
    readonly batch: Batch;
    readonly wholeBatch: boolean;
    readonly validSteps: number;
    readonly passes: readonly PassSpec[];
  }): Promise<PassGradients>[];
  dispose(): Promise<void>;
}

/**
 * The loss (mean cross-entropy share: summed over the pass, divided by the whole batch's `validSteps`) and its
 * gradient by parameter path, for samples [lo, lo + n) of `full`. `wholeBatch`: the pass is the batch (no slice).
 */
export function passGradients(
  net: RecNet,
  variables: Map<string, tf.Variable>,
  full: BatchTensors,
  pass: PassSpec,
  wholeBatch: boolean,
  validSteps: tf.Scalar,
): { loss: tf.Scalar; grads: tf.NamedTensorMap } {
  const pathOf = new Map([...variables].map(([path, v]) => [v.name, path]));
  return tf.tidy(() => {
    const pick = <T extends tf.Tensor>(x: T): T => (wholeBatch ? x : (tf.slice(x, pass.lo, pass.n) as T));
    const { value, grads } = tf.variableGrads(
      () =>
        tf.div(
          maskedCrossEntropySum(
            net.logits(pick(full.inputs), { training: true, dropoutSeed: pass.dropoutSeed, dropout: pass.dropout }),
            pick(full.targets),
            pick(full.mask),
          ),
          validSteps,
        ) as tf.Scalar,
      [...variables.values()],
    );
    const byPath: tf.NamedTensorMap = {};
    for (const [name, grad] of Object.entries(grads)) byPath[pathOf.get(name)!] = grad;
    return { loss: value, grads: byPath };
  });
}

export interface TrainingStepOptions {
  readonly seed: number;
  readonly step: number;
  readonly lr: number;
  readonly clipNorm: number;
  /** Samples per pass (0 = automatic, see microBatchSize). */
  readonly microBatch: number;
  /** false: no dropout in this step (docs/spec/TASKS.md §5.1, `train.dropoutUntil`). Default true. */
  readonly dropout?: boolean;
  /**
   * Other threads that take passes p with p mod (helpers + 1) ≠ 0. The gradient and loss are summed in pass
   * order whoever computed a pass, so the step is the same, bit for bit, as without helpers.
   */
  readonly helpers?: readonly GradientHelper[];
}

/**
 * One optimiser step: mean cross-entropy over the batch's valid steps (docs/spec/TASKS.md §4), its gradient summed over
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
  const micro = microBatchSize(batch, net, options.microBatch);
  const parts = Math.ceil(batch.size / micro);
  const full = batchTensors(batch);
  const validSteps = tf.sum(full.mask) as tf.Scalar;
  // One pass keeps the seed an unsplit step had, so micro-batching changes nothing where it is not needed.
  const passes: PassSpec[] = Array.from({ length: parts }, (_, p) => ({
    index: p,
    lo: p * micro,
    n: Math.min(micro, batch.size - p * micro),
    dropoutSeed: parts === 1 ? hashSeed(options.seed, "dropout", options.step) : hashSeed(options.seed, "dropout", options.step, p),
    ...(options.dropout === false ? { dropout: false } : {}),
  }));
  const helpers = parts > 1 ? (options.helpers ?? []) : [];
  const shares = helpers.length + 1;
  const remote = new Map<number, Promise<PassGradients>>();
  if (helpers.length > 0) {
    const weights: Record<string, Float32Array> = {};
    for (const [path, v] of variables) weights[path] = (await v.data()) as Float32Array;
    const valid = (await validSteps.data())[0]!;
    helpers.forEach((helper, h) => {
      const mine = passes.filter((p) => p.index % shares === h + 1);
      const results = helper.passes({ weights, batch, wholeBatch: false, validSteps: valid, passes: mine });
      mine.forEach((p, i) => {
        // A failed worker rejects every pass it holds; the first awaited one reports it, the rest must not go unhandled.
        results[i]!.catch(() => {});
        remote.set(p.index, results[i]!);
      });
    });
  }
  const losses: tf.Scalar[] = [];
  let grads: tf.NamedTensorMap = {};
  for (const pass of passes) {
    let computed: { loss: tf.Scalar; grads: tf.NamedTensorMap };
    const elsewhere = remote.get(pass.index);
    if (elsewhere) {
      const r = await elsewhere;
      computed = { loss: tf.scalar(r.loss), grads: {} };
      for (const [path, values] of Object.entries(r.grads)) computed.grads[path] = tf.tensor(values, variables.get(path)!.shape);
    } else {
      computed = passGradients(net, variables, full, pass, parts === 1, validSteps);
    }
    const previous = grads;
    grads = tf.tidy(() => {
      const sum: tf.NamedTensorMap = {};
      for (const [path, grad] of Object.entries(computed.grads)) sum[path] = previous[path] ? tf.add(previous[path], grad) : tf.clone(grad);
      return sum;
    });
    tf.dispose(previous);
    tf.dispose(Object.values(computed.grads));
    losses.push(computed.loss);
  }
  tf.dispose([full.inputs, full.targets, full.mask, validSteps]);
  const lossTensor = sumOfTensors(losses);
  if (prefersRegisteredKernels()) return clippedUpdateOnDevice(optimizer, variables, grads, lossTensor, losses, options);
  const loss = (await lossTensor.data())[0]!;
  assertBackendHealthy();
  releaseUnusedGpuBuffers();
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

/**
 * The end of a step on the device (registered kernels, the webgpu default): clipping and Adam run before anything
 * is read back (Adam.applyClipped), then the loss and ‖g‖² come back together. Same outcome as the readback path:
 * a step whose loss or norm is not finite changes nothing, and does not count.
 */
async function clippedUpdateOnDevice(
  optimizer: Adam,
  variables: Map<string, tf.Variable>,
  grads: tf.NamedTensorMap,
  lossTensor: tf.Scalar,
  losses: tf.Scalar[],
  options: TrainingStepOptions,
): Promise<TrainingStepResult> {
  const squaredNorm = optimizer.applyClipped(variables, grads, options.lr, options.clipNorm, lossTensor);
  const [lossValue, squaredValue] = await Promise.all([lossTensor.data(), squaredNorm.data()]);
  assertBackendHealthy();
  // A round of the GPU buffer pool (./backend.ts): sizes this step did not ask for go back to the GPU.
  releaseUnusedGpuBuffers();
  tf.dispose([lossTensor, squaredNorm, ...losses, ...Object.values(grads)]);
  const loss = lossValue[0]!;
  const gradNorm = Math.sqrt(squaredValue[0]!);
  const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
  if (!applied) optimizer.uncountStep();
  return { loss, gradNorm, applied };
}
