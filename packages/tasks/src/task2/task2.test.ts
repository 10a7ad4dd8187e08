import { PRESET_NAMES, resolveConfig } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import type { GrammarTaskConfig } from "../grammar-task/config.js";
import type { GrammarTaskInstance } from "../grammar-task/instance.js";
import { task2Definition } from "./definition.js";

const resolve = (preset: "smoke" | "quick" | "paper", overrides: Record<string, unknown> = {}): GrammarTaskConfig =>
  resolveConfig(task2Definition.schema, task2Definition.defaults, { ...task2Definition.presets[preset], ...overrides }, "task");

/** Gap steps after every symbol of samples 0 .. count-1 of a split. */
function gapSteps(task: GrammarTaskInstance, split: "train" | "test", count: number): number[] {
  return Array.from(task.generator.generate(split, 0, count).gapSteps);
}

describe("task2 (docs/spec/TASKS.md §5: variable noisy gaps, fixed test gap)", () => {
  it("paper is the published Task 2; every preset resolves", () => {
    for (const preset of PRESET_NAMES) expect(() => resolve(preset)).not.toThrow();
    expect(resolve("paper")).toMatchObject({
      alphabetSize: 41,
      ambiguities: 40,
      ambiguityDepth: 40,
      combinedLength: 200,
      trainSize: 200_000,
      testSize: 1_000,
      gapStart: 0,
      gapProb: 1,
      gapMin: 0.1,
      gapMax: 1,
      testGap: 1,
      noise: 0.2,
      distractors: false,
    });
  });

  it("training gaps are 1..10 blank steps, each length drawn; test gaps are all 10 steps; noise on every entry", () => {
    // The paper's time axis on the smoke grammar (the grammar does not change the time axis).
    const { gapMin, gapMax, testGap, noise } = resolve("paper");
    const task = task2Definition.create(
      resolve("smoke", { combinedLength: 200, gapMin, gapMax, testGap, noise, trainSize: 50, testSize: 5 }),
      1,
    ) as GrammarTaskInstance;
    const train = gapSteps(task, "train", 50);
    expect(Math.min(...train)).toBe(1);
    expect(Math.max(...train)).toBe(10);
    expect(new Set(train).size).toBe(10);
    expect(new Set(gapSteps(task, "test", 5))).toEqual(new Set([10]));
    const batch = task.batch("test", 0, 1);
    expect(batch.steps).toBe(200 * 11);
    // Noise 0.2 on every entry: symbol entries in [1, 1.2), all others in [0, 0.2); none exactly 0.
    let ones = 0;
    for (const v of batch.inputs) {
      expect(v).toBeGreaterThan(0);
      if (v >= 1) ones++;
      expect(v < 0.2 || (v >= 1 && v < 1.2)).toBe(true);
    }
    expect(ones).toBe(200);
  });

  it("with testGap overridden (Task 4), test samples keep that fixed gap and training samples are unchanged", () => {
    const base = task2Definition.create(resolve("smoke"), 3) as GrammarTaskInstance;
    for (const seconds of [1, 2, 5, 10]) {
      const task = task2Definition.create(resolve("smoke", { testGap: seconds }), 3) as GrammarTaskInstance;
      expect(new Set(gapSteps(task, "test", 4))).toEqual(new Set([10 * seconds]));
      expect(task.batch("test", 0, 2).steps).toBe(16 * (1 + 10 * seconds));
      expect(gapSteps(task, "train", 4)).toEqual(gapSteps(base, "train", 4));
      // The hidden states of a test sample do not depend on the gap.
      expect(task.batch("test", 0, 1).symbolTargets).toEqual(base.batch("test", 0, 1).symbolTargets);
    }
  });

  it("the quick preset: gaps of 1..5 steps, the test gap the longest, noise 0.2, on 40-symbol samples", () => {
    const config = resolve("quick");
    expect(config).toMatchObject({ gapMin: 0.1, gapMax: 0.5, testGap: 0.5, noise: 0.2, combinedLength: 40 });
    const task = task2Definition.create(config, 1) as GrammarTaskInstance;
    const train = task.generator.generate("train", 0, 200);
    expect(new Set(train.gapSteps)).toEqual(new Set([1, 2, 3, 4, 5]));
    const meanSteps = train.steps.reduce((a, b) => a + b, 0) / train.count;
    expect(meanSteps / config.combinedLength).toBeCloseTo(4, 0);
    expect(task.batch("test", 0, 1).steps).toBe(40 * 6);
  });
});
