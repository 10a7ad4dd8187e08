import { describe, expect, it } from "vitest";
import { groupConditions, meanStd, summarise } from "./aggregate.js";
import type { RunRecord } from "./read-runs.js";
import { formatStat, summaryCsv, summaryMarkdown } from "./summary-table.js";

function run(overrides: Partial<RunRecord> & { settings?: Record<string, string | number | boolean> }): RunRecord {
  const width = overrides.width ?? 64;
  return {
    folder: "run",
    task: "task1",
    model: "gla",
    seed: 1,
    preset: "quick",
    status: "completed",
    backend: "cpu",
    width,
    layers: 2,
    te: 0.8,
    params: 1000,
    testAccuracy: 0.5,
    bestTestAccuracy: 0.6,
    testLoss: 1,
    majorityBaseline: 0.3,
    ceiling: 0.9,
    testKl: NaN,
    bestTestKl: NaN,
    wallSeconds: 10,
    curve: [],
    gapAccuracies: [],
    ...overrides,
    settings: { "task.ambiguities": 3, "train.lr": 0.003, ...overrides.settings, "train.width": width },
  };
}

describe("meanStd", () => {
  it("gives the mean and the sample standard deviation (n − 1) of the finite values", () => {
    const s = meanStd([0.5, 0.7, 0.9]);
    expect(s.mean).toBeCloseTo(0.7, 12);
    expect(s.std).toBeCloseTo(0.2, 12);
    expect(s.n).toBe(3);
    const withNaN = meanStd([0.4, NaN, 0.6]);
    expect(withNaN.mean).toBeCloseTo(0.5, 12);
    expect(withNaN.std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(withNaN.n).toBe(2);
    expect(meanStd([0.4])).toEqual({ mean: 0.4, std: NaN, n: 1 });
    expect(meanStd([])).toEqual({ mean: NaN, std: NaN, n: 0 });
  });
});

describe("groupConditions and summarise", () => {
  const runs = [
    // gla at two widths, three and two seeds.
    run({ folder: "g64-1", seed: 1, testAccuracy: 0.5, wallSeconds: 10 }),
    run({ folder: "g64-2", seed: 2, testAccuracy: 0.7, wallSeconds: 12 }),
    run({ folder: "g64-3", seed: 3, testAccuracy: 0.9, wallSeconds: 14 }),
    run({ folder: "g128-2", seed: 2, width: 128, testAccuracy: 0.8, params: 3000 }),
    run({ folder: "g128-1", seed: 1, width: 128, testAccuracy: 0.6, params: 3000 }),
    // Evaluating more often measures the same thing: still the same condition.
    run({ folder: "g128-3", seed: 3, width: 128, testAccuracy: 0.7, params: 3000, settings: { "train.evalEvery": 500 } }),
    // gla with more ambiguities: a condition of its own, told apart by its settings.
    run({ folder: "ga6-1", seed: 1, settings: { "task.ambiguities": 6 }, testAccuracy: 0.4 }),
    // mamba: one completed seed and one diverged (NaN written as null, read as NaN).
    run({ folder: "m-1", model: "mamba", seed: 1, testAccuracy: 0.3, testLoss: 2 }),
    run({ folder: "m-2", model: "mamba", seed: 2, status: "diverged", testAccuracy: NaN, testLoss: NaN }),
  ];

  it("groups runs that differ only in the seed (or in how often they were evaluated), and averages over the seeds", () => {
    const conditions = groupConditions(runs);
    expect(conditions.map((c) => [c.model, c.width, c.settings, c.runs.map((r) => r.seed)])).toEqual([
      ["gla", 64, "task.ambiguities=3", [1, 2, 3]],
      ["gla", 128, "task.ambiguities=3", [1, 2, 3]],
      ["gla", 64, "task.ambiguities=6", [1]],
      ["mamba", 64, "", [1, 2]],
    ]);
    // Width is not a setting: both widths of the ambiguities=3 sweep form one series (one line over width).
    expect(conditions[0]!.seriesKey).toBe(conditions[1]!.seriesKey);
    expect(conditions[2]!.seriesKey).not.toBe(conditions[0]!.seriesKey);

    const rows = summarise(conditions);
    expect(rows[0]!.testAccuracy.mean).toBeCloseTo(0.7, 12);
    expect(rows[0]!.testAccuracy.std).toBeCloseTo(0.2, 12);
    expect(rows[0]!.wallSeconds).toEqual({ mean: 12, std: 2, n: 3 });
    expect(rows[1]!.testAccuracy.mean).toBeCloseTo(0.7, 12);
    expect(rows[1]!.testAccuracy.std).toBeCloseTo(0.1, 12);
    expect(rows[1]!.params.mean).toBe(3000);
    expect(rows[2]!.testAccuracy).toEqual({ mean: 0.4, std: NaN, n: 1 });
    expect(rows[3]!.diverged).toBe(1);
    expect(rows[3]!.testAccuracy).toEqual({ mean: 0.3, std: NaN, n: 1 });
    expect(rows[3]!.seeds).toEqual([1, 2]);
  });

  it("writes the summary as Markdown and as CSV with mean and std columns", () => {
    const rows = summarise(groupConditions(runs));
    const markdown = summaryMarkdown("report", rows, runs.length);
    const tableLines = markdown.split("\n").filter((l) => l.startsWith("|"));
    expect(tableLines).toHaveLength(2 + rows.length);
    expect(tableLines[0]).toContain("| settings |");
    expect(tableLines[2]).toContain("| 0.700 ± 0.200 |");
    expect(tableLines[5]).toContain("| 1, 2 (1 diverged) |");
    expect(markdown).toContain("9 runs in 4 conditions.");

    const [header, ...lines] = summaryCsv(rows).trimEnd().split("\n");
    const columns = header!.split(",");
    expect(columns.slice(0, 3)).toEqual(["task", "model", "preset"]);
    expect(lines).toHaveLength(rows.length);
    const cell = (line: number, column: string): string => lines[line]!.split(",")[columns.indexOf(column)]!;
    expect(Number(cell(0, "test_accuracy_mean"))).toBeCloseTo(0.7, 12);
    expect(Number(cell(0, "test_accuracy_std"))).toBeCloseTo(0.2, 12);
    expect(cell(0, "seeds")).toBe("1 2 3");
    // No std for one run: an empty cell, which pandas reads as NaN.
    expect(cell(2, "test_accuracy_std")).toBe("");
    expect(cell(3, "diverged")).toBe("1");
    // The ceiling beside the majority baseline (docs/spec/TASKS.md §4.1).
    expect(columns.indexOf("ceiling_mean")).toBe(columns.indexOf("majority_baseline_mean") + 1);
    expect(Number(cell(0, "ceiling_mean"))).toBeCloseTo(0.9, 12);
    expect(tableLines[0]).toContain("| majority baseline | ceiling |");
  });

  it("formats a statistic as mean ± std, the mean alone, or a dash", () => {
    expect(formatStat({ mean: 0.71234, std: 0.0456, n: 3 }, 3)).toBe("0.712 ± 0.046");
    expect(formatStat({ mean: 0.5, std: NaN, n: 1 }, 2)).toBe("0.50");
    expect(formatStat({ mean: NaN, std: NaN, n: 0 }, 2)).toBe("–");
  });
});
