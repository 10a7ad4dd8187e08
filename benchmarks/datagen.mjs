// Data-generation throughput of the paper's Task-1 grammar (docs/spec/TASKS.md §5: amb 40, depth 40, alphabet 41).
// Build first: npx tsc -b packages/core packages/tasks
import { pathToFileURL } from "node:url";
import { createGrammarTask, generateGrammar, grammarRng, task1Definition } from "../packages/tasks/dist/index.js";

const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9;

export function run({ seed = 1, batchSize = 64, batches = 50 } = {}) {
  const config = { ...task1Definition.defaults, ...task1Definition.presets.paper };

  let t = process.hrtime.bigint();
  const grammar = generateGrammar(config, grammarRng(seed));
  const grammarSeconds = seconds(t);
  t = process.hrtime.bigint();
  const te = grammar.topologicalEntropy();
  const teSeconds = seconds(t);
  t = process.hrtime.bigint();
  const task = createGrammarTask(config, seed);
  const createSeconds = seconds(t);

  const n = config.trainSize;
  t = process.hrtime.bigint();
  const set = task.generator.generate("train", 0, n);
  const setSeconds = seconds(t);
  let steps = 0;
  for (let i = 0; i < set.count; i++) steps += set.steps[i];

  const materialiseSet = task.generator.generate("train", 0, batchSize * batches);
  t = process.hrtime.bigint();
  let entries = 0;
  for (let b = 0; b < batches; b++) entries += task.generator.materialise(materialiseSet, b * batchSize, batchSize).inputs.length;
  const materialiseSeconds = seconds(t);

  t = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) task.batch("train", b * batchSize, batchSize);
  const batchSeconds = seconds(t);

  const rows = [
    ["grammar", `${grammar.numStates} states, ${grammar.numEdges} edges, ${grammar.edgesToEnd} to '#', TE ${te.toFixed(4)}`],
    [
      "grammar construction",
      `${(grammarSeconds * 1e3).toFixed(1)} ms (+ TE ${(teSeconds * 1e3).toFixed(1)} ms; task create with summary ${(createSeconds * 1e3).toFixed(1)} ms)`,
    ],
    ["training set", `${n} samples × ${config.combinedLength} symbols (${steps} steps) in ${setSeconds.toFixed(2)} s`],
    ["samples/s", `${Math.round(n / setSeconds)} (${((n * config.combinedLength) / setSeconds / 1e6).toFixed(1)} M symbols/s)`],
    [
      "one-hot materialisation",
      `${Math.round((batches * batchSize) / materialiseSeconds)} samples/s (${((entries * 4) / materialiseSeconds / 2 ** 30).toFixed(2)} GiB/s of inputs, batch ${batchSize})`,
    ],
    [
      "batch() end to end",
      `${Math.round((batches * batchSize) / batchSeconds)} samples/s (${((batchSeconds / batches) * 1e3).toFixed(1)} ms per batch of ${batchSize})`,
    ],
  ];
  console.log("datagen: paper Task-1 grammar (amb 40, depth 40, alphabet 41), seed " + seed);
  for (const [name, value] of rows) console.log(`  ${name.padEnd(24)} ${value}`);
  return {
    grammarSeconds,
    setSeconds,
    samplesPerSecond: n / setSeconds,
    materialiseSamplesPerSecond: (batches * batchSize) / materialiseSeconds,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) run();
