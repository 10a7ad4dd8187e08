import { join } from "node:path";
import type { BackendChoice } from "./backend.js";
import type { Config } from "./config.js";
import { addSymbolClassCounts, batchTensors, maskedCrossEntropySum, windowAccuracyCounts } from "./metric.js";
import type { ModelDefinition } from "./model.js";
import { Adam, clipByGlobalNorm, learningRateAt } from "./optim.js";
import { RecNet, headsForWidth } from "./recnet.js";
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
}

export interface TrainingProgress {
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  /** Test accuracy of the latest evaluation, if any. */
  readonly accuracy?: number;
  readonly elapsedSeconds: number;
  readonly etaSeconds: number;
}

export interface RunHooks {
  onProgress?(progress: TrainingProgress): void;
  onEvaluation?(record: EvaluationRecord): void;
}

/** A stable id for a run: task, model, seed and a hash of every setting. */
export function runId(spec: Pick<RunSpec, "task" | "model" | "seed" | "taskConfig" | "modelConfig" | "training" | "preset">): string {
  const settings = JSON.stringify([spec.preset, spec.taskConfig, spec.modelConfig, spec.training]);
  return `${spec.task.id}-${spec.model.id}-seed${spec.seed}-${hashSeed(settings).toString(16).padStart(8, "0")}`;
}

const BASELINE_SAMPLES = 2000;

/** Most frequent symbol class among the first training samples (the majority-class baseline predicts it). */
function majorityClass(task: TaskInstance, batchSize: number): number {
  const counts = new Map<number, number>();
  const n = Math.min(BASELINE_SAMPLES, task.splitSize("train"));
  for (let start = 0; start < n; start += batchSize) addSymbolClassCounts(task.batch("train", start, Math.min(batchSize, n - start)), counts);
  let best = 0;
  let bestCount = -1;
  for (const [c, k] of counts) if (k > bestCount || (k === bestCount && c < best)) [best, bestCount] = [c, k];
  return best;
}

interface Evaluation {
  loss: number;
  accuracy: number;
  majorityBaseline: number;
}

function evaluate(net: RecNet, task: TaskInstance, batchSize: number, majority: number): Evaluation {
  let lossSum = 0;
  let steps = 0;
  let correct = 0;
  let total = 0;
  let majorityHits = 0;
  const n = task.splitSize("test");
  for (let start = 0; start < n; start += batchSize) {
    const batch = task.batch("test", start, Math.min(batchSize, n - start));
    tf.tidy(() => {
      const t = batchTensors(batch);
      const logits = net.logits(t.inputs, { training: false });
      lossSum += maskedCrossEntropySum(logits, t.targets, t.mask).dataSync()[0]!;
      steps += tf.sum(t.mask).dataSync()[0]!;
      const c = windowAccuracyCounts(logits, batch);
      correct += c.correct;
      total += c.total;
    });
    for (const c of batch.symbolTargets) if (c === majority) majorityHits++;
  }
  return { loss: lossSum / Math.max(1, steps), accuracy: correct / Math.max(1, total), majorityBaseline: majorityHits / Math.max(1, total) };
}

/**
 * Trains one model on one task and evaluates it (tasks.md §5 training recipe): Adam, linear warm-up then cosine,
 * global-norm clipping, dropout, periodic evaluation. Writes config.json, metrics.jsonl and result.json atomically.
 */
