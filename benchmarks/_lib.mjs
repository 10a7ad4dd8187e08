// Shared by the benchmarks: the shapes, loading the built packages on one backend, and a model built at a shape.

/** quick = the quick preset (Task 1, 4×4 grammar); paper = the paper's Task 1 (batch 64, 400 steps, width 256, 8 layers). */
export const SHAPES = {
  quick: { preset: "quick", train: {} },
  paper: { preset: "paper", train: { width: 256, layers: 8, batchSize: 64, dropout: 0.2 } },
};

/** The built packages with every task and model registered, on `backendName` (one backend per process). */
export async function loadSelectiv(backendName) {
  const core = await import("../packages/core/dist/index.js");
  const { registerTasks } = await import("../packages/tasks/dist/index.js");
  const { registerModels } = await import("../packages/models/dist/index.js");
  const { container } = await import("tsyringe");
  const backend = await core.initBackend(backendName);
  const c = core.createSelectivContainer(container);
  registerTasks(c);
  registerModels(c);
  const modelIds = c.resolve(core.Tokens.ModelRegistry).ids();
  return { core, c, backend, modelIds };
}

/** Task 1 at `shapeName` with training overrides, and model `id` built on it with seed 1. */
export function buildAtShape(selectiv, id, shapeName, train = {}) {
  const { core, c, backend } = selectiv;
  const shape = SHAPES[shapeName];
  const overrides = core.emptyOverrides();
  overrides.train = { ...shape.train, ...train };
  const [run] = core.planBenchmark(c, {
    tasks: ["task1"],
    models: [id],
    seeds: [1],
    preset: shape.preset,
    overrides,
    backend: backend.name,
    outDir: "/tmp",
  });
  const task = run.task.create(run.taskConfig, 1);
  return { task, training: run.training, net: netFor(core, run, task, 1), modelConfig: run.modelConfig, run: { ...run, backend } };
}

/** The RecNet of a planned run on `task`'s inputs and classes, at the run's training shape. */
export function netFor(core, run, task, seed) {
  const t = run.training;
  const heads = t.heads > 0 ? t.heads : core.headsForWidth(t.width);
  const shape = { inputSize: task.inputSize, numClasses: task.numClasses, width: t.width, layers: t.layers, heads, dropout: t.dropout };
  return new core.RecNet(run.model, run.modelConfig, shape, seed);
}

/**
 * Core's trainingStep on a model built at a shape (buildAtShape), on its batch 0 every time (seed 1, lr 1e-3);
 * `dropout: false` as the paper preset trains after its first evaluation.
 */
export function stepper(core, built, { dropout = true } = {}) {
  const variables = new Map(built.net.store.entries());
  const adam = new core.Adam();
  const batch = built.task.batch("train", 0, built.training.batchSize);
  const step = (s) =>
    core.trainingStep(built.net, adam, variables, batch, {
      seed: 1,
      step: s,
      lr: 1e-3,
      clipNorm: built.training.clipNorm,
      microBatch: built.training.microBatch,
      ...(dropout ? {} : { dropout: false }),
    });
  return { step, batch, dispose: () => (adam.dispose(), built.net.dispose()) };
}

/** Median of the timed training steps (core's trainingStep: micro-batches, clipping, Adam) after `warmup` untimed ones. */
export async function timeTrainingSteps(core, built, { steps, warmup }) {
  const { net, task, training } = built;
  const variables = new Map(net.store.entries());
  // train.workers > 1: worker threads as the CLI starts them (cli's factory, no plugins).
  let helpers = [];
  if ((training.workers ?? 1) > 1) {
    const { workerThreadHelpers } = await import("../packages/cli/dist/parallel/worker-pool.js");
    helpers = await workerThreadHelpers([])(built.run, net.shape, training.workers - 1);
  }
  const adam = new core.Adam();
  const batch = task.batch("train", 0, training.batchSize);
  const times = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    await core.trainingStep(net, adam, variables, batch, {
      seed: 1,
      step: s,
      lr: 1e-3,
      clipNorm: training.clipNorm,
      microBatch: training.microBatch,
      helpers,
    });
    if (s >= warmup) times.push(performance.now() - t0);
  }
  await Promise.all(helpers.map((h) => h.dispose()));
  adam.dispose();
  times.sort((a, b) => a - b);
  return {
    batch: batch.size,
    steps: batch.steps,
    inputs: batch.inputSize,
    classes: task.numClasses,
    microBatch: core.microBatchSize(batch, net, training.microBatch),
    workers: training.workers ?? 1,
    stepMs: times[Math.floor(times.length / 2)],
  };
}

/** Prints rows as an aligned text table; `right` = indices of right-aligned columns. */
export function printTable(header, body, right = []) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => cells.map((c, i) => (right.includes(i) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

/** The JSON rows a child printed; other lines (Dawn prints shader validation messages on stdout) are skipped. */
export function jsonLines(text) {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}
