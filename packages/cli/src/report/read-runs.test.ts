import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRunsFolder } from "./read-runs.js";

function writeRun(dir: string, folder: string, result: Record<string, unknown>, config: Record<string, unknown>, metrics?: string): void {
  mkdirSync(join(dir, folder), { recursive: true });
  writeFileSync(join(dir, folder, "result.json"), JSON.stringify(result));
  writeFileSync(join(dir, folder, "config.json"), JSON.stringify(config));
  if (metrics !== undefined) writeFileSync(join(dir, folder, "metrics.jsonl"), metrics);
}

const result = {
  status: "completed",
  task: "task1",
  model: "gla",
  seed: 1,
  preset: "smoke",
  params: 3071,
  testAccuracy: 0.25,
  bestTestAccuracy: 0.5,
  testLoss: 1.5,
  majorityBaseline: 0.3,
  ceiling: 0.95,
  wallSeconds: 4,
  taskSummary: { te: 0.78 },
};
const config = { taskConfig: { ambiguities: 3 }, modelConfig: { expandV: 2 }, training: { width: 16, layers: 1 } };

describe("readRunsFolder", () => {
  it("reads runs (linked ones too), and skips foreign and broken folders with one warning each", () => {
    const dir = mkdtempSync(join(tmpdir(), "selectiv-read-runs-"));
    const evaluation = { step: 5, samples: 40, lr: 0, trainLoss: 1.9, testLoss: 1.8, testAccuracy: 0.2, majorityBaseline: 0.3 };
    writeRun(dir, "good", result, config, `${JSON.stringify(evaluation)}\n${JSON.stringify({ ...evaluation, samples: 64 })}\n`);
    // A diverged run: JSON has written its NaNs as null.
    writeRun(dir, "diverged", { ...result, seed: 2, status: "diverged", testAccuracy: null, testLoss: null }, config);
    // A Task-4 result: test gaps from its transfer variants, or from gapAccuracies.
    const variants = [10, 20].map((value) => ({ label: `gap ${value}`, value, testAccuracy: 1 - value / 100 }));
    writeRun(dir, "transfer", { ...result, task: "task4", variants }, config);
    writeRun(dir, "gaps", { ...result, task: "task4", seed: 2, gapAccuracies: [{ gapSteps: 5, accuracy: 0.9 }] }, config);
    writeRun(dir, "bad-metrics", { ...result, seed: 3 }, config, "{not json\n");
    writeRun(dir, "no-width", result, { training: {} });
    writeRun(dir, "no-seed", { ...result, seed: undefined }, config);
    symlinkSync(join(dir, "good"), join(dir, "linked"));
    mkdirSync(join(dir, "foreign"));
    mkdirSync(join(dir, "unfinished"));
    writeFileSync(join(dir, "unfinished", "config.json"), JSON.stringify(config));
    mkdirSync(join(dir, "broken"));
    writeFileSync(join(dir, "broken", "result.json"), "{");
    writeFileSync(join(dir, "broken", "config.json"), "{}");
    mkdirSync(join(dir, ".hidden"));
    mkdirSync(join(dir, "old-report"));
    writeFileSync(join(dir, "old-report", "report.html"), "");
    mkdirSync(join(dir, "report"));
    writeFileSync(join(dir, "results.csv"), "");

    const { runs, warnings } = readRunsFolder(dir, [join(dir, "report")]);
    expect(runs.map((r) => r.folder)).toEqual(["good", "linked", "diverged", "bad-metrics", "transfer", "gaps"]);
    const good = runs[0]!;
    expect(good).toMatchObject({ width: 16, layers: 1, te: 0.78, params: 3071, testAccuracy: 0.25, bestTestAccuracy: 0.5, ceiling: 0.95 });
    expect(good.settings).toEqual({ "task.ambiguities": 3, "model.expandV": 2, "train.width": 16, "train.layers": 1 });
    expect(good.curve.map((e) => e.samples)).toEqual([40, 64]);
    expect(runs[1]!.curve).toEqual(good.curve);
    expect(runs[2]!.testAccuracy).toBeNaN();
    expect(runs[4]!.ceiling).toBe(0.95);
    expect(runs[2]!.curve).toEqual([]);
    expect(runs[3]!.curve).toEqual([]);
    expect(runs[4]!.gapAccuracies).toEqual([
      { gapSteps: 10, accuracy: 0.9 },
      { gapSteps: 20, accuracy: 0.8 },
    ]);
    expect(runs[5]!.gapAccuracies).toEqual([{ gapSteps: 5, accuracy: 0.9 }]);
    expect(warnings).toEqual([
      `${join(dir, "bad-metrics")}: metrics.jsonl line 1 is not an evaluation record; its training curve is left out`,
      `skipping ${join(dir, "broken")}: result.json is not valid JSON`,
      `skipping ${join(dir, "foreign")}: not a run folder (no result.json)`,
      `skipping ${join(dir, "no-seed")}: result.json has no task, model and seed`,
      `skipping ${join(dir, "no-width")}: config.json has no training.width`,
      `skipping ${join(dir, "unfinished")}: no result.json (an unfinished run?)`,
    ]);
  });
});
