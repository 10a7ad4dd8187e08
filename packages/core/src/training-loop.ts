import type { Checkpoint } from "./checkpoint.js";
import { SelectivError } from "./errors.js";
import { type Evaluation, ceilingOf, evaluateModel, isBetterEvaluation, isPrediction, majorityClassOf } from "./evaluation.js";
import { type GradientHelper, microBatchSize, trainingStep } from "./optimizer-step.js";
import { Adam, learningRateAt } from "./optim.js";
import type { RecNet, RecNetShape } from "./recnet.js";
import type { EvaluationRecord, RunResult } from "./results.js";
import { type CheckpointMeta, RunFolder } from "./run-folder.js";
import { type RunSpec, buildNet } from "./run-spec.js";
import type { TaskInstance } from "./task.js";

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
  /** Called when a run continues from a checkpoint (step reached) or is reused whole (step = total, and its result). */
  onResume?(step: number, totalSteps: number, reused?: RunResult): void;
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
 * One run in progress: the network, the optimiser and what has been measured so far. Its methods are the
 * phases of `trainAndEvaluate`; its state is exactly what a checkpoint stores.
 */
class TrainingRun {
  readonly optimizer = new Adam();
  readonly records: EvaluationRecord[] = [];
  readonly totalSteps: number;
  private readonly stepsPerEpoch: number;
  private readonly majority: number;
  /** The task's ceiling (docs/spec/TASKS.md §4.1), computed before training so that a fault shows at once. */
  private readonly ceiling: number | undefined;
  private readonly started = Date.now();
  private best?: Evaluation;
  private last?: Evaluation;
  status: RunResult["status"] = "completed";
  step = 0;
  samples = 0;
  lr = 0;
  lastLoss = NaN;
  gradNorm = NaN;
  nextEval: number;
  wallBefore = 0;

  constructor(
    readonly spec: RunSpec,
    readonly task: TaskInstance,
    readonly net: RecNet,
    readonly folder: RunFolder,
    readonly hooks: RunHooks,
  ) {
    const tc = spec.training;
    this.stepsPerEpoch = Math.ceil(task.splitSize("train") / tc.batchSize);
    this.totalSteps = this.stepsPerEpoch * tc.epochs;
    this.majority = majorityClassOf(task, tc.evalBatchSize);
    this.ceiling = ceilingOf(task);
    this.nextEval = tc.evalEvery > 0 ? tc.evalEvery : Infinity;
  }

  wallSeconds(): number {
    return this.wallBefore + (Date.now() - this.started) / 1000;
  }

  /** Continues from a checkpoint: weights, Adam state, counters and the evaluations so far. */
  restore(saved: Checkpoint<CheckpointMeta>): void {
    this.folder.restore(saved, this.net, this.optimizer);
    ({ step: this.step, samples: this.samples, nextEval: this.nextEval, lastLoss: this.lastLoss, gradNorm: this.gradNorm } = saved.meta);
    this.wallBefore = saved.meta.wallSeconds;
    this.records.push(...saved.meta.records);
    for (const r of this.records) {
      // JSON stores NaN as null.
      const e: Evaluation = { loss: r.testLoss, accuracy: r.testAccuracy ?? NaN, majorityBaseline: r.majorityBaseline ?? NaN };
      if (isPrediction(this.task)) e.kl = r.testKl ?? NaN;
      this.last = e;
      if (isBetterEvaluation(e, this.best)) this.best = e;
    }
    this.hooks.onResume?.(this.step, this.totalSteps);
  }

  /** Evaluates on the test split and appends the record to metrics.jsonl. */
  async evaluate(): Promise<void> {
    const e = await evaluateModel(this.net, this.task, this.spec.training.evalBatchSize, this.majority);
    this.last = e;
    if (isBetterEvaluation(e, this.best)) this.best = e;
    const r: EvaluationRecord = {
      step: this.step,
      samples: this.samples,
      lr: this.lr,
      trainLoss: this.lastLoss,
      testLoss: e.loss,
      testAccuracy: e.accuracy,
      majorityBaseline: e.majorityBaseline,
      ...(e.kl !== undefined ? { testKl: e.kl } : {}),
      gradNorm: this.gradNorm,
      wallSeconds: this.wallSeconds(),
    };
    this.records.push(r);
    this.folder.writeMetrics(this.records);
    this.hooks.onEvaluation?.(r);
  }

  saveCheckpoint(): Promise<void> {
    const { step, samples, nextEval, records, lastLoss, gradNorm } = this;
    return this.folder.saveCheckpoint(this.net, this.optimizer, {
      step,
      samples,
      nextEval,
      records,
      lastLoss,
      gradNorm,
      wallSeconds: this.wallSeconds(),
    });
  }

