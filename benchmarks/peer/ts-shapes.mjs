// Prints, for each model and shape, what our TypeScript benchmark (benchmarks/models.mjs) builds: B, T, F, C,
// width, layers, heads, dropout, the model config and the RecNet parameter count (the shapes of ../_lib.mjs).
// No training step is run.
//   node benchmarks/peer/ts-shapes.mjs [--shapes quick,paper] [--models gla,mamba2,gated-delta-net,transformer]
import { buildAtShape, loadSelectiv } from "../_lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1].split(",") : dflt;
};
const shapes = opt("--shapes", ["quick", "paper"]);
const models = opt("--models", ["gla", "mamba2", "gated-delta-net", "transformer"]);

const selectiv = await loadSelectiv("cpu");
for (const shapeName of shapes) {
  for (const id of models) {
    const { task, training: tc, net, modelConfig } = buildAtShape(selectiv, id, shapeName);
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
      heads: net.shape.heads,
      dropout: tc.dropout,
      config: modelConfig,
      params: net.parameterCount,
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    net.dispose();
  }
}
