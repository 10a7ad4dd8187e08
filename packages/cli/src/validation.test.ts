// Property test: every config path (config files, --set, overrides, presets, plugin definitions) goes through
// one schema layer, and every malformed input gives one line — a SelectivError without a stack — never a crash.
import "reflect-metadata";
import {
  Rng,
  createSelectivContainer,
  emptyOverrides,
  isSelectivError,
  parseAssignments,
  planBenchmark,
  registerDefinition,
  taskPreset,
  type PresetName,
  type TaskDefinition,
} from "@selectiv/core";
import { registerModels } from "@selectiv/models";
import { registerTasks } from "@selectiv/tasks";
import { container as root } from "tsyringe";
import { describe, expect, it } from "vitest";
import { oneLineErrorOf } from "@selectiv/core/testkit";
import { parseBenchConfig } from "./config-file.js";

const container = createSelectivContainer(root);
registerTasks(container);
registerModels(container);

const rng = new Rng(20261123);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** Values wrong for every numeric field: wrong types, non-finite, far below range, empty, nested. */
function badValue(): unknown {
  return pick<() => unknown>([
    () => -1e9 - rng.int(1000),
    () => NaN,
    () => Infinity,
    () => -Infinity,
    () => "",
    () => "abc" + rng.int(99),
    () => null,
    () => [-1 - rng.int(5), "x"],
    () => ({ nested: rng.int(5) }),
    () => (rng.next() < 0.5 ? true : false),
    () => "1e400",
  ])();
}

const TRAIN_KEYS = [
  "width",
  "layers",
  "heads",
  "batchSize",
  "epochs",
  "lr",
  "warmupSteps",
  "clipNorm",
  "dropout",
  "evalEvery",
  "evalBatchSize",
];
const TASK_KEYS = [
  "alphabetSize",
  "ambiguities",
  "ambiguityDepth",
  "initialStates",
  "transitionDensity",
  "trainSize",
  "testSize",
  "gapMin",
  "noise",
];
const MODEL_KEYS = ["chunkSize", "gateLogitNormalizer", "convSize"];
// "out" is left out: any string is a valid folder name.
const TOP_KEYS = ["preset", "tasks", "models", "seeds", "backend", "train", "task", "model", "overrides"];

function randomKey(): string {
  const base = pick([
    "widht",
    "lr ",
    "Width",
    "__proto__x",
    "__proto__",
    "toString",
    "constructor",
    "task.",
    "",
    "x".repeat(1 + rng.int(20)),
    "layers2",
    "ambiguity",
  ]);
  return base + (rng.next() < 0.3 ? String(rng.int(9)) : "");
}

