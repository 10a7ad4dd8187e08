// Prints, for each model and shape, what our TypeScript benchmark (benchmarks/models.mjs) builds: B, T, F, C,
// width, layers, heads, dropout, the model config and the RecNet parameter count. No training step is run.
//   node benchmarks/peer/ts-shapes.mjs [--shapes quick,paper] [--models gla,mamba2,gated-delta-net,transformer]
// The shapes mirror SHAPES in benchmarks/models.mjs (keep them in sync).
const SHAPES = {
  quick: { preset: "quick", train: {} },
  paper: { preset: "paper", train: { width: 256, layers: 8, batchSize: 64, dropout: 0.2 } },
};

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1].split(",") : dflt;
};
const shapes = opt("--shapes", ["quick", "paper"]);
const models = opt("--models", ["gla", "mamba2", "gated-delta-net", "transformer"]);

const core = await import("../../packages/core/dist/index.js");
const { registerTasks } = await import("../../packages/tasks/dist/index.js");
const { registerModels } = await import("../../packages/models/dist/index.js");
const { container } = await import("tsyringe");
const backend = await core.initBackend("cpu");
const c = core.createSelectivContainer(container);
registerTasks(c);
registerModels(c);
for (const shapeName of shapes) {
  const shape = SHAPES[shapeName];
  for (const id of models) {
    const overrides = core.emptyOverrides();
    overrides.train = { ...shape.train };
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
    const tc = run.training;
    const heads = core.headsForWidth(tc.width);
    const net = new core.RecNet(
      run.model,
      run.modelConfig,
      { inputSize: task.inputSize, numClasses: task.numClasses, width: tc.width, layers: tc.layers, heads, dropout: tc.dropout },
      1,
    );
    const batch = task.batch("train", 0, tc.batchSize);
    const row = {
      model: id,
      shape: shapeName,
      batch: batch.size,
      steps: batch.steps,
      inputs: task.inputSize,
      classes: task.numClasses,
      width: tc.width,
      layers: tc.layers,
      heads,
      dropout: tc.dropout,
      config: run.modelConfig,
      params: net.parameterCount,
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    net.dispose();
  }
}
