// Peak memory of Task-4 evaluation per model at the longest test gap (docs/spec/TASKS.md §5: Task-2 models tested at gaps up to
// 10× the longest training gap; 100 steps per symbol at the paper's settings, ~20,000-step sequences).
//   pnpm bench task4-memory [--models gla,mamba] [--preset quick|paper] [--backend wasm|cpu] [--batches 3]
//                           [--variants longest|all] [--json FILE]
// Each (model, variant) runs in its own child process, so peaks do not mix. A child builds the RecNet at the preset's
// shape with a fixed seed (untrained: memory does not depend on the weights), takes Task 4's test variant(s), and runs
// core's evaluateModel over the first `--batches` evaluation batches of the test split (the batch size is core's
// evaluationBatchSize: at most EVAL_TOKEN_BUDGET steps and one layer's activations). It records:
//   - peak RSS during evaluation: process.memoryUsage().rss sampled every 20 ms by a worker thread (the evaluation
//     blocks the main thread), with the RSS just before evaluation as the baseline;
//   - maxRSS: process.resourceUsage().maxRSS, the process's high-water mark (includes start-up);
//   - TF.js peak bytes: the largest tf.memory().numBytes seen when any tensor is allocated during evaluation (every
//     allocation passes through the engine's trackTensor; tf.profile would also keep a record per kernel);
//   - the wasm heap at the end (it only grows, so it is the heap's high-water mark), sequence length, batch size, wall.
// With --variants all each test gap runs separately, which shows how memory grows with the sequence length: the
// evaluation batch holds about EVAL_TOKEN_BUDGET steps whatever T is, so a model whose activations are linear in the
// steps stays flat; softmax attention's scores are B·H·T² = budget·H·T and grow with T.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { loadSelectiv, netFor } from "./_lib.mjs";

const USAGE = "allowed: --models LIST, --preset quick|paper, --backend wasm|cpu, --batches N, --variants longest|all, --json FILE";

function fail(message) {
  console.error(`pnpm bench task4-memory: ${message}`);
  process.exit(2);
}

function parse(argv) {
  const opts = { models: [], preset: "quick", backend: "wasm", batches: 3, variants: "longest", json: "", child: false, variant: -1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--child") {
      opts.child = true;
      continue;
    }
    if (value === undefined) fail(`${flag} needs a value; ${USAGE}`);
    i++;
    if (flag === "--models") opts.models = value.split(",").filter(Boolean);
    else if (flag === "--preset" && ["quick", "paper", "smoke"].includes(value)) opts.preset = value;
    else if (flag === "--backend" && ["wasm", "cpu"].includes(value)) opts.backend = value;
    else if (flag === "--batches" && /^[1-9]\d*$/.test(value)) opts.batches = Number(value);
    else if (flag === "--variants" && ["longest", "all"].includes(value)) opts.variants = value;
    else if (flag === "--variant" && /^-?\d+$/.test(value)) opts.variant = Number(value);
    else if (flag === "--json") opts.json = value;
    else fail(`got ${JSON.stringify(flag)} ${JSON.stringify(value)}; ${USAGE}`);
  }
  return opts;
}

const MiB = 1024 * 1024;

/** A worker thread that samples the process's RSS every 20 ms into shared memory: [peak bytes, samples]. */
function startRssSampler() {
  const shared = new Float64Array(new SharedArrayBuffer(16));
  shared[0] = process.memoryUsage().rss;
  const worker = new Worker(
    `const { workerData } = require("node:worker_threads");
     const v = new Float64Array(workerData);
     setInterval(() => { const r = process.memoryUsage().rss; if (r > v[0]) v[0] = r; v[1]++; }, 20);`,
    { eval: true, workerData: shared.buffer },
  );
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 40)); // one more sample after the work
      await worker.terminate();
      return { peak: shared[0], samples: shared[1] };
    },
  };
}

/** The largest tf.memory().numBytes while `f` runs, tracked at every tensor allocation. */
async function trackPeakTensorBytes(tf, f) {
  const engine = tf.engine();
  const own = Object.prototype.hasOwnProperty.call(engine, "trackTensor");
  const original = engine.trackTensor;
  let peak = engine.state.numBytes;
  engine.trackTensor = function (...args) {
    const r = original.apply(this, args);
    if (this.state.numBytes > peak) peak = this.state.numBytes;
    return r;
  };
  try {
    const result = await f();
    return { result, peak };
  } finally {
    if (own) engine.trackTensor = original;
    else delete engine.trackTensor;
  }
}