/** One malformed input, as a function that must throw a one-line SelectivError. */
function malformedCase(i: number): { label: string; run: () => unknown } {
  const kind = i % 6;
  if (kind === 0) {
    const section = pick(["train", "task", "model"]);
    const key = pick(section === "train" ? TRAIN_KEYS : section === "task" ? TASK_KEYS : MODEL_KEYS);
    const value = JSON.stringify(badValue());
    const text = `${section}.${key}=${value === undefined ? "" : value.replace(/^"|"$/g, "")}`;
    return { label: `--set ${text}`, run: () => parseAssignments(container, [text], { tasks: ["task1"], models: ["gla"] }) };
  }
  if (kind === 1) {
    const text = pick([randomKey(), `${randomKey()}=${rng.int(9)}`, `train.${randomKey()}=1`, `nosuch.width=3`, `=`, `.=`, `train.=4`]);
    return { label: `--set ${text}`, run: () => parseAssignments(container, [text], { tasks: ["task1"], models: ["gla"] }) };
  }
  if (kind === 2) {
    const overrides = emptyOverrides();
    const section = pick(["train", "task", "model"] as const);
    const key = rng.next() < 0.3 ? randomKey() : pick(section === "train" ? TRAIN_KEYS : section === "task" ? TASK_KEYS : MODEL_KEYS);
    overrides[section][key] = badValue();
    return {
      label: `overrides.${section}.${key}=${JSON.stringify(overrides[section][key])}`,
      run: () =>
        planBenchmark(container, {
          tasks: ["task1"],
          models: ["gla"],
          seeds: [1],
          preset: "smoke",
          overrides,
          backend: "cpu",
          outDir: "/tmp",
        }),
    };
  }
  if (kind === 3) {
    const request = {
      tasks: ["task1"],
      models: ["gla"],
      seeds: [1] as number[],
      preset: "smoke" as string,
      overrides: emptyOverrides(),
      backend: "cpu" as const,
      outDir: "/tmp",
    };
    const which = rng.int(4);
    if (which === 0) request.tasks = [randomKey() || "none"];
    else if (which === 1) request.models = [pick(["GLA", "mamba3", "gla ", "transformer2", ""])];
    else if (which === 2) request.seeds = [pick([-1, 1.5, NaN, 2 ** 40])];
    else request.preset = pick(["Quick", "fast", "", "paper2"]);
    return {
      label: `request ${JSON.stringify(request).slice(0, 80)}`,
      run: () => planBenchmark(container, request as Parameters<typeof planBenchmark>[1]),
    };
  }
  if (kind === 4) {
    const json = rng.next() < 0.5;
    const top = rng.next() < 0.5 ? pick(TOP_KEYS) : randomKey() || "k";
    const doc: Record<string, unknown> = { [top]: badValue() };
    let text = json ? JSON.stringify(doc) : `${top}: ${JSON.stringify(doc[top])}`;
    if (rng.next() < 0.25) text = text.slice(0, Math.max(1, rng.int(text.length))) + pick(["{", "[", ":", '"', "\t-"]);
    if (rng.next() < 0.1) text = pick(["[1, 2]", '"text"', "42", "- a\n- b"]);
    return {
      label: `config file ${text.slice(0, 60)}`,
      run: () => {
        const parsed = parseBenchConfig(text, json ? "bad.json" : "bad.yaml");
        // A file that parses is then checked through the same schema layer as flags.
        const overrides = emptyOverrides();
        Object.assign(overrides.train, parsed.train);
        Object.assign(overrides.task, parsed.task);
        Object.assign(overrides.model, parsed.model);
        return planBenchmark(container, {
          tasks: parsed.tasks ?? ["task1"],
          models: parsed.models ?? ["gla"],
          seeds: parsed.seeds ?? [1],
          preset: (parsed.preset ?? "smoke") as "smoke",
          overrides,
          backend: (parsed.backend ?? "cpu") as "cpu",
          outDir: "/tmp",
        });
      },
    };
  }
  // A plugin definition with a malformed id, schema, defaults or preset.
  const schemaKey = pick(["rate", "size"]);
  const definition: Record<string, unknown> = {
    id: `plugin-model-${i}`,
    description: "test",
    schema: { [schemaKey]: { type: "int", min: 0, max: 10, description: "x" } },
    defaults: { [schemaKey]: 1 },
    taxonomy: { transition: "scalar", stateSize: () => 1 },
    createLayer: () => ({}),
    parametersPerLayer: () => 1,
  };
  const flaw = rng.int(6);
  if (flaw === 0) definition.id = pick(["Bad Id", "", "1abc", "a/b", 42]);
  else if (flaw === 1) definition.defaults = { [schemaKey]: badValue() };
  else if (flaw === 2) definition.presets = { quick: { [randomKey() || "zz"]: 1 } };
  else if (flaw === 3) definition.schema = { [schemaKey]: { type: pick(["float", "", "integer"]) } };
  else if (flaw === 4) definition.createLayer = undefined;
  else definition.id = "gla";
  return {
    label: `plugin definition flaw ${flaw}`,
    run: () => registerDefinition(container, "model", definition as { id: string; description: string }, "plugin test"),
  };
}

