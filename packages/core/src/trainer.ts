import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { assertBackendHealthy, type BackendChoice } from "./backend.js";
import { readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { SelectivError } from "./errors.js";
import type { Config } from "./config.js";
import { addSymbolClassCounts, batchTensors, maskedCrossEntropySum, maskedKlDivergenceSum, windowAccuracyCounts } from "./metric.js";
import type { ModelDefinition } from "./model.js";
import { Adam, learningRateAt } from "./optim.js";
import { ACTIVATION_FLOAT_BUDGET, type GradientHelper, activationFloatsPerStep, microBatchSize, trainingStep } from "./train-step.js";
import { RecNet, type RecNetShape, headsForWidth } from "./recnet.js";
import { type EvaluationRecord, type RunResult, writeFileAtomic, writeJsonAtomic } from "./results.js";
import { hashSeed } from "./rng.js";
import type { PresetName, TaskDefinition, TaskInstance } from "./task.js";
import { tf } from "./tf.js";
import type { TrainingConfig } from "./training.js";

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

export interface TrainingProgress {
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  /** Test accuracy of the latest evaluation, if any (NaN in prediction mode). */
  readonly accuracy?: number;
  /** Prediction mode: test KL divergence of the latest evaluation, if any. */
  readonly kl?: number;
  readonly elapsedSeconds: number;
  readonly etaSeconds: number;
}

/** Starts `count` gradient helpers (worker threads) holding `spec`'s network; the host provides it. */
export type GradientHelperFactory = (spec: RunSpec, shape: RecNetShape, count: number) => Promise<GradientHelper[]>;

export interface RunHooks {
  /** Needed for `train.workers` > 1 (runBenchmark takes it from the container's Tokens.GradientHelperFactory). */
  gradientHelpers?: GradientHelperFactory;
  onProgress?(progress: TrainingProgress): void;
  onEvaluation?(record: EvaluationRecord): void;
  /** Called when a run continues from a checkpoint (step reached) or is reused whole (step = total). */
  onResume?(step: number, totalSteps: number): void;
}

/** What a checkpoint stores besides the arrays. Randomness is a function of (seed, step), so no RNG state. */
interface CheckpointMeta {
  settings: string;
  step: number;
  samples: number;
  nextEval: number;
  records: EvaluationRecord[];
  lastLoss: number;
  gradNorm: number;
  adamStep: number;
  wallSeconds: number;
}

/** A stable id for a run: task, model, seed and a hash of every setting. */
type RunIdentity = Pick<RunSpec, "task" | "model" | "seed" | "taskConfig" | "modelConfig" | "training" | "preset">;

function runSettings(spec: RunIdentity): string {
  // `workers` changes where passes run, not what they compute: a run is the same run with any count.
  const { workers: _workers, ...training } = spec.training;
  return JSON.stringify([spec.task.id, spec.model.id, spec.seed, spec.preset, spec.taskConfig, spec.modelConfig, training]);
}

export function runId(spec: RunIdentity): string {
  return `${spec.task.id}-${spec.model.id}-seed${spec.seed}-${hashSeed(runSettings(spec)).toString(16).padStart(8, "0")}`;
}

function readResult(path: string): RunResult | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunResult;
  } catch {
    return undefined;
  }
}

const BASELINE_SAMPLES = 2000;

/** Most frequent symbol class among the first training samples (the majority-class baseline predicts it). */
function majorityClass(task: TaskInstance, batchSize: number): number {
  const counts = new Map<number, number>();
  const n = Math.min(BASELINE_SAMPLES, task.splitSize("train"));
  for (let start = 0; start < n; start += batchSize)
    addSymbolClassCounts(task.batch("train", start, Math.min(batchSize, n - start)), counts);
  let best = 0;
  let bestCount = -1;
  for (const [c, k] of counts) if (k > bestCount || (k === bestCount && c < best)) [best, bestCount] = [c, k];
  return best;
}

