import type { DependencyContainer } from "tsyringe";
import { BACKEND_PREFERENCES, type BackendPreference } from "./backend.js";
import { type Config, type ConfigSchema, fieldOf, parseFieldText, resolveConfig } from "./config.js";
import { SelectivError } from "./errors.js";
import type { ModelDefinition } from "./model.js";
import type { ModelRegistry, TaskRegistry } from "./registry.js";
import { headsOf } from "./run-spec.js";
import { PRESET_NAMES, type PresetName, type TaskDefinition, taskPreset } from "./task.js";
import { Tokens } from "./tokens.js";
import { TRAINING_DEFAULTS, TRAINING_PRESETS, TRAINING_SCHEMA, type TrainingConfig } from "./training-config.js";

/**
 * Config overrides, by section. `task`/`model` apply to every selected task/model; `tasks[id]`/`models[id]`
 * to one. Values are typed (numbers, booleans, strings); they are checked against the schemas when planned.
 */
export interface Overrides {
  train: Record<string, unknown>;
  task: Record<string, unknown>;
  model: Record<string, unknown>;
  tasks: Record<string, Record<string, unknown>>;
  models: Record<string, Record<string, unknown>>;
}

/**
 * Empty overrides. The sections have no prototype: a key such as "__proto__" from a config file then stays an
 * ordinary key (refused by the schema check) instead of replacing the section's prototype unnoticed.
 */
export function emptyOverrides(): Overrides {
  const section = () => Object.create(null) as Record<string, never>;
  return { train: section(), task: section(), model: section(), tasks: section(), models: section() };
}

export interface BenchmarkRequest {
  tasks: string[];
  models: string[];
  seeds: number[];
  preset: PresetName;
  overrides: Overrides;
  backend: BackendPreference;
  outDir: string;
  /** false: train every run from scratch; true (default): reuse finished runs and continue from checkpoints. */
  resume?: boolean;
  /** false: leave `results.{csv,jsonl}` to the caller (a sweep writes its folder's index itself). Default true. */
  writeIndex?: boolean;
}

export interface PlannedRun {
  task: TaskDefinition;
  taskConfig: Config;
  model: ModelDefinition;
  modelConfig: Config;
  training: TrainingConfig;
  seed: number;
  preset: PresetName;
}

function registries(container: DependencyContainer): { models: ModelRegistry; tasks: TaskRegistry } {
  return {
    models: container.resolve<ModelRegistry>(Tokens.ModelRegistry),
    tasks: container.resolve<TaskRegistry>(Tokens.TaskRegistry),
  };
}

function checkPreset(preset: string): PresetName {
  if (!(PRESET_NAMES as readonly string[]).includes(preset)) {
    throw new SelectivError(`--preset: got ${JSON.stringify(preset)}; expected one of ${PRESET_NAMES.join(", ")}`);
  }
  return preset as PresetName;
}

/**
 * Parses `--set key=value` assignments into typed overrides. Keys: `train.<field>`, `task.<field>`,
 * `model.<field>` (every selected task/model must have the field), or `<task-or-model-id>.<field>`.
 */
export function parseAssignments(
  container: DependencyContainer,
  assignments: readonly string[],
  selected: { tasks: readonly string[]; models: readonly string[] },
  into: Overrides = emptyOverrides(),
): Overrides {
  const { models, tasks } = registries(container);
  for (const text of assignments) {
    const eq = text.indexOf("=");
    const dot = text.indexOf(".");
    if (eq < 0 || dot < 0 || dot > eq) {
      throw new SelectivError(
        `--set: got ${JSON.stringify(text)}; expected SECTION.KEY=VALUE with SECTION one of train, task, model or a task/model id`,
      );
    }
    const section = text.slice(0, dot);
    const key = text.slice(dot + 1, eq);
    const raw = text.slice(eq + 1);
    const parseWith = (schema: ConfigSchema, where: string): unknown => {
      const spec = fieldOf(schema, key);
      if (!spec) throw new SelectivError(`--set ${where}: unknown key ${JSON.stringify(key)}; allowed: ${Object.keys(schema).join(", ")}`);
      return parseFieldText(spec, raw, `--set ${where}.${key}`);
    };
    if (section === "train") into.train[key] = parseWith(TRAINING_SCHEMA, "train");
    else if (section === "task") {
      let value: unknown;
      for (const id of selected.tasks) value = parseWith(tasks.get(id).schema, `task (${id})`);
      into.task[key] = value;
    } else if (section === "model") {
      let value: unknown;
      for (const id of selected.models) value = parseWith(models.get(id).schema, `model (${id})`);
      into.model[key] = value;
    } else if (tasks.has(section)) (into.tasks[section] ??= {})[key] = parseWith(tasks.get(section).schema, section);
    else if (models.has(section)) (into.models[section] ??= {})[key] = parseWith(models.get(section).schema, section);
    else {
      throw new SelectivError(
        `--set: unknown section ${JSON.stringify(section)}; allowed: train, task, model, ${[...tasks.ids(), ...models.ids()].join(", ")}`,
      );
    }
  }
  return into;
}