export function trainAndEvaluate(spec: RunSpec, hooks: RunHooks = {}): RunResult {
  const started = Date.now();
  const { training: tc, seed } = spec;
  const runDir = join(spec.outDir, runId(spec));
  const task = spec.task.create(spec.taskConfig, seed);
  const heads = tc.heads > 0 ? tc.heads : headsForWidth(tc.width);
  const net = new RecNet(
    spec.model,
    spec.modelConfig,
    { inputSize: task.inputSize, numClasses: task.numClasses, width: tc.width, layers: tc.layers, heads, dropout: tc.dropout },
    hashSeed(seed, "model-init"),
  );
  writeJsonAtomic(join(runDir, "config.json"), {
    task: spec.task.id,
    model: spec.model.id,
    seed,
    preset: spec.preset,
    taskConfig: spec.taskConfig,
    modelConfig: spec.modelConfig,
    training: { ...tc, heads },
    backend: spec.backend.name,
    backendReason: spec.backend.reason,
    params: net.parameterCount,
    taskSummary: task.summary,
  });

  const variables = new Map(net.variables.map((v) => [v.name, v]));
  const varList = [...variables.values()];
  const optimizer = new Adam();
  const trainSize = task.splitSize("train");
  const stepsPerEpoch = Math.ceil(trainSize / tc.batchSize);
  const totalSteps = stepsPerEpoch * tc.epochs;
  const majority = majorityClass(task, tc.evalBatchSize);
  const records: EvaluationRecord[] = [];
  let best: Evaluation | undefined;
  let last: Evaluation | undefined;
  let lastLoss = NaN;
  let gradNorm = NaN;
  let status: RunResult["status"] = "completed";
  let nextEval = tc.evalEvery > 0 ? tc.evalEvery : Infinity;

  const record = (step: number, samples: number, lr: number): void => {
    const e = evaluate(net, task, tc.evalBatchSize, majority);
    last = e;
    if (!best || e.accuracy > best.accuracy) best = e;
    const r: EvaluationRecord = {
      step,
      samples,
      lr,
      trainLoss: lastLoss,
      testLoss: e.loss,
      testAccuracy: e.accuracy,
      gradNorm,
      wallSeconds: (Date.now() - started) / 1000,
    };
    records.push(r);
    writeFileAtomic(join(runDir, "metrics.jsonl"), records.map((x) => JSON.stringify(x)).join("\n") + "\n");
    hooks.onEvaluation?.(r);
  };

  let samples = 0;
  let lr = 0;
  let step = 0;
  for (; step < totalSteps; step++) {
    const start = (step % stepsPerEpoch) * tc.batchSize;
    const batch = task.batch("train", start, Math.min(tc.batchSize, trainSize - start));
    lr = learningRateAt(step, tc.lr, tc.warmupSteps, totalSteps);
    tf.tidy(() => {
      const t = batchTensors(batch);
      const validSteps = tf.sum(t.mask);
      const { value, grads } = tf.variableGrads(
        () => tf.div(maskedCrossEntropySum(net.logits(t.inputs, { training: true, dropoutSeed: hashSeed(seed, "dropout", step) }), t.targets, t.mask), validSteps) as tf.Scalar,
        varList,
      );
      lastLoss = value.dataSync()[0]!;
      const clipped = clipByGlobalNorm(grads, tc.clipNorm);
      gradNorm = clipped.norm;
      if (Number.isFinite(lastLoss) && Number.isFinite(gradNorm)) optimizer.apply(variables, clipped.grads, lr);
    });
    samples += batch.size;
    if (!Number.isFinite(lastLoss) || !Number.isFinite(gradNorm)) {
      status = "diverged";
      step++;
      break;
    }
    const done = step + 1 === totalSteps;
    if (samples >= nextEval && !done) {
      record(step + 1, samples, lr);
      while (nextEval <= samples) nextEval += tc.evalEvery;
    }
    const elapsed = (Date.now() - started) / 1000;
    hooks.onProgress?.({
      step: step + 1,
      totalSteps,
      loss: lastLoss,
      accuracy: last?.accuracy,
      elapsedSeconds: elapsed,
      etaSeconds: (elapsed / (step + 1)) * (totalSteps - step - 1),
    });
  }
  if (status === "completed") record(step, samples, lr);

  const final = last ?? { loss: NaN, accuracy: NaN, majorityBaseline: NaN };
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
    testAccuracy: final.accuracy,
    testLoss: final.loss,
    bestTestAccuracy: best?.accuracy ?? NaN,
    bestTestLoss: best ? Math.min(...records.map((r) => r.testLoss)) : NaN,
    majorityBaseline: final.majorityBaseline,
    wallSeconds: (Date.now() - started) / 1000,
    runDir,
    taskSummary: { ...task.summary },
  };
  writeJsonAtomic(join(runDir, "result.json"), result);
  optimizer.dispose();
  net.dispose();
  return result;
}
