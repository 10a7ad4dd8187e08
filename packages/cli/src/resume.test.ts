// Runs users can trust: a run killed with SIGKILL resumes from its last checkpoint and ends with the same
// metrics as an uninterrupted run; a diverging run is marked, keeps its checkpoint, and its siblings finish.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));

// Long enough to be killed mid-way: 64 steps of batch 8, a checkpoint every 64 samples (8 steps).
const RUN = [
  "bench",
  "run",
  "--preset",
  "smoke",
  "--model",
  "gla",
  "--backend",
  "wasm",
  "--set",
  "task1.trainSize=512",
  "--set",
  "train.evalEvery=64",
  "--json",
];

function runDirOf(out: string): string {
  const dirs = readdirSync(out, { withFileTypes: true }).filter((d) => d.isDirectory());
  expect(dirs).toHaveLength(1);
  return join(out, dirs[0]!.name);
}

function metricsOf(runDir: string): object[] {
  return readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => ({ ...JSON.parse(l), wallSeconds: 0 }));
}

describe("checkpoints and resume", () => {
  it("a run SIGKILLed mid-training resumes and ends with the same metrics as an uninterrupted run", async () => {
    const whole = tempDir("whole");
    const straight = spawnSync(process.execPath, [bin, ...RUN, "--out", whole], { encoding: "utf8" });
    expect(straight.status, straight.stderr).toBe(0);

    const killed = tempDir("killed");
    const child = spawn(process.execPath, [bin, ...RUN, "--out", killed], { stdio: "ignore" });
    // Kill it once a checkpoint exists and before it finishes.
    const checkpointWritten = await new Promise<boolean>((done) => {
      const timer = setInterval(() => {
        const dirs = existsSync(killed) ? readdirSync(killed).filter((d) => d.startsWith("task1-")) : [];
        const dir = dirs[0] ? join(killed, dirs[0]) : undefined;
        if (dir && existsSync(join(dir, "checkpoint.bin"))) {
          clearInterval(timer);
          child.kill("SIGKILL");
          done(!existsSync(join(dir, "result.json")));
        }
      }, 5);
      child.on("exit", () => {
        clearInterval(timer);
        done(false);
      });
    });
    expect(checkpointWritten, "the child was killed after a checkpoint and before it finished").toBe(true);
    const dir = runDirOf(killed);
    expect(existsSync(join(dir, "result.json"))).toBe(false);
    const partial = metricsOf(dir).length;
    expect(partial).toBeGreaterThanOrEqual(1);

    const resumed = spawnSync(process.execPath, [bin, "bench", "run", "--resume", dir, "--backend", "wasm"], { encoding: "utf8" });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/continuing from the checkpoint at step \d+\/64/);
    const a = JSON.parse(readFileSync(join(runDirOf(whole), "result.json"), "utf8"));
    const b = JSON.parse(readFileSync(join(dir, "result.json"), "utf8"));
    for (const key of [
      "status",
      "steps",
      "testAccuracy",
      "testLoss",
      "bestTestAccuracy",
      "bestTestLoss",
      "params",
      "majorityBaseline",
      "ceiling",
    ]) {
      expect(b[key], key).toEqual(a[key]);
    }
    expect(metricsOf(dir)).toEqual(metricsOf(runDirOf(whole)));
  }, 180_000);

  it("a diverging model is marked diverged, keeps its last checkpoint, and the sibling run finishes", () => {
    // A plugin whose layer returns NaN from its 20th training forward pass on (after the first checkpoint).
    const project = tempDir("diverge");
    const pkg = join(project, "node_modules", "selectiv-plugin-nan");
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(project, "package.json"), JSON.stringify({ dependencies: { "selectiv-plugin-nan": "*" } }));
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({
        name: "selectiv-plugin-nan",
        type: "module",
        main: "index.js",
        keywords: ["selectiv-plugin"],
        selectiv: { apiVersion: 1 },
      }),
    );
    writeFileSync(
      join(pkg, "index.js"),
      `export function register(host) {
  const { tf, core } = host;
  host.registerModel({
    id: "nan-after-20",
    description: "test model that diverges",
    schema: {},
    defaults: {},
    taxonomy: { transition: "none", transitionDetail: "", write: "", readout: "", outputGate: false, complementaryGating: false, channelMixing: false, stateSize: () => 0 },
    parametersPerLayer: (d) => d * d,
    createLayer(ctx) {
      const lin = new core.Linear(ctx.params, "w", ctx.dModel, ctx.dModel, { bias: false });
      let calls = 0;
      return {
        forward(x, o) {
          if (o.training) calls++;
          const y = lin.apply(x);
          return calls > 20 ? tf.mul(y, NaN) : y;
        },
        initialState: () => [],
        step: (x) => ({ y: lin.apply(x), state: [] }),
      };
    },
  });
}
`,
    );
    const out = join(project, "out");
    const r = spawnSync(process.execPath, [bin, ...RUN, "--model", "nan-after-20", "--out", out], { cwd: project, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const runs = (JSON.parse(r.stdout) as { runs: { model: string; status: string; runDir: string }[] }).runs;
    const bad = runs.find((x) => x.model === "nan-after-20")!;
    const good = runs.find((x) => x.model === "gla")!;
    expect(bad.status).toBe("diverged");
    expect(existsSync(join(bad.runDir, "checkpoint.bin"))).toBe(true);
    expect(JSON.parse(readFileSync(join(bad.runDir, "result.json"), "utf8")).status).toBe("diverged");
    expect(good.status).toBe("completed");
    expect(existsSync(join(good.runDir, "result.json"))).toBe(true);
  }, 120_000);
});