/**
 * The model settings a task's preset sets (TaskDefinition.modelPresets): those keys the model's schema has, e.g.
 * Task 3's paper `dState` 64 for Mamba and Mamba2 (docs/spec/TASKS.md §5).
 */
function taskModelPreset(task: TaskDefinition, preset: PresetName, model: ModelDefinition): Config {
  const settings = task.modelPresets?.[preset] ?? {};
  return Object.fromEntries(Object.entries(settings).filter(([key]) => key in model.schema));
}

/**
 * A run's training config: `train.width` as the model trains it (ModelDefinition.trainingWidth: the reference's
 * Transformer takes 648 as 768, docs/spec/MODELS.md §5.1), checked by the model's parameter count so that a width
 * or head count the model cannot take fails when planned, not when its run starts.
 */
function trainingOf(model: ModelDefinition, modelConfig: Config, training: TrainingConfig): TrainingConfig {
  const width = model.trainingWidth?.(training.width, modelConfig) ?? training.width;
  const run = width === training.width ? training : { ...training, width };
  model.parametersPerLayer(run.width, headsOf(run), modelConfig);
  return run;
}

/** Resolves and checks every run of a request before anything trains (a bad value fails fast, losing nothing). */
export function planBenchmark(container: DependencyContainer, request: BenchmarkRequest): PlannedRun[] {
  const { models, tasks } = registries(container);
  const preset = checkPreset(request.preset);
  if (!BACKEND_PREFERENCES.includes(request.backend)) {
    throw new SelectivError(`--backend: got ${JSON.stringify(request.backend)}; expected one of ${BACKEND_PREFERENCES.join(", ")}`);
  }
  if (request.tasks.length === 0) throw new SelectivError(`--task: none given; available: ${tasks.ids().join(", ")}`);
  if (request.models.length === 0) throw new SelectivError(`--model: none given; available: ${models.ids().join(", ")}`);
  for (const s of request.seeds) {
    if (!Number.isInteger(s) || s < 0 || s > 2 ** 31)
      throw new SelectivError(`--seed: got ${JSON.stringify(s)}; expected an integer in [0, 2147483648]`);
  }
  const o = request.overrides;
  for (const id of Object.keys(o.tasks)) tasks.get(id);
  for (const id of Object.keys(o.models)) models.get(id);
  const training = resolveConfig(
    TRAINING_SCHEMA,
    { ...TRAINING_DEFAULTS, ...TRAINING_PRESETS[preset] } as Config,
    o.train,
    "train",
  ) as TrainingConfig;
  const plan: PlannedRun[] = [];
  for (const taskId of request.tasks) {
    const task = tasks.get(taskId);
    const taskConfig = resolveConfig(
      task.schema,
      { ...task.defaults, ...taskPreset(task, preset) } as Config,
      { ...o.task, ...o.tasks[taskId] },
      `task ${taskId}`,
    );
    // A transfer task's test variants (Task 4's gaps) are checked now, not after its model has trained.
    task.transfer?.variants(taskConfig);
    for (const modelId of request.models) {
      const model = models.get(modelId);
      const modelConfig = resolveConfig(
        model.schema,
        { ...model.defaults, ...(model.presets?.[preset] ?? {}), ...taskModelPreset(task, preset, model) } as Config,
        { ...o.model, ...o.models[modelId] },
        `model ${modelId}`,
      );
      const runTraining = trainingOf(model, modelConfig, training);
      for (const seed of request.seeds) plan.push({ task, taskConfig, model, modelConfig, training: runTraining, seed, preset });
    }
  }
  return plan;
}