async function child(opts) {
  const { core, c, backend } = await loadSelectiv(opts.backend);
  const [run] = core.planBenchmark(c, {
    tasks: ["task4"],
    models: opts.models,
    seeds: [1],
    preset: opts.preset,
    overrides: core.emptyOverrides(),
    backend: backend.name,
    outDir: "/tmp",
  });
  const variants = run.task.transfer.variants(run.taskConfig);
  const variant = opts.variant >= 0 ? variants[opts.variant] : variants.reduce((a, v) => (v.value > a.value ? v : a));
  const task = run.task.create(variant.config, 1);
  const training = run.training;
  const net = netFor(core, run, task, core.hashSeed(1, "model-init"));
  // The first samples of the test split, as many as `batches` evaluation batches hold; the batches seen are recorded.
  const stepsPerSample = task.batch("test", 0, 1).steps;
  const evalBatch = Math.min(task.splitSize("test"), core.evaluationBatchSize(net, stepsPerSample, training.evalBatchSize));
  const samples = Math.min(task.splitSize("test"), opts.batches * evalBatch);
  const seen = { batches: 0, maxSteps: 0, maxSize: 0, tokens: 0, probed: false };
  const limited = {
    inputSize: task.inputSize,
    numClasses: task.numClasses,
    objective: task.objective,
    summary: task.summary,
    splitSize: (split) => (split === "test" ? samples : task.splitSize(split)),
    batch: (split, start, count) => {
      const b = task.batch(split, start, count);
      // evaluateModel's first call reads one sample to learn the length; the calls after it are the batches.
      if (split === "test" && !seen.probed) seen.probed = true;
      else if (split === "test") {
        seen.batches++;
        seen.maxSteps = Math.max(seen.maxSteps, b.steps);
        seen.maxSize = Math.max(seen.maxSize, b.size);
        seen.tokens = Math.max(seen.tokens, b.size * b.steps);
      }
      return b;
    },
  };
  const { tf } = core;
  const tensorBytesBefore = tf.memory().numBytes;
  const rssBefore = process.memoryUsage().rss;
  const sampler = startRssSampler();
  const t0 = performance.now();
  const { result: evaluation, peak: tensorPeak } = await trackPeakTensorBytes(tf, () =>
    core.evaluateModel(net, limited, training.evalBatchSize, 0),
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  const rss = await sampler.stop();
  const wasmHeap = tf.backend().wasm?.HEAPU8?.buffer?.byteLength;
  const row = {
    model: run.model.id,
    preset: opts.preset,
    backend: backend.name,
    variant: variant.label,
    gapSteps: variant.value,
    seqLen: seen.maxSteps,
    stepsPerSample,
    evalBatch,
    batches: seen.batches,
    maxBatchTokens: seen.tokens,
    width: training.width,
    layers: training.layers,
    params: net.parameterCount,
    rssBeforeMiB: rssBefore / MiB,
    peakRssMiB: rss.peak / MiB,
    peakRssDeltaMiB: (rss.peak - rssBefore) / MiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    rssSamples: rss.samples,
    tfBytesBeforeMiB: tensorBytesBefore / MiB,
    tfPeakMiB: tensorPeak / MiB,
    wasmHeapMiB: wasmHeap === undefined ? null : wasmHeap / MiB,
    wallSeconds,
    testLoss: evaluation.loss,
  };
  process.stdout.write(`${JSON.stringify(row)}\n`);
  net.dispose();
}

export async function main(argv) {
  const opts = parse(argv);
  if (opts.child) return child(opts);
  const { builtInModels } = await import("../packages/models/dist/index.js");
  const all = builtInModels.map((d) => d.id);
  for (const m of opts.models) if (!all.includes(m)) fail(`--models: unknown model ${JSON.stringify(m)}; available: ${all.join(", ")}`);
  const models = opts.models.length ? opts.models : all;
  const variantIndices = opts.variants === "all" ? [0, 1, 2, 3] : [-1];
  const rows = [];
  const self = fileURLToPath(import.meta.url);
  for (const model of models) {
    for (const variant of variantIndices) {
      const args = [self, "--child", "--models", model, "--preset", opts.preset, "--backend", opts.backend];
      args.push("--batches", String(opts.batches), "--variant", String(variant));
      console.error(`bench task4-memory: ${model} (${opts.preset}, ${opts.backend}${variant >= 0 ? `, variant ${variant}` : ""}) …`);
      const r = spawnSync(process.execPath, ["--max-old-space-size=8192", ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 1 << 26,
      });
      const lines = (r.stdout ?? "").split("\n").filter((l) => l.startsWith("{"));
      if (r.status === 0 && lines.length) rows.push(JSON.parse(lines.at(-1)));
      else {
        const why = r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
        console.error(`bench task4-memory: ${model}: the child failed (${why})`);
        rows.push({ model, preset: opts.preset, backend: opts.backend, failed: why });
      }
    }
  }
  if (opts.json) writeFileSync(opts.json, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  printTable(rows);
  return rows;
}

function printTable(rows) {
  const f = (x, d = 0) => (typeof x === "number" ? x.toFixed(d) : "–");
  const header = [
    "model",
    "gap",
    "T",
    "B",
    "batches",
    "params",
    "RSS before",
    "peak RSS",
    "Δ RSS",
    "maxRSS",
    "TF peak",
    "wasm heap",
    "wall s",
  ];
  const body = rows.map((r) =>
    r.failed
      ? [r.model, "–", "–", "–", "–", "–", "–", `failed: ${r.failed}`, "", "", "", "", ""]
      : [
          r.model,
          String(r.gapSteps),
          String(r.seqLen),
          String(r.evalBatch),
          String(r.batches),
          r.params.toLocaleString("en-US"),
          f(r.rssBeforeMiB),
          f(r.peakRssMiB),
          f(r.peakRssDeltaMiB),
          f(r.maxRssMiB),
          f(r.tfPeakMiB),
          f(r.wasmHeapMiB),
          f(r.wallSeconds, 1),
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log("memory in MiB; T = steps per sample, B = samples per evaluation batch");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main(process.argv.slice(2));
