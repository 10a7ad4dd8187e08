// WebGPU dispatches and wall time per training step (core's trainingStep at a benchmark shape), with the
// recurrences as TF ops (SELECTIV_KERNELS=ops) and as the registered WGSL kernels (the default on webgpu).
//   node benchmarks/webgpu-profile.mjs [--models gla,retnet] [--shape quick|paper] [--steps 2] [--warmup 1] [--top 8]
//                                      [--micro-batch N] [--width N] [--batch N] [--forms ops,registered] [--gpu-time]
//                                      [--submit-batch N] [--no-dropout] [--tf-flag NAME=VALUE …]
// --width and --batch override the shape's (dispatch counts do not depend on them, memory does).
// Same seed and batch for both forms, so each row's loss and gradient norm (of its last step) should agree.
// Dispatches are counted by wrapping the webgpu backend's runWebGPUProgram (one compute dispatch per call). Wall
// times are only meaningful on a real GPU: on a software adapter (Mesa's lavapipe) they measure the CPU rasteriser.
// "encode" is the JavaScript time from the step's start to its first readback (TF.js bookkeeping and recording the
// dispatches; the GPU runs meanwhile), "wait" from there to the last readback's end (the GPU finishing the step).
// --gpu-time adds one step under tf.profile, whose kernels are timed by the GPU's timestamp queries (each program in
// its own compute pass, so the step is slower, but each kernel's GPU time is its own): GPU ms per kernel.
// Under tf.profile Adam takes its three-dispatch kernel (SelectivAdamStep), not the in-place one.
// --submit-batch N: dispatches recorded before TF.js submits them to the GPU queue (its default is 15).
// --no-dropout: steps without dropout, as the paper preset trains after its first evaluation (train.dropoutUntil
// first-eval). Dropout masks are a hashed kernel on the device (core/src/nn/dropout-kernel.ts); TF.js's seeded
// masks, drawn on the CPU, cost ~55 ms each at the paper shape before it.
// --tf-flag NAME=VALUE sets a TF.js environment flag (repeatable), e.g. WEBGPU_MATMUL_PROGRAM_TYPE=3 (every matmul as
// MatMulPacked, no split-K with its atomics and zero fill; TF.js 4.22: 0 reduce, 1 split-K, 2 small output, 3 packed).
// SELECTIV_DAWN_TOGGLES=skip_validation,… in the environment turns Dawn toggles on (core/src/backend.ts).
import { SHAPES, buildAtShape, loadSelectiv, stepper } from "./_lib.mjs";

function parse(argv) {
  const opts = {
    models: ["gla"],
    shape: "quick",
    steps: 2,
    warmup: 1,
    top: 8,
    "micro-batch": 0,
    width: 0,
    batch: 0,
    forms: ["ops", "registered"],
    "gpu-time": false,
    "submit-batch": 0,
    dropout: true,
    tfFlags: [],
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--gpu-time") {
      opts["gpu-time"] = true;
      i--;
    } else if (flag === "--no-dropout") {
      opts.dropout = false;
      i--;
    } else if (flag === "--forms" && value && value.split(",").every((f) => f === "ops" || f === "registered"))
      opts.forms = value.split(",");
    else if (flag === "--tf-flag" && /^[A-Z0-9_]+=[^=]+$/.test(value ?? "")) opts.tfFlags.push(value);
    else if (flag === "--models" && value) opts.models = value.split(",").filter(Boolean);
    else if (flag === "--shape" && SHAPES[value]) opts.shape = value;
    else if (
      ["--steps", "--warmup", "--top", "--micro-batch", "--width", "--batch", "--submit-batch"].includes(flag) &&
      /^\d+$/.test(value ?? "")
    )
      opts[flag.slice(2)] = Number(value);
    else {
      console.error(
        `webgpu-profile: unknown or malformed argument ${JSON.stringify(flag)}; allowed: --models, --shape, --steps, --warmup, --top, --micro-batch, --width, --batch, --forms ops|registered[,…], --gpu-time, --submit-batch, --no-dropout, --tf-flag NAME=VALUE`,
      );
      process.exit(2);
    }
  }
  return opts;
}

/** Counts every program the backend runs, by its shader key's stem (the key up to its first "_"-joined sizes). */
function countDispatches(backend) {
  const counter = { total: 0, byProgram: new Map() };
  const run = backend.runWebGPUProgram.bind(backend);
  backend.runWebGPUProgram = (program, ...rest) => {
    counter.total++;
    const name =
      program.constructor?.name && program.constructor.name !== "Object" ? program.constructor.name : program.shaderKey.split("_dk")[0];
    counter.byProgram.set(name, (counter.byProgram.get(name) ?? 0) + 1);
    return run(program, ...rest);
  };
  return counter;
}

/** Times the backend's readbacks (getBufferData: submit, then wait for the mapping): the first one's start, the last one's end. */
function timeReadbacks(backend) {
  const timer = { first: Number.NaN, last: Number.NaN };
  const get = backend.getBufferData.bind(backend);
  backend.getBufferData = async (buffer) => {
    if (Number.isNaN(timer.first)) timer.first = performance.now();
    try {
      return await get(buffer);
    } finally {
      timer.last = performance.now();
    }
  };
  return timer;
}

/** GPU ms per kernel name over one step run under tf.profile (timestamp queries), largest first. */
async function gpuTimeByKernel(tf, step) {
  const info = await tf.profile(step);
  const byKernel = new Map();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls++;
    byKernel.set(k.name, entry);
  }
  const total = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
  return { total, rows: [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms) };
}

