// End-to-end test of the prediction objective (docs/spec/TASKS.md §4) through the built `selectiv` command.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");

function selectiv(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("selectiv bench run --set task1.mode=prediction", () => {
  it("trains next-symbol prediction and records the KL divergence in result.json, metrics.jsonl, results.csv and the tables", () => {
    const out = mkdtempSync(join(tmpdir(), "selectiv-prediction-"));
    const args = ["bench", "run", "--preset", "smoke", "--set", "task1.mode=prediction", "--set", "train.evalEvery=32"];
    const r = selectiv([...args, "--json", "--out", out, "--backend", "cpu"]);
    expect(r.status, r.stderr).toBe(0);
    const run = (JSON.parse(r.stdout) as { runs: Record<string, unknown>[] }).runs[0]!;
    const result = JSON.parse(readFileSync(join(String(run.runDir), "result.json"), "utf8")) as Record<string, unknown>;
    expect(result.objective).toBe("prediction");
    expect(typeof result.testKl).toBe("number");
    const kl = result.testKl as number;
    expect(Number.isFinite(kl)).toBe(true);
    expect(kl).toBeGreaterThan(0);
    // The KL divergence is at most the cross-entropy to the sampled next symbol (CE = entropy + KL, on the same steps).
    expect(kl).toBeLessThan((result.testLoss as number) + 1e-3);
    // Accuracy is not defined in prediction mode: NaN, which JSON writes as null.
    expect(result.testAccuracy).toBeNull();
    expect(result.majorityBaseline).toBeNull();
    // Nor is the ceiling (docs/spec/TASKS.md §4.1): left out.
    expect(result).not.toHaveProperty("ceiling");
    const config = JSON.parse(readFileSync(join(String(run.runDir), "config.json"), "utf8")) as { taskConfig: Record<string, unknown> };
    expect(config.taskConfig).toMatchObject({ mode: "prediction", klSteps: "windows" });

    // Two evaluations (every 32 of 64 samples); "best" is the lowest KL.
    const records = readFileSync(join(String(run.runDir), "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { testKl: number });
    expect(records).toHaveLength(2);
    expect(records.at(-1)!.testKl).toBe(kl);
    expect(result.bestTestKl).toBe(Math.min(...records.map((x) => x.testKl)));

    const csv = readFileSync(join(out, "results.csv"), "utf8").trim().split("\n");
    const header = csv[0]!.split(",");
    expect(header).toEqual(expect.arrayContaining(["objective", "testKl", "bestTestKl"]));
    const row = csv[1]!.split(",");
    expect(Number(row[header.indexOf("testKl")])).toBe(kl);
    expect(row[header.indexOf("objective")]).toBe("prediction");

    // The text table (the finished run is reused) shows KL where accuracy is shown.
    const text = selectiv([...args, "--out", out, "--backend", "cpu"]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/test acc\s+majority baseline\s+ceiling\s+test KL\s+test loss/);
    expect(text.stdout).toContain(kl.toFixed(4));
    expect(text.stderr).toMatch(/test KL \d\.\d{4}/);

    // The report's summary has KL columns.
    const report = selectiv(["report", out, "--out", join(out, "report")]);
    expect(report.status, report.stderr).toBe(0);
    const summary = readFileSync(join(out, "report", "summary.md"), "utf8");
    expect(summary).toMatch(/\| test KL \| best test KL \|/);
    expect(summary).toContain(kl.toFixed(4));
    expect(readFileSync(join(out, "report", "summary.csv"), "utf8")).toMatch(/^task,.*,test_kl_mean,test_kl_std,/);
  });

  it("gives the usual one-line error for a bad mode or klSteps", () => {
    for (const [set, message] of [
      ["task1.mode=foo", /^selectiv: --set task1\.mode: got "foo"; expected one of classification, prediction$/],
      ["task.klSteps=gaps", /^selectiv: --set task \(task1\)\.klSteps: got "gaps"; expected one of windows, all$/],
    ] as const) {
      const r = selectiv(["bench", "run", "--preset", "smoke", "--set", set, "--out", tmpdir()]);
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
    }
  });
});
