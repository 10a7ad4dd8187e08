import { type ConfigValue, type ModelDefinition, type ModelRegistry, SelectivError, Tokens } from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import {
  type DistributionMakers,
  type SweepDimension,
  distributionDomain,
  isMapping,
  isScalar,
  parseDomain,
  valueText,
} from "./parameters.js";
import type { Assignment, SweepSource } from "./source.js";

/**
 * Importing the reference's W&B sweep files (symseqbench/selectivbench `wb_configs/*.yaml`): a W&B sweep runs
 * `python train.py <command args> ${args}`, so a run's settings are train.py's argument defaults, overridden by
 * the fixed arguments of `command`, overridden by the run's parameter values. This module knows every train.py
 * argument and maps each onto selectiv's settings, accepts it only at a value selectiv reproduces, or ignores
 * it because it does not change results. Anything else is a one-line error naming it.
 */

type RefType = "int" | "float" | "bool" | "str";
type RefValue = ConfigValue | null;

/** How selectiv treats one train.py argument. */
export type RefUse = { kind: "mapped"; to: string } | { kind: "fixed"; value: RefValue; why: string } | { kind: "ignored"; why: string };

interface RefArg {
  type: RefType;
  default: RefValue;
  /** argparse `store_true`: a bare `--flag` in `command` sets it. */
  flag?: boolean;
  use: RefUse;
}

const mapped = (to: string): RefUse => ({ kind: "mapped", to });
const fixed = (value: RefValue, why: string): RefUse => ({ kind: "fixed", value, why });
const ignored = (why: string): RefUse => ({ kind: "ignored", why });

