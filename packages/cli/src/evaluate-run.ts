import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import {
  type BackendPreference,
  type Config,
  type ModelRegistry,
  type PresetName,
  type RunResult,
  type RunSpec,
  type TaskDefinition,
  type TaskInstance,
  type TaskRegistry,
  type TestResult,
  type TrainingConfig,
  RunFolder,
  SelectivError,
  Tokens,
  evaluateOnTests,
  initBackend,
  isSelectivError,
  isPrediction,
  loadTrainedNet,
  majorityClassOf,
  meanOfTests,
  parseAssignments,
  resolveConfig,
  runId,
  transferTrainingSpec,
  withFileLock,
  writeFileAtomic,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { type SavedRun, readRunConfig } from "./config-file.js";

/** One `selectiv eval`: a finished run's final weights tested under a (possibly) changed test condition. */
export interface RunEvaluation {
  runDir: string;
  task: string;
  model: string;
  seed: number;
  /** The `--set` assignments as given. */
  assignments: string[];
  /** The task fields the assignments changed: the run's value and the evaluated one. */
  changed: Record<string, { from: unknown; to: unknown }>;
  /** The task config evaluated (the run's, with the assignments). */
  taskConfig: Config;
  backend: string;
  testAccuracy: number;
  testLoss: number;
  majorityBaseline: number;
  ceiling?: number;
  testKl?: number;
  /** Transfer runs (Task 4): each test variant; the headline numbers are their mean, as in result.json. */
  variants?: TestResult[];
  timestamp: string;
}

export interface EvaluateRunOptions {
  /** `task.KEY=V` or `<task-id>.KEY=V`. */
  assignments: readonly string[];
  /** The backend asked for; only the run's own is accepted (the checkpoint loads nowhere else). */
  backend?: string;
}

/** The run's result.json, if the run completed; anything else is a one-line refusal naming the file. */
function completedResult(dir: string): RunResult {
  const path = join(dir, "result.json");
  if (!existsSync(path)) {
    throw new SelectivError(`RUN_DIR ${dir}: the run has not finished (no result.json); finish it with selectiv bench run --resume ${dir}`);
  }
  let result: Partial<RunResult> | null;
  try {
    result = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    result = null;
  }
  if (result?.status !== "completed") {
    throw new SelectivError(
      `${path}: status ${JSON.stringify(result?.status ?? null)}; only a completed run can be evaluated (a diverged run's checkpoint predates the divergence)`,
    );
  }
  return result as RunResult;
}

/**
 * The task overrides of `assignments`. Only the task's fields are a test condition: train.* and model.* keys
 * would change the network the checkpoint holds, and `mode` what its outputs mean.
 */
function taskOverrides(container: DependencyContainer, assignments: readonly string[], saved: SavedRun): Record<string, unknown> {
  const models = container.resolve<ModelRegistry>(Tokens.ModelRegistry);
  const tasks = container.resolve<TaskRegistry>(Tokens.TaskRegistry);
  const allowed = `task.KEY=V or ${saved.task}.KEY=V`;
  for (const text of assignments) {
    const section = text.slice(0, Math.max(0, text.indexOf(".")));
    if (section === "train" || section === "model" || models.has(section)) {
      throw new SelectivError(
        `--set ${text}: eval changes the test condition only (${allowed}); ${section}.* settings would change the trained network (train another run with bench run --set)`,
      );
    }
    if (tasks.has(section) && section !== saved.task)
      throw new SelectivError(`--set ${text}: this run's task is ${saved.task}; use ${allowed}`);
  }
  const o = parseAssignments(container, assignments, { tasks: [saved.task], models: [saved.model] });
  const overrides = { ...o.task, ...o.tasks[saved.task] };
  if ("mode" in overrides && overrides.mode !== saved.taskConfig.mode) {
    throw new SelectivError(
      `--set ${saved.task}.mode=${String(overrides.mode)}: the network was trained for ${String(saved.taskConfig.mode)}; mode changes what its outputs mean, not the test condition`,
    );
  }
  return overrides;
}

/** Refuses a test task the trained network cannot take (another alphabet or class count). */
function checkSameShape(base: TaskInstance, test: TaskInstance): void {
  if (test.inputSize === base.inputSize && test.numClasses === base.numClasses) return;
  throw new SelectivError(
    `gives ${test.inputSize} inputs and ${test.numClasses} classes, the trained network has ${base.inputSize} and ${base.numClasses}; change the test condition (gaps, noise, length, distractors), not the grammar's size`,
  );
}

/** Runs `make`, prefixing its one-line errors with the assignments (a task's cross-field checks name only fields). */
function namingAssignments<T>(assignments: readonly string[], make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (!isSelectivError(e) || !assignments.length) throw e;
    throw new SelectivError(`--set ${assignments.join(" ")}: ${e.message}`);
  }
}

/**
 * The RunSpec of the run folder `dir` from its config.json, on `backend` (the checkpoint check reads only its name).
 * A folder whose name is not its settings' run id (renamed, or config.json edited) is a one-line refusal.
 */
