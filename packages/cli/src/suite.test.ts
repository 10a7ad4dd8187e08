// `selectiv bench suite`: the seeds flag, the ranking (mean ± std, separation marks, the paper's order among the
// models ranked), and the command end to end on the smoke preset, resumed by running it again.
import type { RunResult } from "@selectiv/core";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSeeds } from "./commands/bench/suite.js";
import { rankTask, rankingCsv, rankingText } from "./suite/ranking.js";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");

function result(model: string, seed: number, testAccuracy: number, ceiling = 0.95): RunResult {
  return {
    status: "completed",
    task: "task1",
    model,
    seed,
    preset: "quick",
    params: 1,
    backend: "wasm",
    backendReason: "",
    steps: 1,
    testAccuracy,
    testLoss: 1,
    bestTestAccuracy: testAccuracy,
    bestTestLoss: 1,
    majorityBaseline: 0.2,
    ceiling,
    wallSeconds: 1,
    runDir: "",
    taskSummary: {},
  };
}

describe("bench suite", () => {
  it("reads seeds as ranges and lists; anything else is one line naming --seeds", () => {
    expect(parseSeeds("1-4")).toEqual([1, 2, 3, 4]);
    expect(parseSeeds("1,3, 5")).toEqual([1, 3, 5]);
    expect(parseSeeds("2")).toEqual([2]);
    expect(parseSeeds("1-2,2-3")).toEqual([1, 2, 3]);
    for (const bad of ["", "a", "4-1", "1-", "-1", "1.5"]) expect(() => parseSeeds(bad)).toThrow(/^--seeds: got .*expected/);
  });

  it("ranks by mean accuracy, marks neighbours apart by more than their spread, and ranks the paper's numbers alike", () => {
    const runs = [
      ...[0.9, 0.92].map((a, i) => result("mamba2", i + 1, a)),
      ...[0.7, 0.9].map((a, i) => result("gla", i + 1, a)),
      ...[0.4, 0.42].map((a, i) => result("delta-net", i + 1, a)),
      { ...result("delta-net", 3, NaN), status: "diverged" as const },
    ];
    const paper = {
      mamba2: { mean: 0.92, std: 0.007 },
      "delta-net": { mean: 0.5, std: 0.01 },
      gla: { mean: 0.75, std: 0.01 },
      mamba: { mean: 0.89, std: 0.009 },
    };
    const { rows } = rankTask("task1", runs, { position: 1, paperAccuracy: paper });
    expect(rows.map((r) => r.model)).toEqual(["mamba2", "gla", "delta-net"]);
    expect(rows[0]!.accuracy.mean).toBeCloseTo(0.91, 12);
    expect(rows[0]!.accuracy.std).toBeCloseTo(Math.sqrt(0.0002), 12);
    // mamba2 − gla = 0.11 < 0.0141 + 0.1414; gla − delta-net = 0.39 > 0.1414 + 0.0141.
    expect(rows.map((r) => r.separatedFromNext)).toEqual([false, true, undefined]);
    expect(rows[2]!.accuracy.n).toBe(2);
    // Mamba is in the paper's table but not ranked here, so it does not take a paper rank.
    expect(rows.map((r) => r.paper?.rank)).toEqual([1, 2, 3]);
    expect(rows[0]!.ceiling.mean).toBeCloseTo(0.95, 12);
    const text = rankingText({ task: "task1", rows });
    expect(text).toMatch(/1\s+mamba2\s+0\.9100 ± 0\.0141\s+2\s+≈\s+0\.9500\s+0\.2000\s+1\s+0\.92 ± 0\.007/);
    expect(text).toMatch(/2\s+gla\s+0\.8000 ± 0\.1414\s+2\s+>/);
    // One seed gives no spread: the neighbours' separation is unknown ("?"), not decided on the means alone.
    const single = rankTask("task1", [result("mamba2", 1, 0.9), result("gla", 1, 0.5)], undefined);
    expect(single.rows.map((r) => r.separatedFromNext)).toEqual([undefined, undefined]);
    expect(rankingText(single)).toMatch(/1\s+mamba2\s+0\.9000\s+1\s+\?/);
    expect(rankingCsv([single]).split("\n")[1]).toMatch(/^task1,1,mamba2,0\.9,,1,,/);
  });

  it("runs Tasks 1–4 end to end, prints a ranking per task, writes suite files, and reuses its runs when run again", () => {
    const out = mkdtempSync(join(tmpdir(), "selectiv-suite-"));
    const args = [
      bin,
      "bench",
      "suite",
      "--preset",
      "smoke",
      "--models",
      "delta-net,mamba2",
      "--seeds",
      "1",
      "--backend",
      "wasm",
      "--out",
      out,
    ];
    const first = spawnSync(process.execPath, args, { encoding: "utf8" });
    expect(first.status, first.stderr).toBe(0);
    for (const task of ["task1", "task2", "task3", "task4"]) expect(first.stdout).toMatch(new RegExp(`^${task}\\nrank\\s+model`, "m"));
    expect(first.stderr).toMatch(/\[suite 8\/8\] task4 mamba2 seed 1: completed/);
    expect(first.stderr).toMatch(/\[suite 2\/8\] .*\(1 done, 7 left, about \S+ left\)/);
    for (const f of ["suite.md", "suite.csv", "suite.svg", "suite.png", "results.csv"]) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, "suite.csv"), "utf8").trim().split("\n")).toHaveLength(1 + 8);
    const again = spawnSync(process.execPath, args, { encoding: "utf8" });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    // Tasks 1–3 are reused whole: no time estimate from them; Task 4 evaluates again, so its runs give one.
    expect(again.stderr).toMatch(/^\[suite 2\/8\] \S+ \S+ seed 1: starting \(1 done, 7 left\)$/m);
    expect(again.stderr).toMatch(/\[suite 8\/8\] task4 mamba2 seed 1: starting \(7 done, 1 left, about \S+ left\)/);
    const report = spawnSync(process.execPath, [bin, "report", out], { encoding: "utf8" });
    expect(report.status, report.stderr).toBe(0);
    expect(readFileSync(join(out, "report", "summary.md"), "utf8")).toMatch(/# SelectivBench suite/);
    expect(existsSync(join(out, "report", "figures", "suite.svg"))).toBe(true);
  }, 120_000);
});
