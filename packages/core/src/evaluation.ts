import { assertBackendHealthy, releaseUnusedGpuBuffers } from "./backend.js";
import { batchTensors } from "./batch-tensors.js";
import { addSymbolClassCounts, maskedCrossEntropySum, maskedKlDivergenceSum, windowAccuracyCounts } from "./metric.js";
import { activationFloatBudget, activationFloatsPerStep } from "./optimizer-step.js";
import type { RecNet } from "./recnet.js";
import type { RunResult } from "./results.js";
import { RunFolder, loadTrainedNet } from "./run-folder.js";
import type { RunSpec } from "./run-spec.js";
import type { TaskDefinition, TaskInstance } from "./task.js";
import { tf } from "./tf.js";

export interface Evaluation {
  loss: number;
  /** Window accuracy (classification); NaN in prediction mode. */
  accuracy: number;
  /** Share of symbols whose class is the majority class (classification); NaN in prediction mode. */
  majorityBaseline: number;
  /** Prediction mode: mean KL divergence per masked step (docs/spec/TASKS.md §4); absent in classification. */
  kl?: number;
}

/** Whether the task trains the prediction objective (next symbol, KL metric). */
export function isPrediction(task: TaskInstance): boolean {
  return task.objective === "prediction";
}

/** The better of two evaluations: the higher accuracy, or in prediction mode the lower KL divergence. */
export function isBetterEvaluation(candidate: Evaluation, best: Evaluation | undefined): boolean {
  if (!best) return true;
  if (candidate.kl !== undefined) return candidate.kl < (best.kl ?? Infinity);
  return candidate.accuracy > best.accuracy;
}

/**
 * The task's ceiling on its test split (docs/spec/TASKS.md §4.1), or undefined where there is none: prediction mode
 * (the metric is a KL divergence), a task without `ceiling`, or one that returns NaN.
 */