export function savedRunSpec(container: DependencyContainer, dir: string, saved: SavedRun, backend: string): RunSpec {
  const spec: RunSpec = {
    task: container.resolve<TaskRegistry>(Tokens.TaskRegistry).get(saved.task),
    taskConfig: saved.taskConfig,
    model: container.resolve<ModelRegistry>(Tokens.ModelRegistry).get(saved.model),
    modelConfig: saved.modelConfig,
    training: saved.training as TrainingConfig,
    seed: saved.seed,
    preset: saved.preset as PresetName,
    backend: { name: backend as RunSpec["backend"]["name"], reason: "the run's backend" },
    outDir: dirname(dir),
  };
  if (runId(spec) !== basename(dir)) {
    throw new SelectivError(
      `${join(dir, "config.json")}: its settings give the run id ${runId(spec)}, not ${basename(dir)} (a renamed folder or an edited config.json)`,
    );
  }
  return spec;
}

/**
 * Evaluates the final weights of the finished run in `runDir` on its test split, with the task config changed by
 * `options.assignments`, and appends the evaluation to `runDir/evaluations.jsonl` (the run's own files stay as
 * they are). The checkpoint is loaded and checked with the run's original settings; only the test task changes.
 * A transfer run (Task 4) evaluates the model its training run left, on each of its variants.
 */
export async function evaluateRun(container: DependencyContainer, runDir: string, options: EvaluateRunOptions): Promise<RunEvaluation> {
  const dir = resolve(runDir);
  const saved = readRunConfig(dir, "RUN_DIR");
  // Imported weights (selectiv weights import) are final weights without a training result.
  const result = saved.importedFrom !== undefined && !existsSync(join(dir, "result.json")) ? undefined : completedResult(dir);
  const tasks = container.resolve<TaskRegistry>(Tokens.TaskRegistry);
  const task: TaskDefinition = tasks.get(saved.task);
  const overrides = taskOverrides(container, options.assignments, saved);
  const taskConfig = resolveConfig(task.schema, saved.taskConfig, overrides, `task ${saved.task}`);
  const recorded = saved.backend ?? result?.backend;
  if (recorded === undefined)
    throw new SelectivError(`${join(dir, "config.json")}: names no backend; the checkpoint loads only on the one that wrote it`);
  if (options.backend !== undefined && options.backend !== recorded) {
    throw new SelectivError(
      `--backend: got ${JSON.stringify(options.backend)}; this run's checkpoint loads only on the backend that trained it (${recorded}): leave --backend out`,
    );
  }

  // The recorded backend, which initBackend below starts (runId and the checkpoint check read only its name).
  const spec = savedRunSpec(container, dir, saved, recorded);
  // A transfer run's weights are its training run's, saved under that run's settings (evaluation.ts).
  const weights = task.transfer ? transferTrainingSpec(spec, tasks.get(task.transfer.trainTask)) : spec;
  const checkpoint = new RunFolder(weights).path("checkpoint.bin");
  if (!existsSync(checkpoint)) throw new SelectivError(`${checkpoint}: missing; the run's final weights are needed to evaluate it`);
  const backend = await initBackend(recorded as BackendPreference);

  const base = weights.task.create(weights.taskConfig, spec.seed);
  const tests = namingAssignments(options.assignments, () => {
    const created = task.transfer
      ? task.transfer.variants(taskConfig).map((v) => ({ label: v.label, value: v.value, task: task.create(v.config, spec.seed) }))
      : [{ label: "test", value: NaN, task: Object.keys(overrides).length ? task.create(taskConfig, spec.seed) : base }];
    for (const t of created) checkSameShape(base, t.task);
    return created;
  });
  // The majority class of the training data, as in training and in Task 4's transfer evaluation.
  const majority = majorityClassOf(base, spec.training.evalBatchSize);
  const net = loadTrainedNet(weights, base);
  const results = await evaluateOnTests(net, tests, spec.training.evalBatchSize, majority);
  net.dispose();

  const changed = Object.fromEntries(
    Object.keys(taskConfig)
      .filter((key) => taskConfig[key] !== saved.taskConfig[key])
      .map((key) => [key, { from: saved.taskConfig[key], to: taskConfig[key] }]),
  );
  const evaluation: RunEvaluation = {
    runDir: dir,
    task: saved.task,
    model: saved.model,
    seed: saved.seed,
    assignments: [...options.assignments],
    changed,
    taskConfig,
    backend: backend.name,
    // One test (no variants) is its own mean: x / 1 is x, so an unchanged run reproduces result.json exactly.
    ...meanOfTests(results, isPrediction(base)),
    ...(task.transfer ? { variants: results } : {}),
    timestamp: new Date().toISOString(),
  };
  appendEvaluation(dir, evaluation);
  return evaluation;
}

/**
 * Appends one line to `dir/evaluations.jsonl` under a lock, rewriting the file atomically: concurrent evals keep
 * every line, and a reader never sees half of one.
 */
function appendEvaluation(dir: string, evaluation: RunEvaluation): void {
  const { runDir: _runDir, ...line } = evaluation;
  const path = join(dir, "evaluations.jsonl");
  withFileLock(join(dir, ".evaluations.lock"), () => {
    const before = existsSync(path) ? readFileSync(path, "utf8") : "";
    writeFileAtomic(path, `${before}${JSON.stringify(line)}\n`);
  });
}
