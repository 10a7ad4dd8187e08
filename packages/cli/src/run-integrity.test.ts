// Results that cannot silently lie: distinct settings get distinct run folders, a run folder is one run on one
// backend, a damaged checkpoint never loads (one line naming it and --fresh), stray result.json files are skipped
// with a warning, a run too large for memory is refused before training, and temp-file leftovers are cleaned.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));
const SMOKE = ["bench", "run", "--preset", "smoke", "--model", "gla", "--backend", "wasm"];

function selectiv(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
}

function runDirs(out: string): string[] {
  return readdirSync(out, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith("."))
    .map((d) => d.name)
    .sort();
}

/** The command failed with exactly one `selectiv: …` line on stderr (after progress lines), and no stack trace. */
function expectOneLineRefusal(r: ReturnType<typeof selectiv>, ...parts: (string | RegExp)[]): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("selectiv:"));
  expect(errors, r.stderr).toHaveLength(1);
  for (const p of parts) expect(errors[0]).toMatch(p);
}

describe("run identity", () => {
  it("settings whose 32-bit hashes collided get two folders and two rows", () => {
    const out = tempDir("collide");
    for (const lr of ["0.33089", "0.649156"]) {
      const r = selectiv([...SMOKE, "--set", `train.lr=${lr}`, "--set", "task1.trainSize=16", "--out", out, "--json"]);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(runDirs(out)).toHaveLength(2);
    for (const d of runDirs(out)) expect(d).toMatch(/^task1-gla-seed1-[0-9a-f]{32}$/);
    expect(readFileSync(join(out, "results.csv"), "utf8").trim().split("\n")).toHaveLength(3);
  }, 60_000);

  it("a run folder is one run on one backend: another backend is refused and the first result stays", () => {
    const out = tempDir("backend");
    expect(selectiv([...SMOKE, "--out", out, "--json"]).status).toBe(0);
    const [dir] = runDirs(out);
    const before = readFileSync(join(out, dir!, "result.json"), "utf8");
    const r = selectiv(["bench", "run", "--preset", "smoke", "--model", "gla", "--backend", "cpu", "--out", out]);
    expectOneLineRefusal(r, /trained on the wasm backend/, /runs on cpu/, /--fresh/);
    expect(readFileSync(join(out, dir!, "result.json"), "utf8")).toBe(before);
    expect(JSON.parse(before).backend).toBe("wasm");
  }, 60_000);
});

describe("checkpoints", () => {
  // One finished run; each case copies it, removes result.json (so the run would continue from its checkpoint)
  // and damages checkpoint.bin.
  const base = tempDir("ckpt-base");
  const ARGS = [...SMOKE, "--set", "task1.trainSize=64", "--set", "train.evalEvery=32"];
  let made = false;
  const damaged = (damage: (buf: Buffer) => Buffer): { out: string; file: string } => {
    if (!made) {
      expect(selectiv([...ARGS, "--out", base, "--json"]).status).toBe(0);
      made = true;
    }
    const out = tempDir("ckpt");
    cpSync(base, out, { recursive: true });
    const [dir] = runDirs(out);
    rmSync(join(out, dir!, "result.json"));
    const file = join(out, dir!, "checkpoint.bin");
    writeFileSync(file, damage(readFileSync(file)));
    return { out, file };
  };

  const cases: [string, (buf: Buffer) => Buffer, RegExp][] = [
    [
      "200 floats with their sign flipped",
      (b) => {
        for (let i = 0; i < 200; i++) b[b.length - 4 * (i + 1) + 3]! ^= 0x80;
        return b;
      },
      /damaged/,
    ],
    [
      "its step edited in the header (same length)",
      (b) =>
        Buffer.from(
          b.toString("latin1").replace(/"step":(\d)/, (_, d: string) => `"step":${(Number(d) + 1) % 10}`),
          "latin1",
        ),
      /damaged/,
    ],
    ["truncated", (b) => b.subarray(0, b.length - 1000), /truncated/],
    ["a foreign file", () => Buffer.from("not a checkpoint"), /not a selectiv checkpoint/],
  ];
  for (const [what, damage, message] of cases) {
    it(`${what}: refused in one line naming the file and --fresh; --fresh retrains`, () => {
      const { out, file } = damaged(damage);
      expectOneLineRefusal(selectiv([...ARGS, "--out", out]), message, file, /--fresh/);
      expect(selectiv([...ARGS, "--out", out, "--fresh", "--json"]).status).toBe(0);
    }, 60_000);
  }

  it("Task 4 refuses to evaluate a damaged Task-2 checkpoint", () => {
    const out = tempDir("task4");
    const args = ["bench", "run", "--preset", "smoke", "--task", "task4", "--model", "gla", "--backend", "wasm", "--out", out];
    expect(selectiv([...args, "--json"]).status).toBe(0);
    const task2 = runDirs(out).find((d) => d.startsWith("task2-"))!;
    const task4 = runDirs(out).find((d) => d.startsWith("task4-"))!;
    rmSync(join(out, task4, "result.json"));
    const file = join(out, task2, "checkpoint.bin");
    const buf = readFileSync(file);
    buf[buf.length - 1]! ^= 0x80;
    writeFileSync(file, buf);
    expectOneLineRefusal(selectiv(args), /damaged/, file);
  }, 60_000);
});

describe("results folder", () => {
  it("stray result.json files (null, {}) are left out with a warning; stale temp files are removed", () => {
    const out = tempDir("stray");
    for (const [name, text] of [
      ["stray-null", "null"],
      ["stray-empty", "{}"],
    ]) {
      mkdirSync(join(out, name!));
      writeFileSync(join(out, name!, "result.json"), text!);
    }
    const leftover = join(out, "results.csv.tmp-999999");
    writeFileSync(leftover, "partial");
    const old = Date.now() / 1000 - 7200;
    utimesSync(leftover, old, old);
    const r = selectiv([...SMOKE, "--set", "task1.trainSize=16", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split("\n").filter((l) => /^warning: .*stray-(null|empty)/.test(l))).toHaveLength(2);
    const rows = readFileSync(join(out, "results.csv"), "utf8").trim().split("\n");
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatch(/^task1,gla,1,/);
    expect(existsSync(leftover)).toBe(false);
  }, 60_000);

  it("a run too large for the backend's memory is refused before training, naming the setting", () => {
    const r = selectiv([...SMOKE, "--set", "train.width=8192", "--out", tempDir("memory")]);
    expectOneLineRefusal(r, /train\.width=8192/, /GiB/, /wasm backend's 4 GiB heap/);
    expect(r.stderr).not.toMatch(/starting/);
  }, 60_000);
});