/** Every argument of the reference's train.py (HEAD 54609fb), with its default. */
export const REFERENCE_ARGS: Record<string, RefArg> = {
  model: { type: "str", default: "mamba", use: mapped("the model (its definition's referenceNames, or its id)") },
  seed: { type: "int", default: 42, use: mapped("the run seed") },
  layers: { type: "int", default: 4, use: mapped("train.layers") },
  feat_size: { type: "int", default: 256, use: mapped("train.width") },
  batch_size: { type: "int", default: 64, use: mapped("train.batchSize") },
  lr: { type: "float", default: 0.001, use: mapped("train.lr") },
  dropout: { type: "float", default: 0.2, use: mapped("train.dropout") },
  warmup_steps: { type: "int", default: null, use: mapped("train.warmupSteps (unset: 5% of the training steps, as train.py)") },
  test_bs: { type: "int", default: 50, use: mapped("train.evalBatchSize") },
  dataset_size: { type: "int", default: 200000, use: mapped("task.trainSize") },
  test_size: { type: "int", default: 1000, use: mapped("task.testSize") },
  amb: { type: "int", default: 7, use: mapped("task.ambiguities") },
  amb_depth: { type: "int", default: 16, use: mapped("task.ambiguityDepth (= amb under grammar_scale)") },
  vocab: { type: "int", default: 16, use: mapped("task.alphabetSize (= amb + 1 under grammar_scale)") },
  grammar_scale: { type: "bool", default: false, use: mapped("alphabetSize = amb + 1 and ambiguityDepth = amb, as train.py") },
  train_seqlen_max: { type: "int", default: 30, use: mapped("task.seqLenMax and task.combinedLength") },
  test_seqlen_max: { type: "int", default: 30, use: fixed("train_seqlen_max", "selectiv uses one string length for both splits") },
  train_seqlen_min: { type: "int", default: 1, use: fixed(1, "the reference's minimum string length is not ported") },
  test_seqlen_min: { type: "int", default: 1, use: fixed(1, "the reference's minimum string length is not ported") },
  train_gap_min: { type: "float", default: 20, use: mapped("task.gapMin") },
  train_gap_max: { type: "float", default: 300, use: mapped("task.gapMax") },
  test_dur: {
    type: "float",
    default: null,
    use: mapped("task.testGap (unset: train_gap_max, as train.py); with test_pretrained task4.testGaps"),
  },
  train_noise: { type: "float", default: 0, use: mapped("task.noise") },
  gap_start: { type: "int", default: 0, use: mapped("task.gapStart") },
  gap_prob: { type: "float", default: 1, use: mapped("task.gapProb") },
  grammar_gap: { type: "bool", default: false, use: mapped("task.distractors") },
  d_state: { type: "int", default: 64, use: mapped("<model>.dState of the models train.py gives it to (their referenceArguments)") },
  dt_rank: { type: "int", default: 0, use: mapped("mamba.dtRank (mamba's referenceArguments)") },
  rope_base: { type: "int", default: 1000, use: mapped("transformer.ropeBase (transformer's referenceArguments)") },
  classify: { type: "bool", default: false, flag: true, use: mapped("task.mode: classification, or prediction without --classify") },
  base_set: { type: "str", default: "gsc", use: fixed("one_hot", "selectiv's tasks take one-hot symbols") },
  dist_dur: { type: "str", default: "uniform", use: fixed("uniform", "gaps are drawn uniformly") },
  optimizer: { type: "str", default: "adam", use: fixed("adam", "selectiv trains with Adam") },
  scheduler: {
    type: "str",
    default: "cosine_schedule_with_warmup",
    use: fixed("cosine_schedule_with_warmup", "selectiv's schedule is warm-up then cosine"),
  },
  wd: { type: "float", default: 0, use: fixed(0, "selectiv's Adam has no weight decay") },
  same_seed: { type: "bool", default: true, use: fixed(true, "the grammar seed is the run seed") },
  early_stop: { type: "bool", default: false, flag: true, use: fixed(false, "every run trains to the end") },
  test_pretrained: {
    type: "bool",
    default: false,
    flag: true,
    use: mapped("task4: the model trained as task2 with these settings, tested at test_dur (task4.testGaps)"),
  },
  only_createset: { type: "bool", default: false, flag: true, use: fixed(false, "selectiv generates data on the fly") },
  load_model: { type: "str", default: null, use: fixed(null, "loading PyTorch models is not ported") },
  slide_window: { type: "int", default: 0, use: fixed(0, "sliding-window attention is not ported") },
  pos_encoding: { type: "bool", default: false, use: fixed(false, "absolute positional encoding is not ported") },
  att_dropout: { type: "bool", default: false, use: fixed(false, "attention dropout is not ported") },
  dt_relu: { type: "str", default: "soft", use: fixed("soft", "Mamba's dt uses softplus") },
  taylor_order: { type: "int", default: null, use: fixed(null, "the Taylor-series Mamba variant is not ported") },
  act_function: { type: "str", default: "none", use: fixed("none", "the neuromorphic activation variant is not ported") },
  test_noise: { type: "float", default: 0, use: ignored("train.py never reads it: the test set copies the training noise") },
  n_head: { type: "int", default: 4, use: ignored("train.py recomputes heads from feat_size (selectiv's train.heads = 0 rule)") },
  grad_acc: { type: "int", default: 0, use: ignored("a GPU-memory workaround that train.py overrides; selectiv trains whole batches") },
  continued_training: {
    type: "bool",
    default: false,
    flag: true,
    use: ignored("selectiv always continues unfinished runs from their checkpoint"),
  },
  read_from_file: { type: "bool", default: true, use: ignored("data are the same whether cached or generated") },
  hash_save: { type: "bool", default: false, flag: true, use: ignored("file naming; selectiv names runs by a hash of their settings") },
  save_model: { type: "bool", default: true, use: ignored("selectiv always keeps the final checkpoint") },
  save_plots: { type: "bool", default: false, flag: true, use: ignored("plotting") },
  visualize_layers: { type: "bool", default: false, flag: true, use: ignored("plotting") },
  debug: { type: "bool", default: false, flag: true, use: ignored("W&B logging switch") },
  run_main: { type: "bool", default: false, flag: true, use: ignored("W&B agent switch") },
  sweep_id: { type: "str", default: null, use: ignored("W&B sweep id") },
  sweep_name: { type: "str", default: "Sweep", use: ignored("W&B sweep name") },
  only_createsweep: { type: "bool", default: false, flag: true, use: ignored("W&B agent switch") },
  gpu_device: { type: "int", default: null, use: ignored("device choice (selectiv: --backend)") },
  pt_epochs: { type: "int", default: 50, use: ignored("train.py never reads it") },
  patience: { type: "int", default: null, use: ignored("used only with early_stop") },
  task_seed: { type: "int", default: 42, use: ignored("used only with same_seed false") },
  gap_kldiv: { type: "bool", default: true, use: mapped("task.klSteps: windows, or all when false (prediction mode only)") },
};

