// End-to-end tests of `selectiv sweep` (the built command): W&B sweep files of the reference, one-line errors, the
// local executor, and BullMQ on a real redis-server with a worker SIGKILLed mid-job.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type ModelRegistry,
  SelectivError,
  type TaskRegistry,
  Tokens,
  emptyOverrides,
  parseAssignments,
  planBenchmark,
  runId,
  transferTrainingSpec,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { createContainer } from "./container.js";
import { tableLines } from "./format.js";
import { MAX_SWEEP_POINTS, expandSweep, planningProgressLine, readSweepFile } from "./sweep/plan.js";
import type { SweepRun } from "./sweep/source.js";
import { referenceModels } from "./sweep/wandb-format.js";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");
const wbConfigs = resolve(root, "fixtures/wb_configs");
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `selectiv-sweep-${prefix}-`));

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function selectiv(args: string[]): Ran {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: Ran, mentions: RegExp): void {
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^selectiv: /);
  expect(lines[0]).toMatch(mentions);
}

interface DryRun {
  count: number;
  duplicates: number;
  ignored: { name: string }[];
  runs: { id: string; task: string; model: string; seed: number; assignments: string[]; point: Record<string, unknown> }[];
}

function events(out: string): { event: string; runId: string; pid: number }[] {
  return readFileSync(join(out, ".sweep", "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("selectiv sweep run --dry-run", () => {
  it("expands the reference's W&B sweep files to W&B's points (7×9×4×7×3×2 = 10,584) and maps their names", () => {
    const r = selectiv(["sweep", "run", join(wbConfigs, "task1_complexity.yaml"), "--dry-run", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as DryRun;
    // The Transformer's feat_size 648 trains at 768 (transformer.referenceWidths, as train.py): those 7×4×3×2 = 168
    // points are the 768 runs, merged.
    expect(doc.count + doc.duplicates).toBe(10_584);
    expect(doc.duplicates).toBe(168);
    expect(new Set(doc.runs.map((run) => run.id)).size).toBe(doc.count);
    expect(new Set(doc.runs.map((run) => run.model))).toEqual(
      new Set(["mamba2", "mamba", "transformer", "delta-net", "gated-delta-net", "gated-delta-product", "gla"]),
    );
    // grammar_scale: alphabet = amb + 1 and depth = amb; feat_size → width; the test gap is train_gap_max.
    const run = doc.runs.find((x) => x.model === "gated-delta-net" && x.point.amb === 26 && x.point.feat_size === 648 && x.seed === 3)!;
    expect(run.assignments).toEqual(
      expect.arrayContaining([
        "train.width=648",
        "train.layers=8",
        "train.batchSize=64",
        "task.ambiguities=26",
        "task.ambiguityDepth=26",
        "task.alphabetSize=27",
        "task.gapMin=0.1",
        "task.gapMax=0.1",
        "task.testGap=0.1",
        "task.seqLenMax=200",
        // --classify (train.py's default is next-symbol prediction); gap_kldiv's default.
        "task.mode=classification",
        "task.klSteps=windows",
      ]),
    );
    const mamba = doc.runs.find((x) => x.model === "mamba")!;
    expect(mamba.assignments).toContain("mamba.dState=128");
    expect(doc.runs.find((x) => x.model === "transformer")!.assignments).toContain("transformer.referenceWidths=true");
    expect(doc.ignored.map((i) => i.name)).toEqual(expect.arrayContaining(["project", "save_model", "grad_acc", "hash_save", "run_main"]));

    const text = selectiv(["sweep", "run", join(wbConfigs, "task2.yaml"), "--dry-run"]);
    expect(text.status, text.stderr).toBe(0);
    // 1,512 points, the 24 Transformer points at 648 merged with those at 768.
    expect(text.stdout).toMatch(/^1488 runs \(dry run: nothing trained/m);
  });

  it("gives one-line errors naming what it cannot map or check", () => {
    const dir = tempDir("bad");
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const wb = readFileSync(join(wbConfigs, "task2.yaml"), "utf8");
    expectOneLineError(
      selectiv([
        "sweep",
        "run",
        write("unmapped.yaml", wb.replace("parameters:\n", "parameters:\n  fancy_gate:\n    values: [1, 2]\n")),
        "--dry-run",
      ]),
      /parameters: train\.py argument "fancy_gate" has no selectiv equivalent/,
    );
    expectOneLineError(
      selectiv(["sweep", "run", write("wd.yaml", wb.replace("parameters:\n", "parameters:\n  wd:\n    values: [0.01]\n")), "--dry-run"]),
      /parameters\.wd: got 0\.01; selectiv reproduces only 0 \(selectiv's Adam has no weight decay\)/,
    );
    expectOneLineError(
      selectiv(["sweep", "run", write("key.yaml", "models: [gla]\nmethd: grid\n"), "--dry-run"]),
      /key\.yaml: unknown key "methd"; allowed: name, method/,
    );
    expectOneLineError(
      selectiv(["sweep", "run", write("value.yaml", "parameters:\n  train.width: [64, -3]\n"), "--dry-run"]),
      /value\.yaml: parameters\."train\.width": got -3; expected an integer in \[4, 8192\]/,
    );
  });
});

/** A sweep run planned as a worker plans it (sweep/run-child.ts). */
function planSweepRun(container: DependencyContainer, run: SweepRun) {
  const overrides = parseAssignments(container, run.assignments, { tasks: [run.task], models: [run.model] }, emptyOverrides());
  const request = { tasks: [run.task], models: [run.model], seeds: [run.seed], preset: run.preset, overrides, backend: run.backend };
  const [planned] = planBenchmark(container, { ...request, outDir: "." });
  return planned!;
}

describe("Task 4 reuses Task 2's trained runs", () => {
  it("at medium and paper its trained run is Task 2's own run (same run id); at quick it is its own (100 test samples)", async () => {
    const container = await createContainer();
    const trainTask = container.resolve<TaskRegistry>(Tokens.TaskRegistry).get("task2");
    const plan = (task: string, preset: "quick" | "medium" | "paper") => {
      const request = { tasks: [task], models: ["gla"], seeds: [3], preset, overrides: emptyOverrides(), backend: "cpu" as const };
      const [planned] = planBenchmark(container, { ...request, outDir: "." });
      return { ...planned!, backend: { name: "cpu" as const, reason: "" }, outDir: "." };
    };
    for (const preset of ["medium", "paper"] as const) {
      expect(runId(transferTrainingSpec(plan("task4", preset), trainTask)), preset).toBe(runId(plan("task2", preset)));
    }
    expect(runId(transferTrainingSpec(plan("task4", "quick"), trainTask))).not.toBe(runId(plan("task2", "quick")));
  });
});

// fixtures/wb_configs holds two of the reference's five files; the other three (task1_model_size.yaml, task3.yaml,
// task4.yaml) differ from task2.yaml only in the values below, which are written here from task2.yaml.
describe("the reference's other W&B files, as task2.yaml edited to their settings", () => {
  const wb = () => readFileSync(join(wbConfigs, "task2.yaml"), "utf8");
  const write = (name: string, text: string) => {
    const file = join(tempDir("wb"), name);
    writeFileSync(file, text);
    return file;
  };

  it("the Transformer's feat_size 648 and 1296 train at 768 and 1280 (train.py); other models at the width asked", async () => {
    const container = await createContainer();
    const { runs, duplicates } = expandSweep(container, readSweepFile(container, join(wbConfigs, "task2.yaml")));
    expect(duplicates).toBe(24);
    const width = (model: string, featSize: number) =>
      runs.filter((r) => r.model === model && r.point.feat_size === featSize).map((r) => planSweepRun(container, r).training.width);
    expect(new Set(width("transformer", 648))).toEqual(new Set([768]));
    expect(new Set(width("transformer", 1296))).toEqual(new Set([1280]));
    expect(width("transformer", 768)).toEqual([]); // merged into the 648 points' runs
    expect(new Set(width("gla", 648))).toEqual(new Set([648]));
    expect(new Set(width("gla", 1296))).toEqual(new Set([1296]));
  });

  it("task4.yaml: --test_pretrained with test_dur 1, 2, 5, 10 plans Task 4 runs; each model trains once, with task2.yaml's settings", async () => {
    const container = await createContainer();
    const file = write(
      "task4.yaml",
      wb()
        .replace("parameters:\n", "parameters:\n  test_dur:\n    values: [1, 2, 5, 10]\n")
        .replace("  - ${args}", '  - "--test_pretrained"\n  - ${args}'),
    );
    const task2 = expandSweep(container, readSweepFile(container, join(wbConfigs, "task2.yaml")));
    const task4 = expandSweep(container, readSweepFile(container, file));
    expect(task4.runs).toHaveLength(4 * task2.runs.length);
    const trainTask = container.resolve<TaskRegistry>(Tokens.TaskRegistry).get("task2");
    // The fields Task 2 has (task1's `complexity` 0 aside).
    const settings = (p: ReturnType<typeof planSweepRun>) => {
      const taskConfig = Object.fromEntries(Object.entries(p.taskConfig).filter(([key]) => key in trainTask.schema));
      return JSON.stringify([p.model.id, p.seed, taskConfig, p.modelConfig, p.training]);
    };
    const testedAt = new Map<string, number[]>();
    const trainedSettings = new Set<string>();
    for (const run of task4.runs) {
      expect(run.task).toBe("task4");
      expect(run.assignments).toContain(`task4.testGaps=${String(run.point.test_dur)}`);
      expect(run.assignments).toContain("task.testGap=1");
      const trained = transferTrainingSpec(
        { ...planSweepRun(container, run), backend: { name: "cpu", reason: "" }, outDir: "." },
        trainTask,
      );
      testedAt.set(runId(trained), [...(testedAt.get(runId(trained)) ?? []), Number(run.point.test_dur)]);
      trainedSettings.add(settings(trained));
    }
    // One trained Task-2 model per setting, tested at each test_dur; the settings are task2.yaml's (which it plans on task1).
    expect(testedAt.size).toBe(task2.runs.length);
    for (const durations of testedAt.values()) expect(durations.sort((a, b) => a - b)).toEqual([1, 2, 5, 10]);
    expect(trainedSettings).toEqual(new Set(task2.runs.map((r) => settings(planSweepRun(container, r)))));
  });

  it("task3.yaml's settings (distractors, d_state 64) and task1_model_size.yaml's (amb 40, no grammar_scale) plan", async () => {
    const container = await createContainer();
    const task3 = wb()
      .replace("values: [128]", "values: [64]")
      .replace("train_gap_max:\n    values: [1.]", "train_gap_max:\n    values: [0.1]")
      .replace("train_noise:\n    values: [0.2]", "train_noise:\n    values: [0.]")
      .replace(
        "parameters:\n",
        "parameters:\n  gap_prob:\n    values: [0.1]\n  gap_start:\n    values: [50]\n  grammar_gap:\n    values: [True]\n",
      );
    const { runs } = expandSweep(container, readSweepFile(container, write("task3.yaml", task3)));
    const mamba = planSweepRun(
      container,
      runs.find((r) => r.model === "mamba2")!,
    );
    expect(mamba.modelConfig.dState).toBe(64);
    expect(mamba.taskConfig).toMatchObject({ distractors: true, gapStart: 50, gapProb: 0.1, gapMax: 0.1, noise: 0 });
    const size = wb()
      .replace("train_gap_max:\n    values: [1.]", "train_gap_max:\n    values: [0.1]")
      .replace("values: [0.2]", "values: [0.]");
    expect(expandSweep(container, readSweepFile(container, write("task1_model_size.yaml", size))).runs).toHaveLength(1488);
  });
});

describe("the reference's model names (read off the model definitions)", () => {
  it("map train.py's --model names to selectiv models, and d_state, dt_rank, rope_base to the models train.py gives them", async () => {
    const container = await createContainer();
    const byName = referenceModels(container.resolve<ModelRegistry>(Tokens.ModelRegistry));
    expect(Object.fromEntries([...byName].map(([name, definition]) => [name, definition.id]))).toEqual({
      transformer: "transformer",
      mamba: "mamba",
      mamba2: "mamba2",
      gla: "gla",
      retnet: "retnet",
      delta_net: "delta-net",
      gated_delta_net: "gated-delta-net",
      gated_delta_product: "gated-delta-product",
      gated_deltaproduct: "gated-delta-product",
      mesa_net: "mesa-net",
      s4: "s4d",
      gru: "gru",
    });
    const takes = (arg: string) =>
      [...new Set(byName.values())].filter((definition) => definition.referenceArguments?.[arg] !== undefined).map((d) => d.id);
    expect(takes("d_state").sort()).toEqual(["mamba", "mamba2", "s4d"]);
    expect(takes("dt_rank")).toEqual(["mamba"]);
    expect(takes("rope_base")).toEqual(["transformer"]);

    const dir = tempDir("models");
    const file = join(dir, "models.yaml");
    writeFileSync(
      file,
      "program: train.py\nparameters:\n  base_set:\n    values: [one_hot]\n  train_gap_max:\n    values: [1.]\n  model:\n    values: [s5]\n",
    );
    expectOneLineError(
      selectiv(["sweep", "run", file, "--dry-run"]),
      /"s5" has no selectiv port; mapped: .*delta_net, .*gated_deltaproduct, .*s4, /,
    );
  });
});

describe("random search", () => {
  it("draws count configurations, the same on every run, each crossed with every model and seed", async () => {
    const dir = tempDir("random");
    const file = join(dir, "random.yaml");
    writeFileSync(
      file,
      "method: random\ncount: 5\nmodels: [gla, mamba]\nseeds: [1, 2]\nparameters:\n" +
        "  train.lr: {min: 0.0001, max: 0.01, distribution: log_uniform}\n  train.width: [32, 64]\n  train.warmupSteps: {min: 1, max: 9}\n",
    );
    const container = await createContainer();
    const first = expandSweep(container, readSweepFile(container, file));
    expect(first.runs).toHaveLength(20);
    const configs = (model: string, seed: number) =>
      first.runs
        .filter((r) => r.model === model && r.seed === seed)
        .map((r) => [r.point["train.lr"], r.point["train.width"], r.point["train.warmupSteps"]]);
    expect(configs("mamba", 2)).toEqual(configs("gla", 1));
    for (const [lr, width, warmup] of configs("gla", 1)) {
      expect(lr as number).toBeGreaterThanOrEqual(0.0001);
      expect(lr as number).toBeLessThanOrEqual(0.01);
      expect([32, 64]).toContain(width);
      expect(Number.isInteger(warmup) && (warmup as number) >= 1 && (warmup as number) <= 9).toBe(true);
    }
    expect(expandSweep(container, readSweepFile(container, file)).runs.map((r) => r.id)).toEqual(first.runs.map((r) => r.id));
  });
});

describe("planning at scale", () => {
  /** A grid file of `values` warm-up steps × 100 evalEvery values × 10 epochs (values × 1,000 points). */
  function gridFile(values: number): string {
    const list = (n: number, from: number) => `[${Array.from({ length: n }, (_, i) => from + i).join(", ")}]`;
    const file = join(tempDir("grid"), "grid.yaml");
    writeFileSync(
      file,
      `preset: smoke\nmodels: [gla]\nparameters:\n  train.warmupSteps: ${list(values, 0)}\n` +
        `  train.evalEvery: ${list(100, 1000)}\n  train.epochs: ${list(10, 1)}\n`,
    );
    return file;
  }

  it("plans a 100,000-point grid into 100,000 distinct runs, one point at a time, reporting progress", async () => {
    // The 10⁶-point grid takes about ten times as long; docs/SWEEPS.md gives its measured time.
    const container = await createContainer();
    const progress: [number, number][] = [];
    const sweep = expandSweep(
      container,
      readSweepFile(container, gridFile(100)),
      {},
      {
        onProgress: (planned, total) => progress.push([planned, total]),
        progressIntervalMs: 0,
      },
    );
    expect(sweep.duplicates).toBe(0);
    expect(new Set(sweep.runs.map((r) => r.id)).size).toBe(100_000);
    expect(sweep.runs[12_345]!.point).toEqual({
      task: "task1",
      model: "gla",
      "train.warmupSteps": 12,
      "train.evalEvery": 1034,
      "train.epochs": 6,
      seed: 1,
    });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual([100_000, 100_000]);
    expect(progress.every(([planned, total], i) => total === 100_000 && planned > (progress[i - 1]?.[0] ?? 0))).toBe(true);
    expect(planningProgressLine(250_000, 1_000_000)).toBe("planning: 250,000 / 1,000,000 runs");
  }, 60_000);

  it("refuses more than 1,000,000 points before planning any, in one line naming count or the grid", async () => {
    const container = await createContainer();
    const file = join(tempDir("huge"), "huge.yaml");
    writeFileSync(file, "method: random\ncount: 100000000\nmodels: [gla, mamba]\nparameters:\n  train.lr: {min: 0.0001, max: 0.01}\n");
    const refuse = (run: () => unknown): string => {
      const started = Date.now();
      expect(run).toThrow(SelectivError);
      expect(Date.now() - started).toBeLessThan(2000);
      try {
        run();
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    };
    expect(refuse(() => expandSweep(container, readSweepFile(container, file)))).toBe(
      `${file}: count: got 100000000 (× 2 task/model/seed combinations = 200,000,000 runs); a sweep plans at most 1,000,000 runs ` +
        "(draw fewer, or split the search into several sweeps)",
    );
    expect(refuse(() => expandSweep(container, readSweepFile(container, file), { count: 600_000 }))).toMatch(/^--count: got 600000 /);
    expect(MAX_SWEEP_POINTS).toBe(1_000_000);
    expect(refuse(() => expandSweep(container, readSweepFile(container, gridFile(1001))))).toMatch(
      /: parameters: the grid has 1,001,000 points, and a sweep plans at most 1,000,000 \(/,
    );
  });

  it("lays out a table of 500,000 rows (no spread of the rows into one call)", () => {
    const rows = Array.from({ length: 500_000 }, (_, i) => [`run-${i}`, String(i)]);
    const lines = [...tableLines(["run id", "n"], rows)];
    expect(lines).toHaveLength(500_002);
    expect(lines.at(-1)).toBe("run-499999  499999");
  });

  it("sweep run --dry-run --json streams a 100,000-run list, with progress lines on stderr while it plans", () => {
    const r = selectiv(["sweep", "run", gridFile(100), "--dry-run", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const dry = JSON.parse(r.stdout) as DryRun & { duplicates: number };
    expect(dry.count).toBe(100_000);
    expect(dry.duplicates).toBe(0);
    expect(new Set(dry.runs.map((run) => run.id)).size).toBe(100_000);
    // Lines start after a second of planning (this machine takes several); the last is the total.
    const lines = r.stderr.trim().split("\n").filter(Boolean);
    for (const line of lines) expect(line).toMatch(/^planning: [\d,]+ \/ 100,000 runs$/);
    if (lines.length) expect(lines.at(-1)).toBe("planning: 100,000 / 100,000 runs");
  }, 120_000);
});

describe("selectiv sweep run (local executor)", () => {
  it("trains a 4-run sweep on 2 worker processes at once; a repeat skips every finished run", () => {
    const dir = tempDir("local");
    const file = join(dir, "sweep.yaml");
    writeFileSync(file, "preset: smoke\nbackend: wasm\nmodels: [gla]\nseeds: [1, 2]\nparameters:\n  train.width: [16, 24]\n");
    const out = join(dir, "out");
    const first = selectiv(["sweep", "run", file, "--out", out, "--workers", "2", "--json"]);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).counts).toMatchObject({ done: 4, failed: 0, total: 4 });
    // Two training processes, each training one run at a time, and their runs overlap in time.
    const started = events(out).filter((e) => e.event === "started");
    expect(new Set(started.map((e) => (e as unknown as { childPid: number }).childPid)).size).toBe(2);
    const spans = readdirSync(join(out, ".sweep", "done")).map((f) => {
      const record = JSON.parse(readFileSync(join(out, ".sweep", "done", f), "utf8"));
      return [Date.parse(record.startedAt), Date.parse(record.finishedAt)] as const;
    });
    expect(spans.some(([s1, e1], i) => spans.some(([s2, e2], j) => i !== j && s1 < e2 && s2 < e1))).toBe(true);
    expect(readFileSync(join(out, "results.csv"), "utf8").trim().split("\n")).toHaveLength(5);

    const again = selectiv(["sweep", "run", file, "--out", out, "--json"]);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).summary).toMatchObject({ alreadyDone: 4, completed: 0 });
    const status = selectiv(["sweep", "status", out]);
    expect(status.stdout).toMatch(/4 done, 0 running, 0 failed, 0 queued \(4 runs\)/);

    // Finished run folders copied into a fresh sweep folder (another machine's results) count as done there too.
    const elsewhere = join(dir, "elsewhere");
    for (const run of readdirSync(out).filter((name) => name.startsWith("task1-")))
      cpSync(join(out, run), join(elsewhere, run), { recursive: true });
    const joined = selectiv(["sweep", "run", file, "--out", elsewhere, "--json"]);
    expect(joined.status, joined.stderr).toBe(0);
    expect(JSON.parse(joined.stdout).summary).toMatchObject({ alreadyDone: 4, completed: 0 });
  });
});

/** A free loopback port for redis-server. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => done(port));
    });
  });
}

const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;
const started: ChildProcess[] = [];
afterAll(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

describe("selectiv sweep on BullMQ", () => {
  // CI installs redis-server (.ci/run) and sets SELECTIV_REQUIRE_REDIS, so there the test never skips.
  it.skipIf(!hasRedis && !process.env.SELECTIV_REQUIRE_REDIS)(
    "12 runs, two workers, one SIGKILLed mid-job: every run completes exactly once and the report lists all 12",
    async () => {
      const port = await freePort();
      const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: "ignore",
      });
      started.push(redis);
      const url = `redis://127.0.0.1:${port}`;
      for (let i = 0; i < 100 && spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() !== "PONG"; i++)
        await sleep(50);

      const dir = tempDir("bullmq");
      const file = join(dir, "sweep.yaml");
      writeFileSync(
        file,
        "name: smoke12\npreset: smoke\nbackend: wasm\nmodels: [gla, delta-net]\nseeds: [1, 2, 3]\nparameters:\n  train.width: [16, 24]\n",
      );
      const out = join(dir, "out");
      // Long enough to be killed mid-way: 16 steps, a checkpoint every 4.
      const set = ["--set", "task1.trainSize=128", "--set", "train.evalEvery=32"];
      const enqueue = selectiv(["sweep", "run", file, "--out", out, "--executor", "bullmq", "--redis", url, ...set]);
      expect(enqueue.status, enqueue.stderr).toBe(0);
      expect(enqueue.stderr).toMatch(/12 runs enqueued/);
      // Enqueueing again adds nothing (one job per run id).
      const twice = selectiv(["sweep", "run", file, "--out", out, "--executor", "bullmq", "--redis", url, ...set]);
      expect(twice.stderr).toMatch(/0 runs enqueued on selectiv-sweeps at \S+, 12 already queued/);

      const worker = () => {
        const p = spawn(process.execPath, [bin, "sweep", "worker", "--redis", url, "--until-empty", "--lock-seconds", "2"], {
          cwd: root,
          stdio: ["ignore", "ignore", "pipe"],
        });
        started.push(p);
        let log = "";
        p.stderr!.on("data", (d) => (log += d));
        const exited = new Promise<number | null>((done) => p.on("exit", (code) => done(code)));
        return { p, exited, log: () => log };
      };
      const victim = worker();
      const survivor = worker();

      // SIGKILL the victim once its training process has written a checkpoint of a run it has not finished.
      const claims = join(out, ".sweep", "claims");
      let killed: { runId: string; childPid: number } | undefined;
      for (let i = 0; i < 3000 && !killed; i++) {
        for (const name of existsSync(claims) ? readdirSync(claims) : []) {
          let claim: { runId: string; holder: { pid: number; childPid?: number } };
          try {
            claim = JSON.parse(readFileSync(join(claims, name), "utf8"));
          } catch {
            continue;
          }
          const runDir = join(out, claim.runId);
          if (
            claim.holder.pid === victim.p.pid &&
            claim.holder.childPid &&
            existsSync(join(runDir, "checkpoint.bin")) &&
            !existsSync(join(runDir, "result.json"))
          ) {
            victim.p.kill("SIGKILL");
            killed = { runId: claim.runId, childPid: claim.holder.childPid };
            break;
          }
        }
        if (!killed) await sleep(10);
      }
      expect(killed, "the victim was killed mid-job").toBeDefined();
      await victim.exited;
      expect(await survivor.exited, survivor.log()).toBe(0);

      // The victim's training process noticed and stopped; its job was taken over by the survivor.
      expect(pidAlive(killed!.childPid)).toBe(false);
      const log = events(out);
      expect(log.some((e) => e.event === "took-over" && e.runId === killed!.runId && e.pid === survivor.p.pid)).toBe(true);
      const done = readdirSync(join(out, ".sweep", "done")).map((f) => JSON.parse(readFileSync(join(out, ".sweep", "done", f), "utf8")));
      expect(done).toHaveLength(12);
      expect(done.find((d) => d.runId === killed!.runId).holder.pid).toBe(survivor.p.pid);
      // Exactly once: one completion per run, one run folder with a result per run.
      const manifest = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { runs: { id: string }[] };
      for (const { id } of manifest.runs) {
        expect(
          log.filter((e) => e.event === "completed" && e.runId === id),
          id,
        ).toHaveLength(1);
        expect(existsSync(join(out, id, "result.json")), id).toBe(true);
      }
      expect(readdirSync(out).filter((d) => existsSync(join(out, d, "result.json")))).toHaveLength(12);

      const status = selectiv(["sweep", "status", out, "--json"]);
      expect(JSON.parse(status.stdout).counts).toMatchObject({ done: 12, running: 0, failed: 0, queued: 0 });
      const report = selectiv(["report", out, "--json"]);
      expect(report.status, report.stderr).toBe(0);
      expect(JSON.parse(report.stdout).runs).toBe(12);
      expect(readFileSync(join(out, "results.csv"), "utf8").trim().split("\n")).toHaveLength(13);
      redis.kill("SIGTERM");
    },
    120_000,
  );
});
