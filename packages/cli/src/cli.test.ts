// End-to-end tests of the built `selectiv` command (pnpm test builds first).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");
const examplePlugin = join(root, "examples/selectiv-plugin-example");

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function selectiv(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Ran {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? root,
    env: { ...process.env, ...options.env },
    encoding: "utf8",
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));
}

/** Asserts the one-line-error contract: non-zero exit, a single `selectiv: ...` line, no stack trace. */
function expectOneLineError(r: Ran, mentions: RegExp): void {
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^selectiv: /);
  expect(lines[0]).toMatch(mentions);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("selectiv bench run", () => {
  it("--preset smoke --model gla --json prints the documented JSON, and the same seed gives the same metrics", () => {
    const out = tempDir("smoke");
    const first = selectiv(["bench", "run", "--preset", "smoke", "--model", "gla", "--json", "--out", out, "--backend", "cpu"]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/tfjs-node/);
    const doc = JSON.parse(first.stdout) as { runs: Record<string, unknown>[]; backend: { name: string } };
    expect(doc.runs).toHaveLength(1);
    const run = doc.runs[0]!;
    for (const key of ["task", "model", "seed", "params", "backend", "testAccuracy", "testLoss", "wallSeconds", "runDir"]) {
      expect(run, key).toHaveProperty(key);
    }
    expect(run.task).toBe("task1");
    expect(run.model).toBe("gla");
    expect(run.backend).toBe("cpu");
    expect(typeof run.testAccuracy).toBe("number");
    // The ceiling (docs/spec/TASKS.md §4.1): above the baseline, at most 1, and no trained model above it.
    expect(run.ceiling as number).toBeGreaterThanOrEqual(run.majorityBaseline as number);
    expect(run.ceiling as number).toBeLessThanOrEqual(1);
    expect(run.testAccuracy as number).toBeLessThanOrEqual((run.ceiling as number) + 1e-9);
    expect(run.bestTestAccuracy as number).toBeLessThanOrEqual((run.ceiling as number) + 1e-9);
    const metrics1 = readFileSync(join(String(run.runDir), "metrics.jsonl"), "utf8");
    const result1 = JSON.parse(readFileSync(join(String(run.runDir), "result.json"), "utf8"));
    expect(result1.testAccuracy).toBe(run.testAccuracy);

    // A second folder, so the run is computed again rather than reused.
    const out2 = tempDir("smoke2");
    const second = selectiv(["bench", "run", "--preset", "smoke", "--model", "gla", "--json", "--out", out2, "--backend", "cpu"]);
    expect(second.status, second.stderr).toBe(0);
    const run2 = (JSON.parse(second.stdout) as { runs: Record<string, unknown>[] }).runs[0]!;
    expect(run2.testAccuracy).toBe(run.testAccuracy);
    expect(run2.testLoss).toBe(run.testLoss);
    expect(run2.ceiling).toBe(run.ceiling);
    const strip = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((l) => ({ ...JSON.parse(l), wallSeconds: 0 }));
    expect(strip(readFileSync(join(String(run2.runDir), "metrics.jsonl"), "utf8"))).toEqual(strip(metrics1));
    expect(run2.runDir).not.toBe(run.runDir);
    const csv = readFileSync(join(out, "results.csv"), "utf8").trim().split("\n");
    expect(csv[0]).toMatch(/^task,model,seed/);
    expect(csv[0]).toContain(",majorityBaseline,ceiling,");
    expect(csv).toHaveLength(2);

    // The same command in the first folder again reuses the finished run.
    const third = selectiv(["bench", "run", "--preset", "smoke", "--model", "gla", "--json", "--out", out, "--backend", "cpu"]);
    expect(third.status, third.stderr).toBe(0);
    const run3 = (JSON.parse(third.stdout) as { runs: Record<string, unknown>[] }).runs[0]!;
    expect(run3.runDir).toBe(run.runDir);
    expect(run3.testAccuracy).toBe(run.testAccuracy);
  });

  const badInputs: [string, string[], RegExp][] = [
    ["unknown task", ["--task", "nope"], /unknown task "nope".*task1/],
    ["unknown model", ["--model", "nope"], /unknown model "nope".*gla/],
    ["unknown preset", ["--preset", "huge"], /--preset.*"huge".*smoke, quick, medium, paper/],
    ["unknown --set key", ["--set", "train.wdth=3"], /unknown key "wdth".*width/],
    ["bad --set value", ["--set", "train.width=-3"], /train\.width: got -3; expected an integer/],
    ["bad task value", ["--set", "task.ambiguities=1.5"], /ambiguities.*integer/],
    ["malformed --set", ["--set", "width"], /--set.*SECTION\.KEY=VALUE/],
    ["unknown backend", ["--backend", "tpu"], /--backend.*"tpu".*auto/],
  ];
  for (const [name, args, mentions] of badInputs) {
    it(`bad input (${name}) gives one line and a non-zero exit`, () => {
      const preset = args.includes("--preset") ? [] : ["--preset", "smoke"];
      expectOneLineError(selectiv(["bench", "run", ...preset, "--out", tempDir("bad"), ...args]), mentions);
    });
  }

  it("a malformed config file gives one line naming the file", () => {
    const dir = tempDir("cfg");
    const yaml = join(dir, "bad.yaml");
    writeFileSync(yaml, "preset: smoke\nmodels: [gla\n");
    expectOneLineError(selectiv(["bench", "run", "--config", yaml]), /bad\.yaml.*YAML/);
    const json = join(dir, "bad.json");
    writeFileSync(json, '{"preset": "smoke", "colour": 1}');
    expectOneLineError(selectiv(["bench", "run", "--config", json]), /unknown key "colour"/);
  });

  it("an unwritable --out gives one line", () => {
    const dir = tempDir("out");
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    expectOneLineError(selectiv(["bench", "run", "--preset", "smoke", "--out", join(file, "sub")]), /--out: cannot write/);
  });
});

