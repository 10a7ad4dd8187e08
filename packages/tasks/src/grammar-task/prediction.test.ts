import { type Batch, type ModelDefinition, type TrainingConfig, resolveConfig, runId } from "@selectiv/core";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Grammar } from "../grammar/grammar.js";
import { symbolId } from "../grammar/symbols.js";
import { createReferenceDatasetTask, referenceDatasetDefinition } from "../reference-dataset/definition.js";
import { task1Definition, type Task1Config } from "../task1/definition.js";
import { task2Definition } from "../task2/definition.js";
import type { GrammarTaskInstance } from "./instance.js";

const FIXTURE = fileURLToPath(new URL("../../../../fixtures/reference-amb6-seed3", import.meta.url));

const smoke = (overrides: Record<string, unknown> = {}): Task1Config =>
  resolveConfig(task1Definition.schema, task1Definition.defaults, { ...task1Definition.presets.smoke, ...overrides }, "task");

/** The next-symbol distribution of every state, computed here from the grammar's named edges (docs/spec/TASKS.md §4). */
function expectedRows(grammar: Grammar): Map<string, number[]> {
  const rows = new Map(grammar.stateNames.map((name) => [name, new Array<number>(grammar.alphabetSize).fill(0)]));
  for (const e of grammar.edges()) rows.get(e.source)![symbolId(e.target[0]!)]! += e.probability;
  rows.get("#")![0] = 1;
  return rows;
}

/** The target distribution of step k of a prediction batch. */
function rowAt(batch: Batch, k: number, classes: number): number[] {
  const r = batch.targetDistributions!.index[k]!;
  return Array.from(batch.targetDistributions!.rows.subarray(r * classes, (r + 1) * classes));
}

