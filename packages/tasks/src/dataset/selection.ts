import {
  PRESET_NAMES,
  SelectivError,
  Tokens,
  parseAssignments,
  resolveConfig,
  type Config,
  type PresetName,
  type TaskDefinition,
  type TaskRegistry,
  taskPreset,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { asGrammarTask, type GrammarTaskInstance } from "../grammar-task/instance.js";

/** A registered task with its config resolved from a preset and `--set` assignments. */
export interface TaskSelection {
  readonly definition: TaskDefinition;
  readonly preset: PresetName;
  readonly config: Config;
}

/**
 * Resolves a task's config as `bench run` does: defaults, then the preset, then `task.KEY=V` / `ID.KEY=V`
 * assignments. Other sections (train, model) do not apply to data and are refused. Errors are one line.
 */
export function resolveTaskSelection(
  container: DependencyContainer,
  request: { readonly task: string; readonly preset: string; readonly assignments: readonly string[] },
): TaskSelection {
  const definition = container.resolve<TaskRegistry>(Tokens.TaskRegistry).get(request.task);
  if (!(PRESET_NAMES as readonly string[]).includes(request.preset)) {
    throw new SelectivError(`--preset: got ${JSON.stringify(request.preset)}; expected one of ${PRESET_NAMES.join(", ")}`);
  }
  const preset = request.preset as PresetName;
  const overrides = parseAssignments(container, request.assignments, { tasks: [definition.id], models: [] });
  const stray = [
    ...Object.keys(overrides.train).map((k) => `train.${k}`),
    ...Object.keys(overrides.model).map((k) => `model.${k}`),
    ...Object.entries(overrides.models).flatMap(([id, o]) => Object.keys(o).map((k) => `${id}.${k}`)),
    ...Object.entries(overrides.tasks)
      .filter(([id]) => id !== definition.id)
      .flatMap(([id, o]) => Object.keys(o).map((k) => `${id}.${k}`)),
  ];
  if (stray.length > 0) {
    throw new SelectivError(`--set ${stray[0]}: does not apply here; expected task.KEY=V or ${definition.id}.KEY=V`);
  }
  const config = resolveConfig(
    definition.schema,
    { ...definition.defaults, ...taskPreset(definition, preset) } as Config,
    { ...overrides.task, ...overrides.tasks[definition.id] },
    `task ${definition.id}`,
  );
  return { definition, preset, config };
}

/** The selected task's instance for `seed`, which must be a grammar task (a grammar and samples to show or write). */
export function createGrammarTaskInstance(selection: TaskSelection, seed: number): GrammarTaskInstance {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 31)) {
    throw new SelectivError(`--seed: got ${seed}; expected an integer in [0, 2147483648]`);
  }
  const instance = asGrammarTask(selection.definition.create(selection.config, seed));
  if (!instance) {
    throw new SelectivError(
      `task ${selection.definition.id} is not a grammar task; expected one with a grammar (task1, task2, task3, reference-dataset)`,
    );
  }
  return instance;
}
