// WebGPU dispatches and wall time per training step (core's trainingStep at a benchmark shape), with the
// recurrences as TF ops (SELECTIV_KERNELS=ops) and as the registered WGSL kernels (the default on webgpu).
//   node benchmarks/webgpu-profile.mjs [--models gla,retnet] [--shape quick|paper] [--steps 2] [--warmup 1] [--top 8]
//                                      [--micro-batch N] [--width N] [--batch N]
// --width and --batch override the shape's (dispatch counts do not depend on them, memory does).
// Same seed and batch for both forms, so each row's loss and gradient norm (of its last step) should agree.
// Dispatches are counted by wrapping the webgpu backend's runWebGPUProgram (one compute dispatch per call). Wall
// times are only meaningful on a real GPU: on a software adapter (Mesa's lavapipe) they measure the CPU rasteriser.
import { SHAPES, buildAtShape, loadSelectiv } from "./_lib.mjs";

function parse(argv) {
  const opts = { models: ["gla"], shape: "quick", steps: 2, warmup: 1, top: 8, "micro-batch": 0, width: 0, batch: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--models" && value) opts.models = value.split(",").filter(Boolean);
    else if (flag === "--shape" && SHAPES[value]) opts.shape = value;
    else if (["--steps", "--warmup", "--top", "--micro-batch", "--width", "--batch"].includes(flag) && /^\d+$/.test(value ?? ""))
      opts[flag.slice(2)] = Number(value);
    else {
      console.error(
        `webgpu-profile: unknown or malformed argument ${JSON.stringify(flag)}; allowed: --models, --shape, --steps, --warmup, --top, --micro-batch, --width, --batch`,
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

async function profile(selectiv, counter, model, opts) {
  const { core } = selectiv;
  const train = {};
  if (opts["micro-batch"]) train.microBatch = opts["micro-batch"];
  if (opts.width) train.width = opts.width;
  if (opts.batch) train.batchSize = opts.batch;
  const built = buildAtShape(selectiv, model, opts.shape, train);
  const variables = new Map(built.net.store.entries());
  const adam = new core.Adam();
  const batch = built.task.batch("train", 0, built.training.batchSize);
  const rows = [];
  let last;
  for (let s = 0; s < opts.warmup + opts.steps; s++) {
    counter.total = 0;
    counter.byProgram.clear();
    const t0 = performance.now();
    last = await core.trainingStep(built.net, adam, variables, batch, {
      seed: 1,
      step: s,
      lr: 1e-3,
      clipNorm: built.training.clipNorm,
      microBatch: built.training.microBatch,
    });
    core.assertBackendHealthy();
    if (s >= opts.warmup) rows.push({ dispatches: counter.total, ms: performance.now() - t0, byProgram: new Map(counter.byProgram) });
  }
  adam.dispose();
  built.net.dispose();
  return { batch: batch.size, steps: batch.steps, rows, loss: last.loss, gradNorm: last.gradNorm };
}

const opts = parse(process.argv.slice(2));
const selectiv = await loadSelectiv("webgpu");
const adapter = await selectiv.core.probeWebgpu();
const counter = countDispatches(selectiv.core.tf.backend());
console.log(
  `adapter: ${adapter.ok ? adapter.adapter : adapter.why}${adapter.ok && adapter.software ? " (software: wall times are not GPU times)" : ""}`,
);
const overridden = [opts.width && `width ${opts.width}`, opts.batch && `batch ${opts.batch}`].filter(Boolean).join(", ");
console.log(
  `shape: ${opts.shape}${overridden ? ` (${overridden})` : ""}; ${opts.steps} timed step(s) after ${opts.warmup} warm-up step(s); median of the timed steps`,
);
console.log("model | recurrence | batch×T | dispatches/step | ms/step | last loss | last grad norm | top programs");
for (const model of opts.models) {
  for (const kernels of ["ops", "registered"]) {
    // Read at each call by linearRecurrence: "ops" forces the chunked TF-op form, unset leaves webgpu's default.
    if (kernels === "ops") process.env.SELECTIV_KERNELS = "ops";
    else delete process.env.SELECTIV_KERNELS;
    const r = await profile(selectiv, counter, model, opts);
    const mid = [...r.rows].sort((a, b) => a.ms - b.ms)[Math.floor(r.rows.length / 2)];
    const top = [...mid.byProgram.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, opts.top)
      .map(([name, n]) => `${name} ${n}`)
      .join(", ");
    const label = kernels === "ops" ? "TF ops (SELECTIV_KERNELS=ops)" : "WGSL kernels";
    console.log(
      `${model} | ${label} | ${r.batch}×${r.steps} | ${mid.dispatches} | ${mid.ms.toFixed(0)} | ${r.loss.toFixed(6)} | ${r.gradNorm.toFixed(6)} | ${top}`,
    );
  }
}
