import { PRESET_NAMES, resolveConfig } from "@selectiv/core";
import { oneLineErrorOf } from "@selectiv/core/testkit";
import { describe, expect, it } from "vitest";
import type { GrammarTaskInstance } from "../grammar-task/instance.js";
import { task2Definition } from "../task2/definition.js";
import { type Task4Config, parseTestGaps, task4Definition } from "./definition.js";

const resolve = (preset: "smoke" | "quick" | "paper", overrides: Record<string, unknown> = {}): Task4Config =>
  resolveConfig(task4Definition.schema, task4Definition.defaults, { ...task4Definition.presets[preset], ...overrides }, "task4");

const variants = (config: Task4Config) => task4Definition.transfer!.variants(config);

const errorOf = (f: () => unknown): string => oneLineErrorOf(f).message;

describe("task4 (docs/spec/TASKS.md §5: Task-2 models tested at absolute gaps, the reference's test_dur)", () => {
  it("paper tests at 1, 2, 5 and 10 s (10, 20, 50, 100 steps); its other fields are Task 2's", () => {
    const { testGaps, ...rest } = resolve("paper");
    expect(testGaps).toBe("1,2,5,10");
    expect(rest).toEqual(resolveConfig(task2Definition.schema, task2Definition.defaults, task2Definition.presets.paper, "task2"));
    expect(variants(resolve("paper")).map((v) => [v.label, v.value, v.config.testGap])).toEqual([
      ["gap 10 steps", 10, 1],
      ["gap 20 steps", 20, 2],
      ["gap 50 steps", 50, 5],
      ["gap 100 steps", 100, 10],
    ]);
  });

  it("quick and smoke keep the gaps they had as 1, 2, 5, 10 × gapMax (their results do not change)", () => {
    for (const preset of PRESET_NAMES) {
      const config = resolve(preset);
      const old = [1, 2, 5, 10].map((f) => Math.round(config.gapMax * f * 10) / 10);
      expect(variants(config).map((v) => v.config.testGap)).toEqual(old);
    }
  });

  it("gaps are absolute: they do not follow gapMax, and a list of any length works", () => {
    expect(variants(resolve("quick", { gapMax: 1 })).map((v) => v.value)).toEqual([5, 10, 25, 50]);
    expect(variants(resolve("paper", { testGaps: " 60 " })).map((v) => [v.label, v.config.testGap])).toEqual([["gap 600 steps", 60]]);
    expect(parseTestGaps("0,0.5,1.25")).toEqual([0, 0.5, 1.25]);
  });

  it("beyond the old 25 s cap: a 60 s test gap gives 600 blank steps after every symbol (16-bit gap buffers)", () => {
    const config = resolve("smoke", { testGaps: "60" });
    const task = task4Definition.create(variants(config)[0]!.config, 1) as GrammarTaskInstance;
    const set = task.generator.generate("test", 0, 2);
    expect(new Set(set.gapSteps)).toEqual(new Set([600]));
    expect(task.batch("test", 0, 1).steps).toBe(config.combinedLength * 601);
    // Training samples are Task 2's, whatever the test gaps.
    const plain = task2Definition.create(resolve("smoke"), 1) as GrammarTaskInstance;
    expect(task.generator.generate("train", 0, 3).gapSteps).toEqual(plain.generator.generate("train", 0, 3).gapSteps);
  });

  it("bad lists are one line naming the field, the value and what is allowed", () => {
    const allowed = /expected comma-separated durations in seconds, each in \[0, 6553\] \(e\.g\. "1,2,5,10"\)/;
    for (const text of ["", "1,,2", "1,x", "-1", "1e9", "1;2"]) {
      const message = errorOf(() => parseTestGaps(text));
      expect(message.startsWith(`task4.testGaps: got ${JSON.stringify(text)}; `)).toBe(true);
      expect(message).toMatch(allowed);
    }
    expect(errorOf(() => parseTestGaps("1,1.01"))).toMatch(/; each gap once \(durations are counted in 0\.1 s steps\)$/);
  });
});