/**
 * train.py model names → the registered models that port them, read off each definition's referenceNames; a
 * definition's referenceArguments are checked here (train.py arguments REFERENCE_ARGS maps, keys of its schema).
 */
export function referenceModels(models: ModelRegistry): Map<string, ModelDefinition> {
  const byName = new Map<string, ModelDefinition>();
  for (const definition of models.list()) {
    for (const name of definition.referenceNames ?? []) {
      const other = byName.get(name);
      if (other) {
        throw new SelectivError(`models ${other.id} and ${definition.id} both claim the reference's model name ${JSON.stringify(name)}`);
      }
      byName.set(name, definition);
    }
    for (const [arg, key] of Object.entries(definition.referenceArguments ?? {})) {
      if (REFERENCE_ARGS[arg]?.use.kind !== "mapped") {
        throw new SelectivError(`model ${definition.id}: referenceArguments names ${JSON.stringify(arg)}, not a mapped train.py argument`);
      }
      if (!(key in definition.schema)) {
        throw new SelectivError(`model ${definition.id}: referenceArguments.${arg} names ${JSON.stringify(key)}, not a key of its config`);
      }
    }
    for (const key of Object.keys(definition.referenceSettings ?? {})) {
      if (!(key in definition.schema)) {
        throw new SelectivError(`model ${definition.id}: referenceSettings names ${JSON.stringify(key)}, not a key of its config`);
      }
    }
  }
  return byName;
}

/** The W&B sweep-file keys; values: how each is used. */
export const WANDB_KEYS: Record<string, string> = {
  program: "ignored (selectiv is the program)",
  method: "grid or random (bayes needs a W&B server)",
  parameters: "train.py arguments and their values",
  command: "fixed train.py arguments before/after ${args}",
  run_cap: "random search: runs to draw",
  name: "the sweep's name",
  project: "ignored (W&B project)",
  entity: "ignored (W&B entity)",
  description: "ignored",
  metric: "ignored (every run records its test accuracy and loss)",
};

/** Does this parsed YAML look like a W&B sweep file rather than a selectiv one? */
export function isWandbSweep(data: Record<string, unknown>): boolean {
  return "program" in data || "command" in data || "metric" in data || "project" in data || "run_cap" in data;
}

function str2bool(v: ConfigValue): boolean | undefined {
  if (typeof v === "boolean") return v;
  const s = String(v).toLowerCase();
  if (["yes", "true", "t", "y", "1"].includes(s)) return true;
  if (["no", "false", "f", "n", "0"].includes(s)) return false;
  return undefined;
}

/** A value as train.py's argparse would read it (str2bool for booleans), or an error naming the argument. */
function coerce(name: string, arg: RefArg, value: ConfigValue, where: string): ConfigValue {
  const bad = (): never => {
    throw new SelectivError(
      `${where}: ${name} got ${JSON.stringify(value)}; train.py expects ${arg.type === "bool" ? "a boolean" : `a ${arg.type}`}`,
    );
  };
  switch (arg.type) {
    case "bool":
      return str2bool(value) ?? bad();
    case "int": {
      const n = typeof value === "number" ? value : Number(value);
      return Number.isInteger(n) ? n : bad();
    }
    case "float": {
      const n = typeof value === "number" ? value : Number(value);
      return Number.isFinite(n) && value !== "" ? n : bad();
    }
    case "str":
      return String(value);
  }
}