describe("malformed configs (property test)", () => {
  it("1,200 generated malformed inputs each give a one-line SelectivError", () => {
    let checked = 0;
    for (let i = 0; i < 1200; i++) {
      const c = malformedCase(i);
      let error: unknown;
      try {
        c.run();
      } catch (e) {
        error = e;
      }
      expect(error, `no error for ${c.label}`).toBeDefined();
      expect(isSelectivError(error), `${c.label}: ${String(error)}`).toBe(true);
      const message = (error as Error).message;
      expect(message.includes("\n"), `${c.label}: multi-line message ${JSON.stringify(message)}`).toBe(false);
      expect(message.length).toBeGreaterThan(10);
      expect(message).not.toMatch(/\bat .*:\d+:\d+/);
      checked++;
    }
    expect(checked).toBe(1200);
  });
});

describe("keys that name Object.prototype's members", () => {
  const prototypeNames = Object.getOwnPropertyNames(Object.prototype);
  const selected = { tasks: ["task1"], models: ["gla"] };
  const plan = (overrides: ReturnType<typeof emptyOverrides>) =>
    planBenchmark(container, { tasks: ["task1"], models: ["gla"], seeds: [1], preset: "smoke", overrides, backend: "cpu", outDir: "/tmp" });

  /** The one-line SelectivError `run` throws. */
  function refusal(run: () => unknown): string {
    try {
      run();
    } catch (e) {
      expect(isSelectivError(e), String(e)).toBe(true);
      expect((e as Error).message).not.toContain("\n");
      return (e as Error).message;
    }
    throw new Error("accepted");
  }

  it("--set train.__proto__=1, train.toString=1 and every other Object.prototype name are unknown keys, in every section", () => {
    expect(refusal(() => parseAssignments(container, ["train.__proto__=1"], selected))).toMatch(
      /^--set train: unknown key "__proto__"; allowed: width, layers, /,
    );
    expect(refusal(() => parseAssignments(container, ["train.toString=1"], selected))).toMatch(
      /^--set train: unknown key "toString"; allowed: width, layers, /,
    );
    for (const name of prototypeNames) {
      for (const section of ["train", "task", "model", "task1", "gla"]) {
        expect(refusal(() => parseAssignments(container, [`${section}.${name}=1`], selected))).toContain(
          `unknown key ${JSON.stringify(name)}`,
        );
      }
    }
  });

  it("config files: such keys at the top, in a section or as an id are refused, not dropped", () => {
    expect(refusal(() => parseBenchConfig('{"toString": {}}', "c.json"))).toMatch(
      /^--config c.json: unknown key "toString"; allowed: preset, /,
    );
    expect(refusal(() => parseBenchConfig("__proto__: {}\n", "c.yaml"))).toMatch(/unknown key "__proto__"/);
    for (const text of ['{"train": {"__proto__": {"width": 8}}}', '{"train": {"constructor": 8}}', '{"model": {"valueOf": 1}}']) {
      const file = parseBenchConfig(text, "c.json");
      const overrides = emptyOverrides();
      Object.assign(overrides.train, file.train);
      Object.assign(overrides.model, file.model);
      expect(
        refusal(() => plan(overrides)),
        text,
      ).toMatch(/unknown key "(__proto__|constructor|valueOf)"; allowed: /);
    }
    const overrides = emptyOverrides();
    overrides.models["__proto__"] = { width: 8 };
    expect(refusal(() => plan(overrides))).toMatch(/^unknown model "__proto__"; available: /);
  });
});

/** Plans one task × model at a preset with `--set` assignments. */
function planOne(task: string, model: string, preset: PresetName, set: string[] = []) {
  const selected = { tasks: [task], models: [model] };
  const overrides = parseAssignments(container, set, selected);
  const [run] = planBenchmark(container, { tasks: [task], models: [model], seeds: [1], preset, overrides, backend: "cpu", outDir: "/tmp" });
  return run!;
}

const planError = (f: () => unknown): string => oneLineErrorOf(f).message;