  /** The training steps left (docs/spec/TASKS.md §5): evaluating and checkpointing every `evalEvery` samples. */
  async train(helpers: readonly GradientHelper[]): Promise<void> {
    const { spec, task } = this;
    const tc = spec.training;
    const trainSize = task.splitSize("train");
    const variables = new Map(this.net.store.entries());
    while (this.step < this.totalSteps) {
      const start = (this.step % this.stepsPerEpoch) * tc.batchSize;
      const batch = task.batch("train", start, Math.min(tc.batchSize, trainSize - start));
      this.lr = learningRateAt(this.step, tc.lr, tc.warmupSteps, this.totalSteps);
      const options = {
        seed: spec.seed,
        step: this.step,
        lr: this.lr,
        clipNorm: tc.clipNorm,
        microBatch: tc.microBatch,
        dropout: this.dropoutActive(),
        helpers,
      };
      ({ loss: this.lastLoss, gradNorm: this.gradNorm } = await trainingStep(this.net, this.optimizer, variables, batch, options));
      this.samples += batch.size;
      this.step++;
      if (!Number.isFinite(this.lastLoss) || !Number.isFinite(this.gradNorm)) {
        this.status = "diverged";
        return;
      }
      if (this.samples >= this.nextEval && this.step < this.totalSteps) {
        await this.evaluate();
        while (this.nextEval <= this.samples) this.nextEval += tc.evalEvery;
        await this.saveCheckpoint();
      }
      this.reportProgress();
    }
  }

  /**
   * Whether this step drops out: always, or with `train.dropoutUntil=first-eval` only until the first evaluation
   * (the reference calls model.eval() in its test function and never model.train() again; docs/spec/TASKS.md
   * §5.1). The records say whether it happened, so a run continued from a checkpoint decides the same.
   */
  dropoutActive(): boolean {
    return this.spec.training.dropoutUntil !== "first-eval" || this.records.length === 0;
  }

  private reportProgress(): void {
    const elapsed = this.wallSeconds();
    this.hooks.onProgress?.({
      step: this.step,
      totalSteps: this.totalSteps,
      loss: this.lastLoss,
      accuracy: this.last?.accuracy,
      kl: this.last?.kl,
      elapsedSeconds: elapsed,
      etaSeconds: (elapsed / this.step) * (this.totalSteps - this.step),
    });
  }

  /** The final evaluation and checkpoint (so later evaluations, as Task 4's, reuse the weights), then result.json. */
  async finish(): Promise<RunResult> {
    if (this.status === "completed") {
      // A run killed after its final checkpoint but before result.json already holds the final evaluation.
      if (this.records.at(-1)?.step !== this.step) await this.evaluate();
      await this.saveCheckpoint();
    }
    const prediction = isPrediction(this.task);
    const { spec, net, best } = this;
    const final: Evaluation = this.last ?? { loss: NaN, accuracy: NaN, majorityBaseline: NaN, ...(prediction ? { kl: NaN } : {}) };
    const result: RunResult = {
      status: this.status,
      task: spec.task.id,
      model: spec.model.id,
      seed: spec.seed,
      preset: spec.preset,
      params: net.parameterCount,
      backend: spec.backend.name,
      backendReason: spec.backend.reason,
      steps: this.step,
      ...(prediction ? { objective: "prediction" as const } : {}),
      testAccuracy: final.accuracy,
      testLoss: final.loss,
      bestTestAccuracy: best?.accuracy ?? NaN,
      bestTestLoss: best ? Math.min(...this.records.map((r) => r.testLoss)) : NaN,
      majorityBaseline: final.majorityBaseline,
      ...(this.ceiling !== undefined ? { ceiling: this.ceiling } : {}),
      ...(prediction ? { testKl: final.kl ?? NaN, bestTestKl: best?.kl ?? NaN } : {}),
      wallSeconds: this.wallSeconds(),
      runDir: this.folder.dir,
      taskSummary: { ...this.task.summary },
    };
    this.folder.writeResult(result);
    return result;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.net.dispose();
  }
}

/**
 * Trains one model on one task and evaluates it (docs/spec/TASKS.md §5 training recipe): Adam, linear warm-up then
 * cosine, global-norm clipping, dropout, periodic evaluation. A finished run with the same settings is reused; an
 * unfinished one continues from its checkpoint (unless `spec.resume` is false).
 */
export async function trainAndEvaluate(spec: RunSpec, hooks: RunHooks = {}): Promise<RunResult> {
  const folder = new RunFolder(spec);
  const resume = spec.resume ?? true;
  const finished = resume ? folder.finishedResult() : undefined;
  if (finished) {
    hooks.onResume?.(finished.steps, finished.steps, finished);
    return finished;
  }
  const task = spec.task.create(spec.taskConfig, spec.seed);
  const net = buildNet(spec, task);
  folder.writeConfig({ params: net.parameterCount, taskSummary: task.summary });
  const run = new TrainingRun(spec, task, net, folder, hooks);
  const saved = resume ? folder.readCheckpoint() : undefined;
  if (saved) run.restore(saved);
  const helpers = await startHelpers(spec, net, hooks, task);
  try {
    await run.train(helpers);
  } finally {
    await Promise.all(helpers.map((h) => h.dispose()));
  }
  const result = await run.finish();
  run.dispose();
  return result;
}