function unknownArgument(name: string, where: string): never {
  throw new SelectivError(
    `${where}: train.py argument ${JSON.stringify(name)} has no selectiv equivalent (see docs/SWEEPS.md for the mapped ones)`,
  );
}

/** The fixed arguments of a W&B `command` list: `--name value`, `--name=value` or a bare store_true `--name`. */
function commandArguments(command: unknown, file: string): Record<string, ConfigValue> {
  const where = `${file}: command`;
  if (!Array.isArray(command)) throw new SelectivError(`${where}: expected a list`);
  const tokens = command.map((t) => (isScalar(t) ? t : undefined));
  const badToken = command.find((t) => !isScalar(t));
  if (badToken !== undefined) throw new SelectivError(`${where}: got ${JSON.stringify(badToken)}; expected strings and numbers`);
  const args: Record<string, ConfigValue> = {};
  const programAt = tokens.findIndex((t) => t === "${program}");
  if (programAt < 0) throw new SelectivError(`${where}: no \${program} entry`);
  let sawArgs = false;
  for (let i = programAt + 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "${args}") {
      sawArgs = true;
      continue;
    }
    if (typeof t === "string" && /^\$\{.*\}$/.test(t))
      throw new SelectivError(`${where}: macro ${t} is not supported (only \${env}, \${interpreter}, \${program}, \${args})`);
    if (typeof t !== "string" || !t.startsWith("--"))
      throw new SelectivError(`${where}: got ${JSON.stringify(t)} where an --argument was expected`);
    const eq = t.indexOf("=");
    const name = (eq > 0 ? t.slice(2, eq) : t.slice(2)).replace(/-/g, "_");
    const arg = Object.hasOwn(REFERENCE_ARGS, name) ? REFERENCE_ARGS[name]! : unknownArgument(name, where);
    if (eq > 0) {
      args[name] = t.slice(eq + 1);
      continue;
    }
    const values: ConfigValue[] = [];
    while (
      i + 1 < tokens.length &&
      !(typeof tokens[i + 1] === "string" && (tokens[i + 1] as string).startsWith("--")) &&
      tokens[i + 1] !== "${args}"
    ) {
      values.push(tokens[++i]!);
    }
    if (values.length === 0) {
      if (!arg.flag) throw new SelectivError(`${where}: --${name} needs a value`);
      args[name] = true;
    } else if (values.length > 1) {
      throw new SelectivError(`${where}: --${name} got ${values.length} values; a sweep run takes one`);
    } else args[name] = values[0]!;
  }
  if (!sawArgs) throw new SelectivError(`${where}: no \${args} entry (W&B passes the parameters there)`);
  return args;
}

/** W&B's distributions; `log_uniform` takes natural-log bounds (W&B's meaning), `log_uniform_values` plain bounds. */
function wandbDistributions(where: string): DistributionMakers {
  return {
    uniform: (min, max) => distributionDomain("uniform", min, max, where),
    int_uniform: (min, max) => distributionDomain("int_uniform", min, max, where),
    log_uniform_values: (min, max) => distributionDomain("log_uniform", min, max, where),
    log_uniform: (min, max) => distributionDomain("log_uniform", Math.exp(min), Math.exp(max), where),
  };
}

/**
 * Reads a W&B sweep file (already parsed). Every parameter and command argument is checked by name here; values
 * are checked when runs are planned (each assignment names the argument it came from).
 */
