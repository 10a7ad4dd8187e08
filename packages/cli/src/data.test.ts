// End-to-end tests of `selectiv data …` and `selectiv grammar show` (the built bin; pnpm test builds first).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DOMParser, onWarningStopParsing } from "@xmldom/xmldom";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");
const FIXTURE = resolve(root, "fixtures/reference-amb6-seed3");
const REFERENCE_STATS = resolve(root, "fixtures/reference-grammar-stats.json");

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function selectiv(args: string[], env: Record<string, string | undefined> = {}): Ran {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env },
    encoding: "utf8",
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(r: Ran): T {
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));

function filesOf(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "latin1")]));
}

function expectOneLineError(r: Ran, mentions: RegExp): void {
  expect(r.status).not.toBe(0);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^selectiv: /);
  expect(lines[0]).toMatch(mentions);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

interface Generated {
  key: string;
  reused: boolean;
  files: string[];
  out: string;
  splits: Record<string, number>;
}

describe("selectiv data generate", () => {
  it("same seed → byte-identical files; the second run reuses the cache; the reference export imports back", () => {
    const cache = tempDir("cache");
    const args = ["data", "generate", "--task", "task3", "--preset", "smoke", "--seed", "2", "--json", "--cache", cache];
    const first = json<Generated>(selectiv([...args, "--out", tempDir("gen1")]));
    expect(first.reused).toBe(false);
    expect(first.splits).toEqual({ train: 64, test: 32 });
    expect(first.files).toEqual(["grammar.json", "manifest.json", "selectiv-files.json", "test.jsonl", "train.jsonl"]);
    const second = json<Generated>(selectiv([...args, "--out", tempDir("gen2")]));
    expect(second.reused).toBe(true);
    expect(second.key).toBe(first.key);
    const uncached = json<Generated>(
      selectiv([
        "data",
        "generate",
        "--task",
        "task3",
        "--preset",
        "smoke",
        "--seed",
        "2",
        "--json",
        "--no-cache",
        "--out",
        tempDir("gen3"),
      ]),
    );
    expect(uncached.key).toBe(first.key);
    expect(filesOf(second.out)).toEqual(filesOf(first.out));
    expect(filesOf(uncached.out)).toEqual(filesOf(first.out));

    const changed = json<Generated>(selectiv([...args, "--set", "task.gapProb=0.5", "--out", tempDir("gen4")]));
    expect(changed.key).not.toBe(first.key);
    expect(changed.reused).toBe(false);

    const exported = json<Generated>(
      selectiv([
        "data",
        "generate",
        "--task",
        "task1",
        "--preset",
        "smoke",
        "--format",
        "reference",
        "--size",
        "10",
        "--json",
        "--cache",
        cache,
        "--out",
        tempDir("ref"),
      ]),
    );
    expect(exported.files).toEqual(["config.yaml", "selectiv-files.json", "test", "train", "transitions"]);
    const original = json<{ states: string[] }>(
      selectiv(["data", "show", "--task", "task1", "--preset", "smoke", "--index", "3", "--json"]),
    );
    const imported = json<{ states: string[] }>(
      selectiv([
        "data",
        "show",
        "--task",
        "reference-dataset",
        "--set",
        `reference-dataset.path=${exported.out}`,
        "--index",
        "3",
        "--json",
      ]),
    );
    expect(imported.states).toEqual(original.states);
  });

  it("--out: a foreign folder is refused in one line; a re-generate or --force leaves no file of the earlier run", () => {
    const generate = (out: string, ...extra: string[]): Ran =>
      selectiv(["data", "generate", "--preset", "smoke", "--format", "reference", "--no-cache", "--out", out, ...extra]);
    const foreign = tempDir("foreign");
    writeFileSync(join(foreign, "train"), "someone else's\n");
    expectOneLineError(generate(foreign), /--out: ".*foreign-.*" holds train and is not an earlier output of data generate.*--force/);
    expect(readdirSync(foreign)).toEqual(["train"]);

    const out = tempDir("regen");
    expect(generate(out, "--seed", "1").status).toBe(0);
    const r = generate(out, "--seed", "2", "--split", "test", "--size", "5");
    expect(r.status, r.stderr).toBe(0);
    const fresh = tempDir("regen-fresh");
    generate(fresh, "--seed", "2", "--split", "test", "--size", "5");
    expect(filesOf(out)).toEqual(filesOf(fresh));
    expect(readdirSync(out)).not.toContain("train");

    expect(generate(foreign, "--seed", "2", "--split", "test", "--size", "5", "--force").status).toBe(0);
    expect(filesOf(foreign)).toEqual(filesOf(fresh));
  });

  it("a damaged cache entry is one warning line and regenerated, never copied out", () => {
    const cache = tempDir("damaged");
    const args = ["data", "generate", "--preset", "smoke", "--json", "--cache", cache];
    const first = json<Generated & { cachePath: string }>(selectiv([...args, "--out", tempDir("damaged-a")]));
    const train = join(first.cachePath, "train.jsonl");
    writeFileSync(train, readFileSync(train, "utf8").split("\n").slice(0, 21).join("\n"));
    const r = selectiv([...args, "--out", tempDir("damaged-b")]);
    const second = json<Generated>(r);
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^warning: cache entry .*: train\.jsonl: 20 lines; expected 64; regenerating it$/),
    ]);
    expect(second.reused).toBe(false);
    expect(filesOf(second.out)).toEqual(filesOf(first.out));
  });

  it("bad requests are one line: unknown task, too many samples, a section that does not apply", () => {
    const out = tempDir("bad");
    expectOneLineError(
      selectiv(["data", "generate", "--task", "task9", "--out", out]),
      /unknown task "task9"; available: reference-dataset, task1, task2, task3/,
    );
    expectOneLineError(
      selectiv(["data", "generate", "--preset", "smoke", "--split", "test", "--size", "33", "--out", out]),
      /--size: got 33; expected an integer in \[1, 32\] \(the test samples of task1/,
    );
    expectOneLineError(selectiv(["data", "generate", "--set", "train.width=8", "--out", out]), /--set train\.width: does not apply here/);
    expectOneLineError(
      selectiv(["data", "generate", "--format", "csv", "--out", out]),
      /--format: got "csv"; expected one of selectiv, reference/,
    );
  });
});