export interface Evaluation {
  loss: number;
  /** Window accuracy (classification); NaN in prediction mode. */
  accuracy: number;
  /** Share of symbols whose class is the majority class (classification); NaN in prediction mode. */
  majorityBaseline: number;
  /** Prediction mode: mean KL divergence per masked step (tasks.md §4); absent in classification. */
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

/** Steps (batch × time) an evaluation batch may hold; long sequences get smaller batches (bounded memory). */
export const EVAL_TOKEN_BUDGET = 65_536;

/** Samples of `stepsPerSample` steps in one evaluation pass: within EVAL_TOKEN_BUDGET and one layer's activations. */
export function evaluationBatchSize(net: RecNet, stepsPerSample: number, batchSize: number): number {
  const perStep = activationFloatsPerStep(net.shape.width, 1, net.shape.numClasses, net.definition.activationWidths);
  const steps = Math.min(EVAL_TOKEN_BUDGET, Math.floor(ACTIVATION_FLOAT_BUDGET / perStep));
  return Math.max(1, Math.min(batchSize, Math.floor(steps / stepsPerSample)));
}

/**
 * Loss and window accuracy on the test split, or in prediction mode loss and mean KL divergence (tasks.md §4;
 * `majority` is then unused). Batches hold at most `batchSize` samples and about EVAL_TOKEN_BUDGET steps, so
 * memory stays bounded when test sequences are long (Task 4's 100-step gaps).
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
  if (prediction) return { loss: lossSum / Math.max(1, steps), accuracy: NaN, majorityBaseline: NaN, kl: klSum / Math.max(1, steps) };
  return {
    loss: lossSum / Math.max(1, steps),
    accuracy: correct / Math.max(1, total),
    majorityBaseline: majorityHits / Math.max(1, total),
  };
}

/** The network of a finished run, with its final weights (from the run's checkpoint). */
export function loadTrainedNet(spec: RunSpec, task: TaskInstance): RecNet {
  const checkpoint = readCheckpoint<CheckpointMeta>(join(spec.outDir, runId(spec), "checkpoint.bin"));
  if (!checkpoint) throw new SelectivError(`run ${runId(spec)} has no checkpoint to evaluate`);
  const net = buildNet(spec, task);
  for (const [name, v] of net.store.entries()) {
    const values = checkpoint.arrays.params.get(name);
    if (values) v.assign(tf.tensor(values, v.shape));
  }
  return net;
}

function buildNet(spec: RunSpec, task: TaskInstance): RecNet {
  const tc = spec.training;
  const heads = tc.heads > 0 ? tc.heads : headsForWidth(tc.width);
  return new RecNet(
    spec.model,
    spec.modelConfig,
    { inputSize: task.inputSize, numClasses: task.numClasses, width: tc.width, layers: tc.layers, heads, dropout: tc.dropout },
    hashSeed(spec.seed, "model-init"),
  );
}

/** Most frequent symbol class among a task's first training samples; -1 for a prediction task (no baseline). */
export function majorityClassOf(task: TaskInstance, batchSize: number): number {
  return isPrediction(task) ? -1 : majorityClass(task, batchSize);
}

/** The run's gradient helpers: none for train.workers = 1, else workers − 1 threads from the host's factory. */
async function startHelpers(spec: RunSpec, net: RecNet, hooks: RunHooks, task: TaskInstance): Promise<GradientHelper[]> {
  const workers = spec.training.workers ?? 1;
  if (workers <= 1) return [];
  const tc = spec.training;
  const micro = microBatchSize(task.batch("train", 0, Math.min(tc.batchSize, task.splitSize("train"))), net, tc.microBatch);
  if (micro >= tc.batchSize) {
    throw new SelectivError(
      `train.workers: got ${workers}, but each step is one pass of ${micro} samples, so there is nothing to share; set train.microBatch below train.batchSize (${tc.batchSize}), e.g. ${Math.ceil(tc.batchSize / workers)}`,
    );
  }
  if (spec.backend.name !== "cpu" && spec.backend.name !== "wasm") {
    throw new SelectivError(
      `train.workers: got ${workers} on the ${spec.backend.name} backend; worker threads run on cpu and wasm only, use 1`,
    );
  }
  if (!hooks.gradientHelpers) {
    throw new SelectivError(
      `train.workers: got ${workers}, but this host starts no worker threads (the selectiv CLI and library do); use 1`,
    );
  }
  return hooks.gradientHelpers(spec, net.shape, workers - 1);
}

/**
 * Trains one model on one task and evaluates it (tasks.md §5 training recipe): Adam, linear warm-up then cosine,
 * global-norm clipping, dropout, periodic evaluation. Writes config.json, metrics.jsonl and result.json atomically.
 */
export async function trainAndEvaluate(spec: RunSpec, hooks: RunHooks = {}): Promise<RunResult> {
  const started = Date.now();
  const { training: tc, seed } = spec;
  const runDir = join(spec.outDir, runId(spec));
  const settings = runSettings(spec);
  const resume = spec.resume ?? true;
  const resultPath = join(runDir, "result.json");
  const checkpointPath = join(runDir, "checkpoint.bin");
  if (resume && existsSync(resultPath) && existsSync(join(runDir, "config.json"))) {
    const previous = readResult(resultPath);
    const config = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8")) as { settings?: string };
    if (previous && config.settings === settings && previous.backend === spec.backend.name) {
      hooks.onResume?.(previous.steps, previous.steps);
      return previous;
    }
  }
  const task = spec.task.create(spec.taskConfig, seed);
  const heads = tc.heads > 0 ? tc.heads : headsForWidth(tc.width);
  const net = buildNet(spec, task);
  writeJsonAtomic(join(runDir, "config.json"), {
    task: spec.task.id,
    model: spec.model.id,
    seed,
    preset: spec.preset,
    taskConfig: spec.taskConfig,
    modelConfig: spec.modelConfig,
    training: tc,
    heads,
    backend: spec.backend.name,
    backendReason: spec.backend.reason,
    params: net.parameterCount,
    taskSummary: task.summary,
    settings,
  });

  // Adam state and checkpoints are keyed by parameter path (TF.js variable names carry a process-local serial).
  const variables = new Map(net.store.entries());
  const optimizer = new Adam();
  const trainSize = task.splitSize("train");
  const stepsPerEpoch = Math.ceil(trainSize / tc.batchSize);
  const totalSteps = stepsPerEpoch * tc.epochs;
  const majority = majorityClassOf(task, tc.evalBatchSize);
  const prediction = isPrediction(task);
  const records: EvaluationRecord[] = [];
  let best: Evaluation | undefined;
  let last: Evaluation | undefined;
  let lastLoss = NaN;
  let gradNorm = NaN;
  let status: RunResult["status"] = "completed";
  let nextEval = tc.evalEvery > 0 ? tc.evalEvery : Infinity;

  const record = async (step: number, samples: number, lr: number): Promise<void> => {
    const e = await evaluateModel(net, task, tc.evalBatchSize, majority);
    last = e;
    if (isBetterEvaluation(e, best)) best = e;
    const r: EvaluationRecord = {
      step,
      samples,
      lr,
      trainLoss: lastLoss,
      testLoss: e.loss,
      testAccuracy: e.accuracy,
      majorityBaseline: e.majorityBaseline,
      ...(e.kl !== undefined ? { testKl: e.kl } : {}),
      gradNorm,
      wallSeconds: wallSeconds(),
    };
    records.push(r);
    writeFileAtomic(join(runDir, "metrics.jsonl"), records.map((x) => JSON.stringify(x)).join("\n") + "\n");
    hooks.onEvaluation?.(r);
  };

  let samples = 0;
  let lr = 0;
  let step = 0;
  let wallBefore = 0;
  const wallSeconds = (): number => wallBefore + (Date.now() - started) / 1000;
  const saveCheckpoint = async (stepsDone: number): Promise<void> => {
    const adam = await optimizer.getState();
    const params = new Map(
      await Promise.all(net.store.entries().map(async ([name, v]) => [name, (await v.data()) as Float32Array] as const)),
    );
    const meta: CheckpointMeta = {
      settings,
      step: stepsDone,
      samples,
      nextEval,
      records,
      lastLoss,
      gradNorm,
      adamStep: adam.step,
      wallSeconds: wallSeconds(),
    };
    writeCheckpoint(checkpointPath, { meta, arrays: { params, m: adam.m, v: adam.v } });
  };
  const saved = resume ? readCheckpoint<CheckpointMeta>(checkpointPath) : undefined;
  if (saved && saved.meta.settings === settings) {
    const shapes = new Map(net.store.entries().map(([name, v]) => [name, v.shape]));
    for (const [name, v] of net.store.entries()) {
      const values = saved.arrays.params.get(name);
      if (values) v.assign(tf.tensor(values, v.shape));
    }
    optimizer.setState({ step: saved.meta.adamStep, m: saved.arrays.m, v: saved.arrays.v }, shapes);
    ({ step, samples, nextEval, lastLoss, gradNorm } = saved.meta);
    wallBefore = saved.meta.wallSeconds;
    records.push(...saved.meta.records);
    for (const r of records) {
      // JSON stores NaN as null.
      const e: Evaluation = { loss: r.testLoss, accuracy: r.testAccuracy ?? NaN, majorityBaseline: r.majorityBaseline ?? NaN };
      if (prediction) e.kl = r.testKl ?? NaN;
      last = e;
      if (isBetterEvaluation(e, best)) best = e;
    }
    hooks.onResume?.(step, totalSteps);
  }
  const helpers = await startHelpers(spec, net, hooks, task);
  try {
    for (; step < totalSteps; step++) {
      const start = (step % stepsPerEpoch) * tc.batchSize;
      const batch = task.batch("train", start, Math.min(tc.batchSize, trainSize - start));
      lr = learningRateAt(step, tc.lr, tc.warmupSteps, totalSteps);
      ({ loss: lastLoss, gradNorm } = await trainingStep(net, optimizer, variables, batch, {
        seed,
        step,
        lr,
        clipNorm: tc.clipNorm,
        microBatch: tc.microBatch,
        helpers,
      }));
      samples += batch.size;
      if (!Number.isFinite(lastLoss) || !Number.isFinite(gradNorm)) {
        status = "diverged";
        step++;
        break;
      }
      const done = step + 1 === totalSteps;
      if (samples >= nextEval && !done) {
        await record(step + 1, samples, lr);
        while (nextEval <= samples) nextEval += tc.evalEvery;
        await saveCheckpoint(step + 1);
      }
      const elapsed = wallSeconds();
      hooks.onProgress?.({
        step: step + 1,
        totalSteps,
        loss: lastLoss,
        accuracy: last?.accuracy,
        kl: last?.kl,
        elapsedSeconds: elapsed,
        etaSeconds: (elapsed / (step + 1)) * (totalSteps - step - 1),
      });
    }
  } finally {
    await Promise.all(helpers.map((h) => h.dispose()));
  }
  if (status === "completed") {
    // A run killed after its final checkpoint but before result.json already holds the final evaluation.
    if (records.at(-1)?.step !== step) await record(step, samples, lr);
    // The final weights, so later evaluations (Task 4) can reuse the trained model.
    await saveCheckpoint(step);
  }

  const final: Evaluation = last ?? { loss: NaN, accuracy: NaN, majorityBaseline: NaN, ...(prediction ? { kl: NaN } : {}) };
  const result: RunResult = {
    status,
    task: spec.task.id,
    model: spec.model.id,
    seed,
    preset: spec.preset,
    params: net.parameterCount,
    backend: spec.backend.name,
    backendReason: spec.backend.reason,
    steps: step,
    ...(prediction ? { objective: "prediction" as const } : {}),
    testAccuracy: final.accuracy,
    testLoss: final.loss,
    bestTestAccuracy: best?.accuracy ?? NaN,
    bestTestLoss: best ? Math.min(...records.map((r) => r.testLoss)) : NaN,
    majorityBaseline: final.majorityBaseline,
    ...(prediction ? { testKl: final.kl ?? NaN, bestTestKl: best?.kl ?? NaN } : {}),
    wallSeconds: wallSeconds(),
    runDir,
    taskSummary: { ...task.summary },
  };
  writeJsonAtomic(join(runDir, "result.json"), result);
  optimizer.dispose();
  net.dispose();
  return result;
}