export function readWandbSweep(container: DependencyContainer, data: Record<string, unknown>, file: string, baseName: string): SweepSource {
  for (const key of Object.keys(data)) {
    if (key === "early_terminate") throw new SelectivError(`${file}: early_terminate is not supported (every run trains to the end)`);
    if (!Object.hasOwn(WANDB_KEYS, key))
      throw new SelectivError(`${file}: unknown W&B sweep key ${JSON.stringify(key)}; allowed: ${Object.keys(WANDB_KEYS).join(", ")}`);
  }
  const method = data.method ?? "grid";
  if (method !== "grid" && method !== "random") {
    throw new SelectivError(
      `${file}: method: got ${JSON.stringify(method)}; selectiv runs grid and random sweeps (bayes needs a W&B server)`,
    );
  }
  const runCap = data.run_cap;
  if (runCap !== undefined && !(Number.isInteger(runCap) && (runCap as number) > 0)) {
    throw new SelectivError(`${file}: run_cap: got ${JSON.stringify(runCap)}; expected a positive integer`);
  }
  const name = typeof data.name === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(data.name) ? data.name : baseName;
  const fixedArgs = data.command === undefined ? {} : commandArguments(data.command, file);
  if (!isMapping(data.parameters)) throw new SelectivError(`${file}: parameters: expected a mapping of train.py arguments`);

  const dimensions: SweepDimension[] = [];
  for (const [param, spec] of Object.entries(data.parameters)) {
    const where = `${file}: parameters.${param}`;
    if (!Object.hasOwn(REFERENCE_ARGS, param)) unknownArgument(param, `${file}: parameters`);
    if (isMapping(spec) && "parameters" in spec) throw new SelectivError(`${where}: nested parameters are not supported`);
    dimensions.push({ key: param, domain: parseDomain(spec, where, wandbDistributions(where)), crossed: false });
  }
  const models = container.resolve<ModelRegistry>(Tokens.ModelRegistry);
  const byReferenceName = referenceModels(models);
  const ignoredNames = [...new Set([...Object.keys(fixedArgs), ...Object.keys(data.parameters)])].filter(
    (n) => REFERENCE_ARGS[n]!.use.kind === "ignored",
  );

  return {
    file,
    format: "wandb",
    name,
    method,
    count: runCap as number | undefined,
    randomSeed: 1,
    preset: "paper",
    backend: "auto",
    dimensions,
    ignored: [
      ...["program", "project", "entity", "metric", "description"]
        .filter((k) => k in data)
        .map((k) => ({ name: k, reason: WANDB_KEYS[k]! })),
      ...ignoredNames.map((n) => ({ name: n, reason: (REFERENCE_ARGS[n]!.use as { why: string }).why })),
    ],
    runOf: (point) =>
      translateRun({ ...fixedArgs, ...point }, Object.keys(point), file, {
        mapped: [...byReferenceName.keys()],
        modelOf: (name) => byReferenceName.get(name) ?? (models.has(name) ? models.get(name) : undefined),
      }),
  };
}