describe("prediction mode of the grammar tasks (docs/spec/TASKS.md §4)", () => {
  const seed = 3;
  const classification = task1Definition.create(smoke(), seed) as GrammarTaskInstance;
  const prediction = task1Definition.create(smoke({ mode: "prediction" }), seed) as GrammarTaskInstance;
  const grammar = prediction.grammar;
  const C = grammar.alphabetSize;

  it("has one output class per symbol and the classification task's inputs and windows", () => {
    expect(classification.objective).toBe("classification");
    expect(prediction.objective).toBe("prediction");
    expect(classification.numClasses).toBe(grammar.numStates);
    expect(prediction.numClasses).toBe(C);
    const a = classification.batch("test", 0, 6);
    const b = prediction.batch("test", 0, 6);
    expect(b.inputs).toEqual(a.inputs);
    expect(b.windows).toEqual(a.windows);
    expect(a.targetDistributions).toBeUndefined();
  });

  it("targets are the next symbols and the distributions the folded transition rows of the hidden state", () => {
    const expected = expectedRows(grammar);
    // `#` is one-hot on `#`, every other state's row sums to 1 over the symbols its successors emit.
    expect(expected.get("#")).toEqual([1, ...new Array<number>(C - 1).fill(0)]);
    const a = classification.batch("train", 0, 8);
    const b = prediction.batch("train", 0, 8);
    const { size: B, steps: T, maxSymbols: L } = a;
    let branching = 0;
    for (let n = 0; n < B; n++) {
      for (let t = 0; t < T; t++) {
        const k = n * T + t;
        const w = a.windows[k]!;
        if (w < 0) {
          expect(b.mask[k]).toBe(0);
          expect(b.targetDistributions!.index[k]).toBe(-1);
          continue;
        }
        // The hidden state held at this step (the classification target) gives the row...
        const state = grammar.stateNames[a.targets[k]!]!;
        const row = rowAt(b, k, C);
        expected.get(state)!.forEach((p, c) => expect(row[c], `${state} → ${c}`).toBeCloseTo(p, 6));
        if (row.filter((p) => p > 0).length > 1) branching++;
        // ... and the target is the symbol after this window's symbol: `#` after `#`, else the next symbol emitted.
        const nextState = w + 1 < L ? a.symbolTargets[n * L + w + 1]! : -1;
        const next = state === "#" ? 0 : nextState >= 0 ? grammar.stateSymbols[nextState]! : -1;
        if (next >= 0) expect(b.targets[k], `sample ${n} step ${t}`).toBe(next);
        // The target (the last symbol's comes from the walk past the cut) is a symbol the grammar allows here.
        expect(row[b.targets[k]!]!).toBeGreaterThan(0);
        expect(b.mask[k]).toBe(1);
        expect(b.symbolTargets[n * L + w]).toBe(b.targets[k]);
      }
    }
    expect(branching).toBeGreaterThan(10);
  });

  it("masks the evaluation windows (klSteps=windows) or every real step (all): the same steps while symbols take one step", () => {
    const all = task1Definition.create(smoke({ mode: "prediction", klSteps: "all" }), seed).batch("test", 0, 6);
    const windows = prediction.batch("test", 0, 6);
    const a = classification.batch("test", 0, 6);
    expect(Array.from(windows.mask)).toEqual(Array.from(a.windows, (w) => (w >= 0 ? 1 : 0)));
    expect(all.mask).toEqual(a.mask);
    expect(all.targets).toEqual(windows.targets);
  });

  it("holds the next symbol through gaps (Task 2)", () => {
    const config = resolveConfig(
      task2Definition.schema,
      task2Definition.defaults,
      { ...task2Definition.presets.smoke, mode: "prediction" },
      "t",
    );
    const task = task2Definition.create(config, 1);
    const b = task.batch("test", 0, 2);
    let gapSteps = 0;
    for (let k = 1; k < b.size * b.steps; k++) {
      if (b.windows[k] >= 0 && b.windows[k] === b.windows[k - 1] && k % b.steps !== 0) {
        expect(b.targets[k]).toBe(b.targets[k - 1]);
        expect(b.targetDistributions!.index[k]).toBe(b.targetDistributions!.index[k - 1]);
        gapSteps++;
      }
    }
    expect(gapSteps).toBeGreaterThan(0);
  });

  it("masks out the last symbol of a stored sequence cut mid-string (its successor is unknown)", () => {
    const config = resolveConfig(
      referenceDatasetDefinition.schema,
      referenceDatasetDefinition.defaults,
      { path: FIXTURE, trainSize: 20, testSize: 20, mode: "prediction" },
      "t",
    );
    const task = createReferenceDatasetTask(config, 1);
    const b = task.batch("train", 0, 20);
    const { steps: T, maxSymbols: L } = b;
    const cut = { masked: 0, kept: 0 };
    for (let n = 0; n < b.size; n++) {
      const last = n * L + L - 1;
      const steps = [...Array(T).keys()].map((t) => n * T + t).filter((k) => b.windows[k] === L - 1);
      expect(steps.length).toBeGreaterThan(0);
      const endsWithEnd = task.grammar.stateSymbols[task.generator.generate("train", n, 1).classes[L - 1]!] === 0;
      for (const k of steps) expect(b.mask[k]).toBe(endsWithEnd ? 1 : 0);
      expect(b.symbolTargets[last]).toBe(endsWithEnd ? 0 : -1);
      cut[endsWithEnd ? "kept" : "masked"]++;
    }
    expect(cut.masked).toBeGreaterThan(0);
  });

  it("is part of the config, so run ids change with mode and klSteps", () => {
    const model = { id: "m" } as ModelDefinition;
    const id = (taskConfig: Task1Config) =>
      runId({ task: task1Definition, model, seed: 1, taskConfig, modelConfig: {}, training: {} as TrainingConfig, preset: "smoke" });
    const ids = new Set([id(smoke()), id(smoke({ mode: "prediction" })), id(smoke({ mode: "prediction", klSteps: "all" }))]);
    expect(ids.size).toBe(3);
    expect(() => smoke({ mode: "foo" })).toThrow(/task\.mode: got "foo"; expected one of classification, prediction/);
    expect(() => smoke({ klSteps: "gaps" })).toThrow(/task\.klSteps: got "gaps"; expected one of windows, all/);
  });
});