describe("reference-faithful options in planning", () => {
  it("task presets set model config: Task 3's paper preset plans Mamba and Mamba2 with dState 64 (docs/spec/TASKS.md §5)", () => {
    for (const model of ["mamba", "mamba2"]) {
      expect(planOne("task3", model, "paper").modelConfig.dState).toBe(64);
      expect(planOne("task1", model, "paper").modelConfig.dState).toBe(128);
      expect(planOne("task2", model, "paper").modelConfig.dState).toBe(128);
      // The model's own smaller presets stay as they were; explicit settings still win.
      expect(planOne("task3", model, "quick").modelConfig.dState).toBe(16);
      expect(planOne("task3", model, "paper", [`${model}.dState=16`]).modelConfig.dState).toBe(16);
      expect(planOne("task3", model, "paper", ["model.dState=32"]).modelConfig.dState).toBe(32);
    }
    // A model without the key is untouched.
    expect(planOne("task3", "gla", "paper").modelConfig).toEqual(planOne("task1", "gla", "paper").modelConfig);
  });

  it("medium: every suite task plans it (width 128, 4 layers, the amb = depth = 16 grammar); a task without it is one line", () => {
    for (const task of ["task1", "task2", "task3", "task4"]) {
      const run = planOne(task, "mamba2", "medium");
      expect([run.training.width, run.training.layers, run.modelConfig.dState]).toEqual([128, 4, 32]);
      expect([run.taskConfig.alphabetSize, run.taskConfig.ambiguities, run.taskConfig.trainSize]).toEqual([17, 16, 9_600]);
    }
    const withoutMedium = { id: "plugin-task", presets: { smoke: {}, quick: {}, paper: {} } } as unknown as TaskDefinition;
    expect(planError(() => taskPreset(withoutMedium, "medium"))).toBe(
      '--preset: got "medium"; task plugin-task has no such preset; its presets: smoke, quick, paper',
    );
  });

  it("train.dropoutUntil: first-eval in the paper preset, always elsewhere; a bad value is one line", () => {
    expect(planOne("task1", "gla", "paper").training.dropoutUntil).toBe("first-eval");
    expect(planOne("task1", "gla", "quick").training.dropoutUntil).toBe("always");
    expect(planOne("task1", "gla", "paper", ["train.dropoutUntil=always"]).training.dropoutUntil).toBe("always");
    expect(planError(() => planOne("task1", "gla", "quick", ["train.dropoutUntil=sometimes"]))).toBe(
      '--set train.dropoutUntil: got "sometimes"; expected one of always, first-eval',
    );
  });

  it("transformer.referenceWidths trains 648 at 768 and 1296 at 1280; without it those widths fail when planned", () => {
    const on = ["transformer.referenceWidths=true"];
    expect(planOne("task1", "transformer", "paper", ["train.width=648", ...on]).training.width).toBe(768);
    expect(planOne("task1", "transformer", "paper", ["train.width=1296", ...on]).training.width).toBe(1280);
    expect(planOne("task1", "transformer", "paper", ["train.width=960", ...on]).training.width).toBe(960);
    // Other models are untouched; the setting is the Transformer's.
    expect(planOne("task1", "gla", "paper", ["train.width=648"]).training.width).toBe(648);
    expect(planError(() => planOne("task1", "transformer", "paper", ["train.width=648"]))).toBe(
      "transformer: head dim d/H = 648/8 = 81 must be an even integer for RoPE; set transformer.referenceWidths=true to train it at 768 as the reference does",
    );
  });

  it("task4.testGaps is checked when planned", () => {
    expect(planOne("task4", "gla", "paper", ["task4.testGaps=1,2,5,10,60"]).taskConfig.testGaps).toBe("1,2,5,10,60");
    expect(planError(() => planOne("task4", "gla", "paper", ["task4.testGaps=1,x"]))).toMatch(
      /^task4\.testGaps: got "1,x"; expected comma-separated durations in seconds, each in \[0, 6553\]/,
    );
  });
});
