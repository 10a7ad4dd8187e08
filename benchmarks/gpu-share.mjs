// Several training runs on one GPU at once: N processes (1, 2, 4, 8 by default), each a model at a benchmark shape
// on webgpu, time the same number of training steps together; the table gives each process's step time, the
// steps per hour of all of them, and what that makes in runs per hour of a preset's training (its step count).
//   pnpm bench gpu-share [--runs 1,2,4,8] [--model gla] [--shape paper] [--steps 5] [--warmup 2]
//                        [--micro-batch N] [--no-dropout] [--preset-steps 3125] [--json FILE]
// The processes start together after their warm-up steps (a barrier of files in a temporary folder), so their timed
// steps overlap. Runs per hour count training steps only (no evaluation, no start-up): an upper bound for a sweep.
// A process that fails (e.g. out of GPU memory with many at once) is reported in its row, not thrown.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SHAPES, buildAtShape, jsonLines, loadSelectiv, printTable, stepper } from "./_lib.mjs";

function parse(argv) {
  const opts = {
    runs: [1, 2, 4, 8],
    model: "gla",
    shape: "paper",
    steps: 5,
    warmup: 2,
    "micro-batch": 0,
    dropout: true,
    "preset-steps": 3125,
    json: "",
    child: false,
    barrier: "",
    count: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const takes = () => {
      i++;
      return value;
    };
    if (flag === "--child") opts.child = true;
    else if (flag === "--no-dropout") opts.dropout = false;
    else if (flag === "--runs" && /^\d+(,\d+)*$/.test(value ?? "")) opts.runs = takes().split(",").map(Number);
    else if (flag === "--model" && value) opts.model = takes();
    else if (flag === "--shape" && SHAPES[value]) opts.shape = takes();
    else if (["--steps", "--warmup", "--micro-batch", "--preset-steps", "--count"].includes(flag) && /^\d+$/.test(value ?? ""))
      opts[flag.slice(2)] = Number(takes());
    else if ((flag === "--json" || flag === "--barrier") && value) opts[flag.slice(2)] = takes();
    else {
      console.error(
        `pnpm bench gpu-share: unknown or malformed argument ${JSON.stringify(flag)}; allowed: --runs N[,N…], --model ID, --shape ${Object.keys(SHAPES).join("|")}, --steps N, --warmup N, --micro-batch N, --no-dropout, --preset-steps N, --json FILE`,
      );
      process.exit(2);
    }
  }
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One process: warm up, wait for the others, time the steps; prints one JSON line. */
async function child(opts) {
  const row = { model: opts.model };
  try {
    const selectiv = await loadSelectiv("webgpu");
    const { core } = selectiv;
    if (selectiv.backend.name !== "webgpu") throw new Error(`no webgpu: ${selectiv.backend.reason}`);
    const train = opts["micro-batch"] ? { microBatch: opts["micro-batch"] } : {};
    const built = buildAtShape(selectiv, opts.model, opts.shape, train);
    const { step } = stepper(core, built, { dropout: opts.dropout });
    for (let s = 0; s < opts.warmup; s++) await step(s);
    writeFileSync(join(opts.barrier, `ready-${process.pid}`), "");
    while (readdirSync(opts.barrier).length < opts.count) await sleep(5);
    const times = [];
    row.start = Date.now();
    for (let s = 0; s < opts.steps; s++) {
      const t0 = performance.now();
      await step(opts.warmup + s);
      times.push(performance.now() - t0);
    }
    row.end = Date.now();
    core.assertBackendHealthy();
    times.sort((a, b) => a - b);
    row.stepMs = times[Math.floor(times.length / 2)];
  } catch (e) {
    row.error = (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 200);
    // Let the others pass the barrier.
    writeFileSync(join(opts.barrier, `ready-${process.pid}`), "");
  }
  console.log(JSON.stringify(row));
}

async function together(opts, count) {
  const barrier = mkdtempSync(join(tmpdir(), "selectiv-gpu-share-"));
  const self = fileURLToPath(import.meta.url);
  const args = ["--child", "--barrier", barrier, "--count", String(count), "--model", opts.model, "--shape", opts.shape];
  args.push("--steps", String(opts.steps), "--warmup", String(opts.warmup), "--micro-batch", String(opts["micro-batch"]));
  if (!opts.dropout) args.push("--no-dropout");
  const outputs = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve) => {
          const p = spawn(process.execPath, [self, ...args], { stdio: ["ignore", "pipe", "inherit"] });
          let out = "";
          p.stdout.on("data", (d) => (out += d));
          p.on("close", (status) => resolve(jsonLines(out)[0] ?? { error: `exited with ${status} before reporting` }));
        }),
    ),
  );
  rmSync(barrier, { recursive: true, force: true });
  const ok = outputs.filter((r) => !r.error);
  const span = ok.length ? (Math.max(...ok.map((r) => r.end)) - Math.min(...ok.map((r) => r.start))) / 1000 : NaN;
  const stepsPerHour = ok.length ? (ok.length * opts.steps * 3600) / span : 0;
  return {
    runsAtOnce: count,
    model: opts.model,
    shape: opts.shape,
    dropout: opts.dropout,
    finished: ok.length,
    stepMs: ok.map((r) => Math.round(r.stepMs)),
    stepsPerHour: Math.round(stepsPerHour),
    runsPerHour: stepsPerHour / opts["preset-steps"],
    errors: outputs.filter((r) => r.error).map((r) => r.error),
  };
}

export async function main(argv) {
  const opts = parse(argv);
  if (opts.child) return child(opts);
  const rows = [];
  for (const count of opts.runs) {
    console.error(`bench gpu-share: ${count} × ${opts.model} at the ${opts.shape} shape …`);
    rows.push(await together(opts, count));
  }
  if (opts.json) writeFileSync(opts.json, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  printTable(
    ["runs at once", "finished", "step ms per run", "steps/hour (all)", `runs/hour (${opts["preset-steps"]} steps)`, "errors"],
    rows.map((r) => [
      r.runsAtOnce,
      r.finished,
      r.stepMs.join(", ") || "—",
      r.stepsPerHour.toLocaleString("en"),
      r.runsPerHour.toFixed(2),
      r.errors.length ? r.errors[0] : "",
    ]),
    [0, 1, 3, 4],
  );
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
