import { PRESET_NAMES, resolveConfig } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import type { GrammarTaskConfig } from "../grammar-task/config.js";
import type { GrammarTaskInstance } from "../grammar-task/instance.js";
import { task3Definition } from "./definition.js";

const resolve = (preset: "smoke" | "quick" | "paper", overrides: Record<string, unknown> = {}): GrammarTaskConfig =>
  resolveConfig(task3Definition.schema, task3Definition.defaults, { ...task3Definition.presets[preset], ...overrides }, "task");

describe("task3 (docs/spec/TASKS.md §5: distractors after 50 symbols, p = 0.1)", () => {
  it("paper is the published Task 3; every preset resolves", () => {
    for (const preset of PRESET_NAMES) expect(() => resolve(preset)).not.toThrow();
    expect(resolve("paper")).toMatchObject({
      alphabetSize: 41,
      ambiguities: 40,
      ambiguityDepth: 40,
      combinedLength: 200,
      gapStart: 50,
      gapProb: 0.1,
      gapMin: 0.1,
      gapMax: 0.1,
      testGap: -1,
      noise: 0,
      distractors: true,
    });
  });

  it("from symbol 50 on, about 1 in 10 symbols is followed by one token the grammar forbids in that state", () => {
    // The paper's time axis on a small grammar (the grammar does not change the time axis).
    const { gapStart, gapProb } = resolve("paper");
    const task = task3Definition.create(
      resolve("quick", { combinedLength: 200, gapStart, gapProb, trainSize: 300, testSize: 300 }),
      2,
    ) as GrammarTaskInstance;
    const { grammar } = task;
    for (const split of ["train", "test"] as const) {
      const set = task.generator.generate(split, 0, 300);
      let gaps = 0;
      let token = 0;
      const problems: string[] = [];
      for (let n = 0; n < set.count; n++) {
        for (let i = 0; i < set.length; i++) {
          const steps = set.gapSteps[n * set.length + i]!;
          if (steps > (i < 50 ? 0 : 1)) problems.push(`sample ${n} symbol ${i}: gap of ${steps} steps`);
          if (steps === 0) continue;
          gaps++;
          const state = set.classes[n * set.length + i]!;
          if (grammar.successor(state, set.distractorTokens[token++]!) !== -1) problems.push(`sample ${n} symbol ${i}: allowed token`);
        }
      }
      expect(problems).toEqual([]);
      expect(token).toBe(set.distractorTokens.length);
      // Binomial(300 · 150, ≤ 0.1): a state with every symbol allowed gets no distractor, so at most 10%.
      const share = gaps / (300 * 150);
      expect(share).toBeGreaterThan(0.085);
      expect(share).toBeLessThan(0.105);
    }
    // The distractor token is the input at the gap step; the target stays the symbol's class.
    const batch = task.batch("train", 0, 1);
    const set = task.generator.generate("train", 0, 1);
    let t = 0;
    for (let i = 0; i < set.length; i++) {
      t++;
      if (set.gapSteps[i] === 1) {
        const hot = batch.inputs.subarray(t * batch.inputSize, (t + 1) * batch.inputSize).indexOf(1);
        expect(grammar.successor(set.classes[i]!, hot)).toBe(-1);
        expect(batch.targets[t]).toBe(set.classes[i]);
        expect(batch.windows[t]).toBe(i);
        t++;
      }
    }
    expect(t).toBe(set.steps[0]);
  });
});