/** One W&B run (train.py's arguments) as a selectiv run: task1 (task4 under --test_pretrained) with the mapped settings. */
function translateRun(
  given: Record<string, ConfigValue>,
  swept: string[],
  file: string,
  models: { mapped: readonly string[]; modelOf: (name: string) => ModelDefinition | undefined },
): { task: string; model: string; seed: number; assignments: Assignment[] } {
  const sourceOf = (name: string) => `${file}: ${swept.includes(name) ? "parameters." : "command --"}${name}`;
  const cfg: Record<string, RefValue> = {};
  for (const [name, arg] of Object.entries(REFERENCE_ARGS))
    cfg[name] = name in given ? coerce(name, arg, given[name]!, sourceOf(name)) : arg.default;
  for (const [name, arg] of Object.entries(REFERENCE_ARGS)) {
    if (arg.use.kind !== "fixed") continue;
    const expected = arg.use.value === "train_seqlen_max" ? cfg.train_seqlen_max : arg.use.value;
    if (cfg[name] !== expected) {
      throw new SelectivError(
        `${sourceOf(name)}: got ${JSON.stringify(cfg[name])}; selectiv reproduces only ${JSON.stringify(expected)} (${arg.use.why})`,
      );
    }
  }
  const refModel = String(cfg.model);
  const definition = models.modelOf(refModel);
  if (!definition) {
    throw new SelectivError(`${sourceOf("model")}: ${JSON.stringify(refModel)} has no selectiv port; mapped: ${models.mapped.join(", ")}`);
  }
  const model = definition.id;
  const assignments: Assignment[] = [];
  const set = (key: string, value: RefValue, from: string) => {
    if (value !== null) assignments.push({ text: `${key}=${valueText(value)}`, source: sourceOf(from) });
  };
  set("train.layers", cfg.layers, "layers");
  set("train.width", cfg.feat_size, "feat_size");
  set("train.batchSize", cfg.batch_size, "batch_size");
  set("train.lr", cfg.lr, "lr");
  set("train.dropout", cfg.dropout, "dropout");
  set("train.evalBatchSize", cfg.test_bs, "test_bs");
  // train.py: warm-up = 5% of dataset_size // batch_size when --warmup_steps is unset.
  set(
    "train.warmupSteps",
    cfg.warmup_steps ?? Math.round(0.05 * Math.floor(Number(cfg.dataset_size) / Number(cfg.batch_size))),
    "warmup_steps",
  );
  set("task.trainSize", cfg.dataset_size, "dataset_size");
  set("task.testSize", cfg.test_size, "test_size");
  set("task.ambiguities", cfg.amb, "amb");
  // train.py: grammar_scale sets vocab = amb + 1 and amb_depth = amb.
  set("task.ambiguityDepth", cfg.grammar_scale ? cfg.amb : cfg.amb_depth, cfg.grammar_scale ? "grammar_scale" : "amb_depth");
  set("task.alphabetSize", cfg.grammar_scale ? Number(cfg.amb) + 1 : cfg.vocab, cfg.grammar_scale ? "grammar_scale" : "vocab");
  set("task.seqLenMax", cfg.train_seqlen_max, "train_seqlen_max");
  set("task.combinedLength", cfg.train_seqlen_max, "train_seqlen_max");
  set("task.gapMin", cfg.train_gap_min, "train_gap_min");
  set("task.gapMax", cfg.train_gap_max, "train_gap_max");
  // train.py: the test gap is --test_dur, else fixed at train_gap_max. With --test_pretrained it loads the model
  // the same settings trained (tested at train_gap_max during training) and tests it at test_dur: Task 4, which
  // trains that model once (as task2) for all the test_dur points of a setting.
  const testDur = cfg.test_dur === null ? "train_gap_max" : "test_dur";
  if (cfg.test_pretrained) {
    set("task.testGap", cfg.train_gap_max, "train_gap_max");
    set("task4.testGaps", cfg.test_dur ?? cfg.train_gap_max, testDur);
  } else set("task.testGap", cfg.test_dur ?? cfg.train_gap_max, testDur);
  set("task.noise", cfg.train_noise, "train_noise");
  set("task.gapStart", cfg.gap_start, "gap_start");
  set("task.gapProb", cfg.gap_prob, "gap_prob");
  set("task.distractors", cfg.grammar_gap, "grammar_gap");
  // train.py trains next-symbol prediction unless --classify; gap_kldiv picks the steps its loss and KL count.
  set("task.mode", cfg.classify ? "classification" : "prediction", "classify");
  set("task.klSteps", cfg.gap_kldiv ? "windows" : "all", "gap_kldiv");
  // The arguments train.py gives this model only (d_state, dt_rank, rope_base), as its definition maps them.
  for (const [arg, key] of Object.entries(definition.referenceArguments ?? {})) set(`${model}.${key}`, cfg[arg]!, arg);
  // What train.py does to this model beyond its arguments (the Transformer's widths 648 and 1296).
  for (const [key, value] of Object.entries(definition.referenceSettings ?? {})) set(`${model}.${key}`, value, "model");
  return { task: cfg.test_pretrained ? "task4" : "task1", model, seed: Number(cfg.seed), assignments };
}
