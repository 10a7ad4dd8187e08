// `train.workers` through the built `selectiv` command: worker threads share each step's passes and the run's
// results are the same as with one thread.
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

function runWith(workers: number, backend: string, model: string): { result: Record<string, unknown>; metrics: string } {
  const out = mkdtempSync(join(tmpdir(), `selectiv-workers-${workers}-`));
  const r = selectiv([
    "bench",
    "run",
    "--preset",
    "smoke",
    "--model",
    model,
    "--backend",
    backend,
    "--json",
    "--out",
    out,
    "--set",
    "train.microBatch=3",
    "--set",
    `train.workers=${workers}`,
  ]);
  expect(r.status, r.stderr).toBe(0);
  const run = (JSON.parse(r.stdout) as { runs: Record<string, unknown>[] }).runs[0]!;
  return {
    result: JSON.parse(readFileSync(join(String(run.runDir), "result.json"), "utf8")) as Record<string, unknown>,
    metrics: readFileSync(join(String(run.runDir), "metrics.jsonl"), "utf8"),
  };
}

describe("selectiv bench run --set train.workers=N", () => {
  it.each([
    ["wasm", "gla", 2],
    ["cpu", "gated-delta-net", 3],
  ])("on %s, %s with %i threads gives the one-thread run's results exactly", (backend, model, workers) => {
    const one = runWith(1, backend, model);
    const many = runWith(workers, backend, model);
    for (const key of ["testAccuracy", "testLoss", "bestTestAccuracy", "steps", "params"])
      expect(many.result[key], key).toEqual(one.result[key]);
    // Every evaluation record, apart from the wall clock.
    const strip = (text: string) => text.replace(/"wallSeconds":[0-9.e+-]+/g, "");
    expect(strip(many.metrics)).toBe(strip(one.metrics));
  });

  it("refuses a bad count, and workers with nothing to share, in one line", () => {
    const smokeWith = (setting: string) =>
      selectiv(["bench", "run", "--preset", "smoke", "--set", setting, "--out", mkdtempSync(join(tmpdir(), "selectiv-workers-"))]);
    const bad = smokeWith("train.workers=0");
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/train\.workers.*0/);
    // Without micro-batches a step is one pass: nothing to share.
    const single = smokeWith("train.workers=2");
    expect(single.status).toBe(2);
    // (after the run's "starting" lines): one line, no stack trace.
    expect(single.stderr.trim().split("\n").at(-1)).toMatch(
      /^selectiv: train\.workers: got 2, .*set train\.microBatch below train\.batchSize/,
    );
    expect(single.stderr).not.toMatch(/\n\s+at /);
  });
});
