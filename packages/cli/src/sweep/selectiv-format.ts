import {
  BACKEND_PREFERENCES,
  type BackendPreference,
  type ModelRegistry,
  PRESET_NAMES,
  type PresetName,
  SelectivError,
  type TaskRegistry,
  Tokens,
  parseAssignments,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import {
  type DistributionMakers,
  type SweepDimension,
  distributionDomain,
  isMapping,
  parseDomain,
  representativeValues,
  valueText,
} from "./parameters.js";
import type { SweepSource } from "./source.js";

/** The top-level keys of a selectiv sweep file and what each must be. */
export const SWEEP_KEYS = {
  name: "string",
  method: "grid or random",
  count: "positive integer (random search: configurations drawn)",
  randomSeed: "integer (random search)",
  preset: PRESET_NAMES.join(", "),
  backend: BACKEND_PREFERENCES.join(", "),
  out: "string (results folder)",
  tasks: "list of task ids",
  models: "list of model ids",
  seeds: "list of integers",
  parameters: "mapping of SECTION.KEY to values or a distribution",
} as const;

/** Rewrites a `--set` error from parseAssignments as one about the sweep file's key. */
export function assignmentError(e: unknown, where: string): never {
  if (e instanceof SelectivError) throw new SelectivError(`${where}: ${e.message.replace(/^--set[^:]*: /, "")}`);
  throw e;
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((x) => typeof x === "string")) {
    throw new SelectivError(`${where}: got ${JSON.stringify(value)}; expected a non-empty list of ids`);
  }
  return value as string[];
}

/**
 * Reads a selectiv sweep file (already parsed from YAML/JSON). Tasks, models and seeds are crossed; every
 * parameter key goes through `--set` parsing for every selected task and model, so values are schema-checked
 * here, before anything is planned.
 */
export function readSelectivSweep(
  container: DependencyContainer,
  data: Record<string, unknown>,
  file: string,
  baseName: string,
): SweepSource {
  const at = (key: string) => `${file}: ${key}`;
  for (const key of Object.keys(data)) {
    if (!Object.hasOwn(SWEEP_KEYS, key))
      throw new SelectivError(`${file}: unknown key ${JSON.stringify(key)}; allowed: ${Object.keys(SWEEP_KEYS).join(", ")}`);
  }
  const expect = (key: keyof typeof SWEEP_KEYS, ok: boolean) => {
    if (!ok) throw new SelectivError(`${at(key)}: got ${JSON.stringify(data[key])}; expected ${SWEEP_KEYS[key]}`);
  };
  const { name, method = "grid", count, randomSeed = 1, preset = "quick", backend = "auto", out } = data;
  if (name !== undefined) expect("name", typeof name === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name));
  expect("method", method === "grid" || method === "random");
  if (count !== undefined) expect("count", Number.isInteger(count) && (count as number) > 0);
  expect("randomSeed", Number.isInteger(randomSeed));
  expect("preset", typeof preset === "string" && (PRESET_NAMES as readonly string[]).includes(preset));
  expect("backend", typeof backend === "string" && BACKEND_PREFERENCES.includes(backend as BackendPreference));
  if (out !== undefined) expect("out", typeof out === "string" && out.length > 0);
  if (method === "random" && count === undefined)
    throw new SelectivError(`${at("count")}: random search needs count (configurations to draw)`);
  if (method === "grid" && count !== undefined) throw new SelectivError(`${at("count")}: only random search takes count`);

  const taskRegistry = container.resolve<TaskRegistry>(Tokens.TaskRegistry);
  const modelRegistry = container.resolve<ModelRegistry>(Tokens.ModelRegistry);
  const tasks = data.tasks === undefined ? ["task1"] : stringList(data.tasks, at("tasks"));
  const models = data.models === undefined ? ["gla"] : stringList(data.models, at("models"));
  for (const id of tasks)
    if (!taskRegistry.has(id))
      throw new SelectivError(`${at("tasks")}: unknown task ${JSON.stringify(id)}; available: ${taskRegistry.ids().join(", ")}`);
  for (const id of models)
    if (!modelRegistry.has(id))
      throw new SelectivError(`${at("models")}: unknown model ${JSON.stringify(id)}; available: ${modelRegistry.ids().join(", ")}`);
  const seeds = data.seeds ?? [1];
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0 && s <= 2 ** 31)) {
    throw new SelectivError(`${at("seeds")}: got ${JSON.stringify(seeds)}; expected a non-empty list of integers in [0, 2147483648]`);
  }

  const parameters = data.parameters ?? {};
  if (!isMapping(parameters))
    throw new SelectivError(`${at("parameters")}: got ${JSON.stringify(parameters)}; expected ${SWEEP_KEYS.parameters}`);
  const distributions: DistributionMakers = {
    uniform: (min, max) => distributionDomain("uniform", min, max, at("parameters")),
    int_uniform: (min, max) => distributionDomain("int_uniform", min, max, at("parameters")),
    log_uniform: (min, max) => distributionDomain("log_uniform", min, max, at("parameters")),
  };
  const dimensions: SweepDimension[] = [
    { key: "task", domain: { kind: "values", values: tasks }, crossed: true },
    { key: "model", domain: { kind: "values", values: models }, crossed: true },
  ];
  const parameterKeys: string[] = [];
  for (const [key, spec] of Object.entries(parameters)) {
    const where = `${file}: parameters.${JSON.stringify(key)}`;
    const domain = parseDomain(spec, where, distributions);
    if (method === "grid" && domain.kind !== "values")
      throw new SelectivError(`${where}: a grid needs a list of values (min/max is for random search)`);
    for (const v of representativeValues(domain)) {
      try {
        parseAssignments(container, [`${key}=${valueText(v)}`], { tasks, models });
      } catch (e) {
        assignmentError(e, where);
      }
    }
    dimensions.push({ key, domain, crossed: false });
    parameterKeys.push(key);
  }
  dimensions.push({ key: "seed", domain: { kind: "values", values: seeds as number[] }, crossed: true });

  const sweepName = (name as string | undefined) ?? baseName;
  return {
    file,
    format: "selectiv",
    name: sweepName,
    method: method as "grid" | "random",
    count: count as number | undefined,
    randomSeed: randomSeed as number,
    preset: preset as PresetName,
    backend: backend as BackendPreference,
    out: out as string | undefined,
    dimensions,
    ignored: [],
    runOf: (point) => ({
      task: String(point.task),
      model: String(point.model),
      seed: Number(point.seed),
      assignments: parameterKeys.map((key) => ({ text: `${key}=${valueText(point[key]!)}`, source: `parameters.${JSON.stringify(key)}` })),
    }),
  };
}