describe("selectiv data stats", () => {
  it("--json: the four figures averaged over seeds 1-8 at amb = depth = 8 match the reference generator's", () => {
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((s) => ["--seed", String(s)]);
    const doc = json<{ seeds: { seed: number; edges: number }[]; mean: Record<string, number> }>(
      selectiv(["data", "stats", "--preset", "paper", "--set", "task.complexity=8", ...seeds, "--json"]),
    );
    expect(doc.seeds.map((s) => s.seed)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const rows = (JSON.parse(readFileSync(REFERENCE_STATS, "utf8")) as { by_amb: Record<string, Record<string, number>[]> }).by_amb["8"]!;
    const mean = (key: string): number => rows.reduce((a, r) => a + r[key]!, 0) / rows.length;
    expect(doc.mean.states).toBe(65);
    // Means of 8 grammars each: sampling alone moves them by several percent (see the grammar test's tolerance).
    const pairs: [string, string, number][] = [
      ["edges", "edges", 0.05],
      ["edgesToEnd", "edges_to_end", 0.35],
      ["te", "te", 0.05],
      ["meanStringLength", "mean_len", 0.25],
    ];
    for (const [ours, theirs, tolerance] of pairs) {
      expect(Math.abs(doc.mean[ours]! - mean(theirs)) / mean(theirs), `${ours}: ${doc.mean[ours]} vs ${mean(theirs)}`).toBeLessThan(
        tolerance,
      );
    }
  });

  it("a grammar the knobs cannot give is one line", () => {
    expectOneLineError(
      selectiv(["data", "stats", "--set", "task.ambiguities=13"]),
      /ambiguities: got 13; expected at most alphabetSize - 1 = 12/,
    );
  });
});

describe("selectiv data show", () => {
  it("prints symbols, states, gaps and distractors; colour only when asked and never with NO_COLOR", () => {
    const args = ["data", "show", "--task", "task3", "--preset", "smoke", "--index", "1"];
    const doc = json<{ symbols: string[]; states: string[]; gaps: number[]; distractors: string[][] }>(selectiv([...args, "--json"]));
    expect(doc.symbols).toHaveLength(24);
    expect(doc.distractors.map((d) => d.length)).toEqual(doc.gaps);
    const plain = selectiv(args);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).not.toContain("\x1b[");
    const rows = plain.stdout.split("\n");
    expect(
      rows
        .find((l) => l.startsWith("state"))!
        .split(/\s+/)
        .slice(1),
    ).toEqual(doc.states.slice(0, rows.find((l) => l.startsWith("state"))!.split(/\s+/).length - 1));
    expect(selectiv(args, { FORCE_COLOR: "1" }).stdout).toContain("\x1b[");
    expect(selectiv(args, { FORCE_COLOR: "1", NO_COLOR: "1" }).stdout).not.toContain("\x1b[");
    expectOneLineError(selectiv([...args.slice(0, -1), "64"]), /--index: got 64; expected an integer in \[0, 63\]/);
  });
});

