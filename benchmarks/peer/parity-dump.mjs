// Dumps a small TypeScript RecNet per model (parameters by name, an input, the logits it gives) as JSON, for
// parity.py, which loads the same weights into the PyTorch peer and compares the logits.
//   node benchmarks/peer/parity-dump.mjs OUT.json
import { writeFileSync } from "node:fs";

const out = process.argv[2] ?? "/tmp/peer-parity.json";
const core = await import("../../packages/core/dist/index.js");
const { registerModels } = await import("../../packages/models/dist/index.js");
const { container } = await import("tsyringe");
const { tf } = core;
await core.initBackend("cpu");
const c = core.createSelectivContainer(container);
registerModels(c);
const registry = c.resolve(core.Tokens.ModelRegistry);
const shape = { inputSize: 5, numClasses: 7, width: 16, layers: 2, heads: 2, dropout: 0 };
const [b, t] = [2, 70]; // T = 70: more than one chunk of 64 and not a multiple of it
const rows = [];
for (const id of ["gla", "mamba2", "gated-delta-net", "transformer"]) {
  const def = registry.get(id);
  const config = { ...def.defaults, ...(id === "mamba2" ? { dState: 8 } : {}) };
  const net = new core.RecNet(def, config, shape, 3);
  // Move every parameter off its init (norm weights, D and beta_swish start at constants, which would hide layout
  // mistakes): w ← w · (1 + 0.2 n), n ~ N(0, 1).
  const noise = new core.Rng(5);
  for (const [, v] of net.store.entries()) {
    const m = tf.tensor(
      Float32Array.from({ length: v.size }, () => 1 + 0.2 * noise.normal()),
      v.shape,
    );
    v.assign(tf.mul(v, m));
  }
  const rng = new core.Rng(11);
  const xs = Float32Array.from({ length: b * t * shape.inputSize }, () => rng.normal());
  const x = tf.tensor3d(xs, [b, t, shape.inputSize]);
  const logits = net.logits(x, { training: false });
  rows.push({
    model: id,
    config,
    shape,
    input: { shape: [b, t, shape.inputSize], values: Array.from(xs) },
    logits: Array.from(logits.dataSync()),
    params: Object.fromEntries(net.store.entries().map(([name, v]) => [name, { shape: v.shape, values: Array.from(v.dataSync()) }])),
    count: net.parameterCount,
  });
  net.dispose();
}
writeFileSync(out, JSON.stringify(rows));
console.error(`wrote ${out}`);