export function ceilingOf(task: TaskInstance): number | undefined {
  if (isPrediction(task)) return undefined;
  const value = task.ceiling?.("test");
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

const BASELINE_SAMPLES = 2000;

/**
 * The class the majority-class baseline predicts: the most frequent symbol class among a task's first training
 * samples (ties to the lower class); -1 for a prediction task (no baseline).
 */
export function majorityClassOf(task: TaskInstance, batchSize: number): number {
  if (isPrediction(task)) return -1;
  const counts = new Map<number, number>();
  const n = Math.min(BASELINE_SAMPLES, task.splitSize("train"));
  for (let start = 0; start < n; start += batchSize)
    addSymbolClassCounts(task.batch("train", start, Math.min(batchSize, n - start)), counts);
  let best = 0;
  let bestCount = -1;
  for (const [c, k] of counts) if (k > bestCount || (k === bestCount && c < best)) [best, bestCount] = [c, k];
  return best;
}

/** Steps (batch × time) an evaluation batch may hold; long sequences get smaller batches (bounded memory). */
export const EVAL_TOKEN_BUDGET = 65_536;

/**
 * Samples of `stepsPerSample` steps in one evaluation pass: at most `batchSize`, within EVAL_TOKEN_BUDGET and one
 * layer's activations under the backend's budget (GPU memory on webgpu: the paper's test batches of 50 there, where
 * the CPU budget allows 11).
 */
export function evaluationBatchSize(net: RecNet, stepsPerSample: number, batchSize: number, budget = activationFloatBudget()): number {
  const perStep = activationFloatsPerStep(net.shape.width, 1, net.shape.numClasses, net.definition.activationWidths);
  const steps = Math.min(EVAL_TOKEN_BUDGET, Math.floor(budget / perStep));
  return Math.max(1, Math.min(batchSize, Math.floor(steps / stepsPerSample)));
}

/**
 * Loss and window accuracy on the test split, or in prediction mode loss and mean KL divergence
 * (docs/spec/TASKS.md §4; `majority` is then unused). Batches hold at most `batchSize` samples and about
 * EVAL_TOKEN_BUDGET steps, so memory stays bounded when test sequences are long (Task 4's 100-step gaps).
 */
export async function evaluateModel(net: RecNet, task: TaskInstance, batchSize: number, majority: number): Promise<Evaluation> {
  const prediction = isPrediction(task);
  let lossSum = 0;
  let klSum = 0;
  let steps = 0;
  let correct = 0;
  let total = 0;
  let majorityHits = 0;
  const n = task.splitSize("test");
  let stepsPerSample = task.batch("test", 0, 1).steps;
  for (let start = 0; start < n;) {
    const size = Math.min(n - start, evaluationBatchSize(net, stepsPerSample, batchSize));
    const batch = task.batch("test", start, size);
    start += size;
    stepsPerSample = batch.steps;
    const { logits, sums } = tf.tidy(() => {
      const t = batchTensors(batch);
      const out = net.logits(t.inputs, { training: false });
      return { logits: out, sums: tf.stack([maskedCrossEntropySum(out, t.targets, t.mask), tf.sum(t.mask)]) };
    });
    const [loss, valid] = await sums.data();
    lossSum += loss!;
    steps += valid!;
    if (prediction) {
      klSum += (await maskedKlDivergenceSum(logits, batch)).sum;
    } else {
      const c = await windowAccuracyCounts(logits, batch);
      correct += c.correct;
      total += c.total;
    }
    tf.dispose([logits, sums]);
    assertBackendHealthy();
    if (!prediction) for (const c of batch.symbolTargets) if (c === majority) majorityHits++;
  }
  // A round of the GPU buffer pool: the sizes of this evaluation's batches go back unless asked for again.
  releaseUnusedGpuBuffers();
  if (prediction) return { loss: lossSum / Math.max(1, steps), accuracy: NaN, majorityBaseline: NaN, kl: klSum / Math.max(1, steps) };
  return {
    loss: lossSum / Math.max(1, steps),
    accuracy: correct / Math.max(1, total),
    majorityBaseline: majorityHits / Math.max(1, total),
  };
}

/** A trained model's numbers on one test task: a transfer variant (Task 4's gap), or `selectiv eval`'s condition. */
export type TestResult = NonNullable<RunResult["variants"]>[number];

/** Evaluates `net` on each labelled test task, with its ceiling where it has one. */
export async function evaluateOnTests(
  net: RecNet,
  tests: readonly { label: string; value: number; task: TaskInstance }[],
  batchSize: number,
  majority: number,
): Promise<TestResult[]> {
  const results: TestResult[] = [];
  for (const { label, value, task } of tests) {
    const e = await evaluateModel(net, task, batchSize, majority);
    const ceiling = ceilingOf(task);
    results.push({
      label,
      value,
      testAccuracy: e.accuracy,
      testLoss: e.loss,
      majorityBaseline: e.majorityBaseline,
      ...(ceiling !== undefined ? { ceiling } : {}),
      ...(e.kl !== undefined ? { testKl: e.kl } : {}),
    });
  }
  return results;
}

/**
 * A transfer run's headline numbers: the mean over its variants (NaN with none), the ceiling only where every
 * variant has one (docs/spec/TASKS.md §4.1), the KL in prediction mode.
 */
export function meanOfTests(
  tests: readonly TestResult[],
  prediction: boolean,
): Pick<RunResult, "testAccuracy" | "testLoss" | "majorityBaseline" | "ceiling" | "testKl"> {
  const mean = (f: (v: TestResult) => number) => (tests.length ? tests.reduce((a, v) => a + f(v), 0) / tests.length : NaN);
  return {
    testAccuracy: mean((v) => v.testAccuracy),
    testLoss: mean((v) => v.testLoss),
    majorityBaseline: mean((v) => v.majorityBaseline),
    ...(tests.length && tests.every((v) => v.ceiling !== undefined) ? { ceiling: mean((v) => v.ceiling!) } : {}),
    ...(prediction ? { testKl: mean((v) => v.testKl ?? NaN) } : {}),
  };
}

/**
 * The run that trains a transfer task's model: `spec` on `trainTask`, with the fields of its task config that
 * `trainTask`'s schema has (so a test-only field, such as Task 4's `testGaps`, neither changes nor retrains it).
 */
export function transferTrainingSpec(spec: RunSpec, trainTask: TaskDefinition): RunSpec {
  const taskConfig = Object.fromEntries(Object.entries(spec.taskConfig).filter(([key]) => key in trainTask.schema));
  return { ...spec, task: trainTask, taskConfig };
}

/**
 * A transfer task (Task 4): tests the model that `trained` (a run of `trainTask`, the transfer's training task,
 * with the same config) left in its checkpoint on each variant's test split. Writes the transfer run's folder.
 */
export async function evaluateTransfer(spec: RunSpec, trainTask: TaskDefinition, trained: RunResult): Promise<RunResult> {
  const started = Date.now();
  const folder = new RunFolder(spec);
  const training = transferTrainingSpec(spec, trainTask);
  const base = trainTask.create(training.taskConfig, spec.seed);
  const majority = majorityClassOf(base, spec.training.evalBatchSize);
  let variants: TestResult[] = [];
  if (trained.status === "completed") {
    const net = loadTrainedNet(training, base);
    const tests = spec.task.transfer!.variants(spec.taskConfig).map((v) => ({ ...v, task: spec.task.create(v.config, spec.seed) }));
    variants = await evaluateOnTests(net, tests, spec.training.evalBatchSize, majority);
    net.dispose();
  }
  folder.writeConfig({ trainedIn: trained.runDir });
  const result: RunResult = {
    ...trained,
    task: spec.task.id,
    ...meanOfTests(variants, trained.objective === "prediction"),
    bestTestAccuracy: variants.length ? Math.max(...variants.map((v) => v.testAccuracy)) : NaN,
    bestTestLoss: variants.length ? Math.min(...variants.map((v) => v.testLoss)) : NaN,
    // Prediction mode: the lowest KL over the variants (the mean is meanOfTests').
    ...(trained.objective === "prediction"
      ? { bestTestKl: variants.length ? Math.min(...variants.map((v) => v.testKl ?? NaN)) : NaN }
      : {}),
    wallSeconds: trained.wallSeconds + (Date.now() - started) / 1000,
    runDir: folder.dir,
    variants,
    trainedIn: trained.runDir,
  };
  folder.writeResult(result);
  return result;
}