describe("task 4 (transfer)", () => {
  it("trains Task 2 (or reuses it) and reports the test accuracy at each longer gap", () => {
    const out = tempDir("task4");
    const r = selectiv(["bench", "run", "--task", "task4", "--preset", "smoke", "--json", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const run = (
      JSON.parse(r.stdout) as {
        runs: {
          task: string;
          status: string;
          trainedIn: string;
          ceiling: number;
          variants: { value: number; testAccuracy: number; ceiling: number }[];
        }[];
      }
    ).runs[0]!;
    expect(run.task).toBe("task4");
    expect(run.status).toBe("completed");
    // Smoke trains with gaps up to 0.3 s (3 steps): tested at 1, 2, 5 and 10 times that.
    expect(run.variants.map((v) => v.value)).toEqual([3, 6, 15, 30]);
    for (const v of run.variants) {
      expect(v.testAccuracy).toBeGreaterThan(0);
      expect(v.testAccuracy).toBeLessThanOrEqual(v.ceiling + 1e-9);
    }
    // The mean of the variants' ceilings (docs/spec/TASKS.md §4.1).
    expect(run.ceiling).toBeCloseTo(run.variants.reduce((a, v) => a + v.ceiling, 0) / run.variants.length, 12);
    expect(run.trainedIn).toMatch(/task2-gla-seed1-/);
    expect(JSON.parse(readFileSync(join(run.trainedIn, "result.json"), "utf8")).task).toBe("task2");
    // Again: the Task-2 model is reused, not retrained.
    const again = selectiv(["bench", "run", "--task", "task4", "--preset", "smoke", "--out", out]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/reusing it/);
  });
});

describe("selectiv models/tasks list", () => {
  it("lists GLA with its taxonomy and parameter count", () => {
    const r = selectiv(["models", "list", "--json", "--width", "256"]);
    expect(r.status, r.stderr).toBe(0);
    const gla = (JSON.parse(r.stdout) as { models: Record<string, unknown>[] }).models.find((m) => m.id === "gla")!;
    expect(gla.transition).toBe("diagonal");
    expect(gla.parametersPerLayer).toBe(536_960); // docs/spec/MODELS.md §7.2
  });

  it("lists task1", () => {
    const r = selectiv(["tasks", "list", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { tasks: { id: string }[] }).tasks.map((t) => t.id)).toContain("task1");
  });
});

describe("plugins", () => {
  it("a plugin linked through `selectiv plugins link` registers its LRM and runs through bench run", () => {
    const data = tempDir("xdg");
    const env = { XDG_DATA_HOME: data, XDG_CONFIG_HOME: data, XDG_CACHE_HOME: data };
    const link = selectiv(["plugins", "link", examplePlugin, "--no-install"], { env });
    expect(link.status, link.stderr).toBe(0);
    const list = selectiv(["models", "list", "--json"], { env });
    expect(list.status, list.stderr).toBe(0);
    const models = (JSON.parse(list.stdout) as { models: { id: string; owner: string }[] }).models;
    expect(models.find((m) => m.id === "example-gated-retention")?.owner).toBe("plugin selectiv-plugin-example");
    const run = selectiv(["bench", "run", "--preset", "smoke", "--model", "example-gated-retention", "--json", "--out", tempDir("plug")], {
      env,
    });
    expect(run.status, run.stderr).toBe(0);
    const result = (JSON.parse(run.stdout) as { runs: { model: string; testAccuracy: number }[] }).runs[0]!;
    expect(result.model).toBe("example-gated-retention");
    expect(result.testAccuracy).toBeGreaterThan(0);
  });

  it("a package with the selectiv-plugin keyword that the project depends on is found; a broken one costs one warning", () => {
    const project = tempDir("proj");
    mkdirSync(join(project, "node_modules"));
    symlinkSync(examplePlugin, join(project, "node_modules", "selectiv-plugin-example"));
    const broken = join(project, "node_modules", "selectiv-plugin-broken");
    mkdirSync(broken);
    writeFileSync(
      join(broken, "package.json"),
      JSON.stringify({ name: "selectiv-plugin-broken", type: "module", main: "index.js", keywords: ["selectiv-plugin"] }),
    );
    writeFileSync(join(broken, "index.js"), 'throw new Error("boom at load\\nsecond line");\n');
    // Local plugins load when the project declares them (undeclared ones: plugins.test.ts).
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ dependencies: { "selectiv-plugin-example": "*", "selectiv-plugin-broken": "*" } }),
    );
    const r = selectiv(["models", "list", "--json"], { cwd: project });
    expect(r.status, r.stderr).toBe(0);
    const ids = (JSON.parse(r.stdout) as { models: { id: string }[] }).models.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["gla", "example-gated-retention"]));
    const warnings = r.stderr.trim().split("\n");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: plugin selectiv-plugin-broken: skipped: Error: boom at load$/);
  });
});
