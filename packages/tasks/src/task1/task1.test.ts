import "reflect-metadata";
import { PRESET_NAMES, Tokens, isSelectivError, majorityClassOf, resolveConfig, type TaskDefinition } from "@selectiv/core";
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { GrammarTaskInstance } from "../grammar-task/instance.js";
import { registerTasks } from "../index.js";
import { TASK1_COMPLEXITY_SWEEP, task1Definition, type Task1Config } from "./definition.js";

const resolve = (preset: "smoke" | "quick" | "paper", overrides: Record<string, unknown> = {}): Task1Config =>
  resolveConfig(task1Definition.schema, task1Definition.defaults, { ...task1Definition.presets[preset], ...overrides }, "task");

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

describe("task1 definition", () => {
  it("every preset resolves against the schema, and paper is docs/spec/TASKS.md §5 Task 1", () => {
    for (const preset of PRESET_NAMES) expect(() => resolve(preset)).not.toThrow();
    const paper = resolve("paper");
    expect(paper).toMatchObject({
      alphabetSize: 41,
      ambiguities: 40,
      ambiguityDepth: 40,
      initialStates: 4,
      transitionDensity: 0.4,
      combinedLength: 200,
      seqLenMax: 200,
      trainSize: 200_000,
      testSize: 1_000,
      gapStart: 0,
      gapProb: 1,
      gapMin: 0.1,
      gapMax: 0.1,
      testGap: -1,
      noise: 0,
      distractors: false,
    });
    expect(Object.keys(task1Definition.defaults).sort()).toEqual(Object.keys(task1Definition.schema).sort());
  });

  it("the paper preset gives the 1601-state grammar, one blank step after every symbol", () => {
    const task = task1Definition.create(resolve("paper"), 1) as GrammarTaskInstance;
    expect(task.numClasses).toBe(1601);
    expect(task.inputSize).toBe(41);
    expect(task.splitSize("train")).toBe(200_000);
    expect(task.splitSize("test")).toBe(1_000);
    expect(task.summary.te).toBeGreaterThan(2.75);
    expect(task.summary.te).toBeLessThan(2.8);
    const batch = task.batch("train", 0, 4);
    expect(batch.steps).toBe(400);
    expect(Array.from(batch.windows.subarray(0, 6))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it("smoke and quick create quickly, with the summary facts", () => {
    for (const preset of ["smoke", "quick"] as const) {
      const config = resolve(preset);
      const task = task1Definition.create(config, 3);
      const letters = config.alphabetSize - 1;
      expect(task.numClasses).toBe(config.ambiguities * config.ambiguityDepth + letters - config.ambiguities + 1);
      expect(task.inputSize).toBe(config.alphabetSize);
      for (const key of ["states", "edges", "edgesToEnd", "te", "meanStringLength", "majorityClassShare"]) {
        expect(typeof task.summary[key]).toBe("number");
      }
      expect(task.summary.states).toBe(task.numClasses);
      const batch = task.batch("test", 0, 2);
      expect(batch.maxSymbols).toBe(config.combinedLength);
      expect(batch.steps).toBe(2 * config.combinedLength);
    }
  });

  it("cross-field and range errors are one line, naming field, value and what is allowed", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ alphabetSize: 41, ambiguities: 45 }, /^ambiguities: got 45; expected at most alphabetSize - 1 = 40/],
      [{ gapMin: 0.5, gapMax: 0.2 }, /^gapMin: got 0.5; expected ≤ gapMax \(0.2\)/],
      [{ testGap: -0.5 }, /^testGap: got -0.5; expected -1 \(same gaps as training\) or a duration/],
      [{ alphabetSize: 5, ambiguities: 4, ambiguityDepth: 0 }, /^ambiguityDepth: got 0 with ambiguities 4/],
      [{ alphabetSize: 3, ambiguities: 2, ambiguityDepth: 1, initialStates: 3 }, /^initialStates: got 3; expected an integer in \[1, 2\]/],
    ];
    for (const [overrides, message] of cases) {
      const e = thrown(() => task1Definition.create(resolve("smoke", overrides), 1));
      expect(isSelectivError(e)).toBe(true);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain("\n");
    }
    const e = thrown(() => resolve("smoke", { noise: -1 }));
    expect(e.message).toBe("task.noise: got -1; expected a number ≥ 0");
  });

  it("a fixed test gap changes the test split only", () => {
    const task = task1Definition.create(resolve("smoke", { testGap: 0.5 }), 2);
    expect(task.batch("train", 0, 1).steps).toBe(48);
    expect(task.batch("test", 0, 1).steps).toBe(24 * 6);
    expect(() => task.batch("test", 31, 2)).toThrow(RangeError);
  });

  it("complexity n sets amb = depth = n and alphabet n + 1 (the complexity sweep); 0 keeps the knobs", () => {
    expect(TASK1_COMPLEXITY_SWEEP).toEqual([20, 24, 26, 30, 34, 38, 40]);
    const swept = task1Definition.create(resolve("smoke", { complexity: 5 }), 1) as GrammarTaskInstance;
    expect(swept.numClasses).toBe(5 * 5 + 1);
    expect(swept.inputSize).toBe(6);
    expect(swept.identity.grammar).toMatchObject({ alphabetSize: 6, ambiguities: 5, ambiguityDepth: 5 });
    const plain = task1Definition.create(resolve("smoke"), 1) as GrammarTaskInstance;
    expect(plain.identity.grammar).toMatchObject({ alphabetSize: 4, ambiguities: 3, ambiguityDepth: 2 });
    expect(() => resolve("smoke", { complexity: 53 })).toThrow(/^task\.complexity: got 53; expected an integer in \[0, 52\]/);
  });

  it("registerTasks registers the built-in tasks once; a second registration is a clash", () => {
    const child = container.createChildContainer();
    registerTasks(child);
    const ids = child.resolveAll<TaskDefinition>(Tokens.TaskDefinition).map((d) => d.id);
    expect(ids).toEqual(["task1", "task2", "task3", "task4", "reference-dataset"]);
    expect(() => registerTasks(child)).toThrow(/already registered/);
  });
});

describe("majority-class baseline", () => {
  it("predicts the class most frequent among the training symbols; the summary gives its share", () => {
    const task = task1Definition.create(resolve("smoke"), 4) as GrammarTaskInstance;
    const n = task.splitSize("train");
    const counts = new Float64Array(task.numClasses);
    for (const c of task.batch("train", 0, n).symbolTargets) counts[c]!++;
    const best = counts.indexOf(Math.max(...counts));
    // core's majority class reads the first 2,000 training samples; the smoke split is smaller.
    expect(n).toBeLessThanOrEqual(2000);
    expect(majorityClassOf(task, 7)).toBe(best);
    expect(task.summary.majorityClassShare).toBeCloseTo(counts[best]! / counts.reduce((a, b) => a + b, 0), 12);
  });
});
