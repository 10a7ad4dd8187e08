// `selectiv eval`: a finished run's weights under another test condition, without retraining (issue 15, item 4).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));

function selectiv(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: ReturnType<typeof selectiv>, mentions: RegExp): void {
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^selectiv: /);
  expect(lines[0]).toMatch(mentions);
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const evaluationLines = (dir: string) =>
  readFileSync(join(dir, "evaluations.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

describe("selectiv eval", () => {
  let runDir = "";

  beforeAll(() => {
    const out = tempDir("eval");
    const trained = selectiv(["bench", "run", "--preset", "smoke", "--model", "gla", "--backend", "wasm", "--out", out, "--json"]);
    expect(trained.status, trained.stderr).toBe(0);
    runDir = join(
      out,
      readdirSync(out).find((d) => d.startsWith("task1-"))!,
    );
  });

  it("with no --set reproduces result.json bit for bit; --set task1.testGap changes the accuracy and appends a line", () => {
    const result = readJson(join(runDir, "result.json"));
    const own = ["result.json", "metrics.jsonl", "checkpoint.bin"].map((f) => readFileSync(join(runDir, f)));

    const same = selectiv(["eval", runDir, "--json"]);
    expect(same.status, same.stderr).toBe(0);
    const e = JSON.parse(same.stdout);
    expect(e.testAccuracy).toBe(result.testAccuracy);
    expect(e.testLoss).toBe(result.testLoss);
    expect(e.majorityBaseline).toBe(result.majorityBaseline);
    expect(e.ceiling).toBe(result.ceiling);
    expect(e.changed).toEqual({});

    const gap = selectiv(["eval", runDir, "--set", "task1.testGap=0.5"]);
    expect(gap.status, gap.stderr).toBe(0);
    expect(gap.stdout).toMatch(/testGap -1 → 0\.5/);
    const lines = evaluationLines(runDir);
    expect(lines).toHaveLength(2);
    expect(lines[0].testLoss).toBe(result.testLoss);
    expect(lines[1]).toMatchObject({ assignments: ["task1.testGap=0.5"], changed: { testGap: { from: -1, to: 0.5 } }, backend: "wasm" });
    expect(lines[1].taskConfig.testGap).toBe(0.5);
    expect(lines[1].testAccuracy).not.toBe(result.testAccuracy);
    expect(gap.stdout).toContain(lines[1].testAccuracy.toFixed(4));
    // The run's own files are untouched.
    expect(["result.json", "metrics.jsonl", "checkpoint.bin"].map((f) => readFileSync(join(runDir, f)))).toEqual(own);
  });

  it("refuses train./model. keys, bad task keys and values, sizes the network cannot take, another backend, in one line", () => {
    const before = evaluationLines(runDir).length;
    expectOneLineError(
      selectiv(["eval", runDir, "--set", "train.width=8"]),
      /train\.width=8: eval changes the test condition only.*would change the trained network/,
    );
    expectOneLineError(
      selectiv(["eval", runDir, "--set", "model.chunkSize=8"]),
      /model\.chunkSize=8: eval changes the test condition only/,
    );
    expectOneLineError(selectiv(["eval", runDir, "--set", "task.bogus=1"]), /unknown key "bogus"; allowed: .*testGap/);
    expectOneLineError(selectiv(["eval", runDir, "--set", "task.noise=-1"]), /noise: got -1; expected a number ≥ 0/);
    expectOneLineError(selectiv(["eval", runDir, "--set", "task.alphabetSize=6"]), /gives 6 inputs .* the trained network has 4/);
    expectOneLineError(
      selectiv(["eval", runDir, "--backend", "cpu"]),
      /--backend: got "cpu"; .*only on the backend that trained it \(wasm\)/,
    );
    expect(evaluationLines(runDir)).toHaveLength(before);
  });

  it("refuses a missing folder, an unfinished run and a damaged checkpoint in one line naming the path", () => {
    const missing = join(tempDir("eval-missing"), "nothing");
    expectOneLineError(selectiv(["eval", missing]), new RegExp(`no run folder with a config.json at "${missing}"`));

    // Copies keep the folder's name: it is the run id that config.json's settings must give.
    const copy = join(tempDir("eval-copy"), basename(runDir));
    cpSync(runDir, copy, { recursive: true });
    const checkpoint = join(copy, "checkpoint.bin");
    const bytes = readFileSync(checkpoint);
    bytes[bytes.length >> 1] ^= 1;
    writeFileSync(checkpoint, bytes);
    expectOneLineError(selectiv(["eval", copy]), new RegExp(`checkpoint ${checkpoint}: damaged`));
    rmSync(checkpoint);
    expectOneLineError(selectiv(["eval", copy]), new RegExp(`${checkpoint}: missing`));
    rmSync(join(copy, "result.json"));
    expectOneLineError(selectiv(["eval", copy]), /the run has not finished \(no result\.json\)/);
  });
});