describe("selectiv grammar show", () => {
  it("svg is a drawing with a circle per state and a path per edge; dot lists every edge", () => {
    const args = ["grammar", "show", "--preset", "paper", "--set", "task.complexity=5", "--seed", "3"];
    const grammar = json<{ states: string[]; edges: [string, string, number][] }>(selectiv([...args, "--json"]));
    const svgPath = join(tempDir("svg"), "grammar.svg");
    const r = selectiv([...args, "--format", "svg", "--out", svgPath]);
    expect(r.status, r.stderr).toBe(0);
    const doc = new DOMParser({ onError: onWarningStopParsing }).parseFromString(readFileSync(svgPath, "utf8"), "image/svg+xml");
    expect(doc.documentElement!.nodeName).toBe("svg");
    expect(doc.getElementsByTagName("circle")).toHaveLength(grammar.states.length);
    expect(doc.getElementsByTagName("path")).toHaveLength(grammar.edges.length + 1);
    const dot = selectiv([...args, "--format", "dot"]);
    expect(dot.status, dot.stderr).toBe(0);
    for (const [source, target] of grammar.edges) expect(dot.stdout).toContain(`"${source}" -> "${target}"`);
  });
});

describe("reference datasets through bench run", () => {
  it("a model trains on the reference fixture: bench run --task reference-dataset --preset smoke --json", () => {
    const out = tempDir("refrun");
    const doc = json<{ runs: { task: string; status: string; testAccuracy: number; taskSummary?: Record<string, unknown> }[] }>(
      selectiv([
        "bench",
        "run",
        "--task",
        "reference-dataset",
        "--set",
        `reference-dataset.path=${FIXTURE}`,
        "--preset",
        "smoke",
        "--model",
        "gla",
        "--json",
        "--out",
        out,
      ]),
    );
    expect(doc.runs).toHaveLength(1);
    expect(doc.runs[0]!.task).toBe("reference-dataset");
    expect(doc.runs[0]!.status).toBe("completed");
    expect(doc.runs[0]!.testAccuracy).toBeGreaterThan(0);
  });

  it("a malformed reference file is one line naming the file and line", () => {
    const dir = tempDir("badref");
    cpSync(FIXTURE, dir, { recursive: true });
    const testLines = readFileSync(join(dir, "test"), "utf8").split("\n");
    testLines[2] = testLines[2]!.replace("::200", "::199");
    writeFileSync(join(dir, "test"), testLines.join("\n"));
    const message = /test line 3: got .*200 symbol ids and 200 states for LENGTH 199/;
    expectOneLineError(selectiv(["data", "show", "--task", "reference-dataset", "--set", `reference-dataset.path=${dir}`]), message);
    // bench run reads the files when the run starts, after its "starting" log line; the error is then its last line.
    const r = selectiv([
      "bench",
      "run",
      "--task",
      "reference-dataset",
      "--set",
      `reference-dataset.path=${dir}`,
      "--preset",
      "smoke",
      "--out",
      tempDir("badrun"),
    ]);
    expect(r.status).not.toBe(0);
    const logLines = r.stderr.trim().split("\n");
    expect(logLines.filter((l) => l.startsWith("selectiv: "))).toEqual([logLines.at(-1)]);
    expect(logLines.at(-1)).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("tasks 2 and 3 through bench run", () => {
  it("train and evaluate at the smoke preset", () => {
    const doc = json<{ runs: { task: string; status: string }[] }>(
      selectiv([
        "bench",
        "run",
        "--task",
        "task2",
        "--task",
        "task3",
        "--preset",
        "smoke",
        "--model",
        "gla",
        "--json",
        "--out",
        tempDir("t23"),
      ]),
    );
    expect(doc.runs.map((r) => [r.task, r.status])).toEqual([
      ["task2", "completed"],
      ["task3", "completed"],
    ]);
  });
});