async function profile(selectiv, counter, readbacks, model, opts) {
  const { core } = selectiv;
  const train = {};
  if (opts["micro-batch"]) train.microBatch = opts["micro-batch"];
  if (opts.width) train.width = opts.width;
  if (opts.batch) train.batchSize = opts.batch;
  const built = buildAtShape(selectiv, model, opts.shape, train);
  const { step, batch, dispose } = stepper(core, built, { dropout: opts.dropout });
  const rows = [];
  let last;
  for (let s = 0; s < opts.warmup + opts.steps; s++) {
    counter.total = 0;
    const inPlace = core.inPlaceAdamDispatches.total;
    counter.byProgram.clear();
    readbacks.first = Number.NaN;
    readbacks.last = Number.NaN;
    const t0 = performance.now();
    last = await step(s);
    const ms = performance.now() - t0;
    // Adam's in-place dispatches bypass the runner counted above (core/src/optim-in-place.ts).
    const inPlaceNow = core.inPlaceAdamDispatches.total - inPlace;
    counter.total += inPlaceNow;
    if (inPlaceNow > 0) counter.byProgram.set("AdamInPlace", (counter.byProgram.get("AdamInPlace") ?? 0) + inPlaceNow);
    core.assertBackendHealthy();
    if (s >= opts.warmup)
      rows.push({
        dispatches: counter.total,
        ms,
        encodeMs: readbacks.first - t0,
        waitMs: readbacks.last - readbacks.first,
        byProgram: new Map(counter.byProgram),
      });
  }
  const gpu = opts["gpu-time"] ? await gpuTimeByKernel(core.tf, () => step(opts.warmup + opts.steps)) : undefined;
  dispose();
  return { batch: batch.size, steps: batch.steps, rows, loss: last.loss, gradNorm: last.gradNorm, gpu };
}

const opts = parse(process.argv.slice(2));
const selectiv = await loadSelectiv("webgpu");
const adapter = await selectiv.core.probeWebgpu();
const counter = countDispatches(selectiv.core.tf.backend());
const readbacks = timeReadbacks(selectiv.core.tf.backend());
if (opts["submit-batch"]) selectiv.core.tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", opts["submit-batch"]);
for (const assignment of opts.tfFlags) {
  const [name, text] = assignment.split("=");
  const value = text === "true" ? true : text === "false" ? false : Number(text);
  if (typeof value === "number" && Number.isNaN(value)) {
    console.error(`webgpu-profile: --tf-flag ${assignment}: the value must be a number, true or false`);
    process.exit(2);
  }
  selectiv.core.tf.env().set(name, value);
}
console.log(
  `adapter: ${adapter.ok ? adapter.adapter : adapter.why}${adapter.ok && adapter.software ? " (software: wall times are not GPU times)" : ""}`,
);
const overridden = [opts.width && `width ${opts.width}`, opts.batch && `batch ${opts.batch}`].filter(Boolean).join(", ");
const settings = [
  opts["submit-batch"] && `submit batch ${opts["submit-batch"]}`,
  process.env.SELECTIV_DAWN_TOGGLES && `Dawn toggles ${process.env.SELECTIV_DAWN_TOGGLES}`,
  ...opts.tfFlags.map((f) => `TF.js flag ${f}`),
].filter(Boolean);
if (settings.length) console.log(settings.join("; "));
console.log(
  `shape: ${opts.shape}${overridden ? ` (${overridden})` : ""}; ${opts.steps} timed step(s) after ${opts.warmup} warm-up step(s); median of the timed steps${opts.dropout ? "" : "; no dropout"}`,
);
console.log("model | recurrence | batch×T | dispatches/step | ms/step | encode ms | wait ms | last loss | last grad norm | top programs");
const gpuTables = [];
for (const model of opts.models) {
  for (const kernels of opts.forms) {
    // Read at each call by linearRecurrence: "ops" forces the chunked TF-op form, unset leaves webgpu's default.
    if (kernels === "ops") process.env.SELECTIV_KERNELS = "ops";
    else delete process.env.SELECTIV_KERNELS;
    const r = await profile(selectiv, counter, readbacks, model, opts);
    const mid = [...r.rows].sort((a, b) => a.ms - b.ms)[Math.floor(r.rows.length / 2)];
    const top = [...mid.byProgram.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, opts.top)
      .map(([name, n]) => `${name} ${n}`)
      .join(", ");
    const label = kernels === "ops" ? "TF ops (SELECTIV_KERNELS=ops)" : "WGSL kernels";
    console.log(
      `${model} | ${label} | ${r.batch}×${r.steps} | ${mid.dispatches} | ${mid.ms.toFixed(0)} | ${mid.encodeMs.toFixed(0)} | ${mid.waitMs.toFixed(0)} | ${r.loss.toFixed(6)} | ${r.gradNorm.toFixed(6)} | ${top}`,
    );
    if (r.gpu) {
      const kernelsShown = r.gpu.rows
        .slice(0, opts.top * 2)
        .map(([name, e]) => `${name} ${e.ms.toFixed(2)} (${e.calls})`)
        .join(", ");
      gpuTables.push(`${model} | ${label} | ${r.gpu.total.toFixed(1)} | ${kernelsShown}`);
      // Also now: a run cut short (a time limit) keeps the models it finished.
      console.log(`  GPU ms/step ${r.gpu.total.toFixed(1)}: ${kernelsShown}`);
    }
  }
}
if (gpuTables.length) {
  console.log("\nGPU time of one profiled step (timestamp queries; kernel: ms (calls))");
  console.log("model | recurrence | GPU ms/step | largest kernels");
  for (const line of gpuTables) console.log(line);
}
