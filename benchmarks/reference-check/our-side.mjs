// Our side of the reference check: builds our RecNet for one model (node, TF.js cpu backend, float32), moves every
// parameter off its init, runs one training-form batch and writes, in the REFERENCE's parameter names and layouts,
// the parameters, the logits, the loss (masked mean cross-entropy over all steps, as packages/core's training step)
// and every parameter's gradient, for check.py to replay in the reference RecNet.
//
//   node benchmarks/reference-check/our-side.mjs --model ID --out PREFIX [--width 64] [--layers 2] [--heads 4]
//        [--d-state 16] [--batch 3] [--steps 70] [--inputs 5] [--classes 7] [--seed 3]
//
// Writes PREFIX.json (metadata, tensor index) and PREFIX.bin (float32 little-endian, the tensors back to back).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

function fail(msg) {
  process.stderr.write(`error: ${msg}\n`);
  process.exit(2);
}

const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    out: { type: "string" },
    width: { type: "string", default: "64" },
    layers: { type: "string", default: "2" },
    heads: { type: "string", default: "4" },
    "d-state": { type: "string", default: "16" },
    batch: { type: "string", default: "3" },
    steps: { type: "string", default: "70" },
    inputs: { type: "string", default: "5" },
    classes: { type: "string", default: "7" },
    seed: { type: "string", default: "3" },
  },
});
if (!a.model || !a.out) fail("usage: our-side.mjs --model ID --out PREFIX [--width 64 --layers 2 --heads 4 --d-state 16]");
const int = (k) => {
  const v = Number(a[k]);
  if (!Number.isInteger(v) || v <= 0) fail(`--${k} must be a positive integer, got ${a[k]}`);
  return v;
};
const [width, layers, heads, dState, b, t, f, c, seed] = [
  "width",
  "layers",
  "heads",
  "d-state",
  "batch",
  "steps",
  "inputs",
  "classes",
  "seed",
].map(int);

const core = await import("../../packages/core/dist/index.js");
const { registerModels } = await import("../../packages/models/dist/index.js");
const { container } = await import("tsyringe");
const { tf } = core;
await core.initBackend("cpu");
const registry = (() => {
  const cont = core.createSelectivContainer(container);
  registerModels(cont);
  return cont.resolve(core.Tokens.ModelRegistry);
})();
let def;
try {
  def = registry.get(a.model);
} catch {
  fail(`unknown model ${a.model}`);
}

// Settings that make our model the reference's layer (everything else: our defaults, which follow the reference).
const overrides = {
  mamba: { dState },
  mamba2: { dState },
  s4d: { dState },
  // fla's LinearAttention has no short convolutions.
  "linear-attention": { useShortConv: false },
};
const config = { ...def.defaults, ...(overrides[a.model] ?? {}) };
const shape = { inputSize: f, numClasses: c, width, layers, heads, dropout: 0 };
const net = new core.RecNet(def, config, shape, seed);

// Move every parameter off its init (norm weights, D, beta start at constants and biases at 0, which would hide layout
// mistakes): w ← w·(1 + 0.2 n) + 0.02 n', n, n' ~ N(0, 1).
const noise = new core.Rng(seed + 1000);
for (const [, v] of net.store.entries()) {
  const n = Float32Array.from({ length: v.size }, () => 1 + 0.2 * noise.normal());
  const n2 = Float32Array.from({ length: v.size }, () => 0.02 * noise.normal());
  v.assign(tf.tidy(() => tf.add(tf.mul(v, tf.tensor(n, v.shape)), tf.tensor(n2, v.shape))));
}

// Our name -> the reference's name; our layout -> the reference's (a pure function of the name and our shape).
function refName(name) {
  let m = /^layers\.(\d+)\.norm\.(weight|bias)$/.exec(name);
  if (m) return `norms.${m[1]}.${m[2]}`;
  m = /^layers\.(\d+)\.mixer\.(.+)$/.exec(name);
  if (!m) return name; // encoder.*, decoder.*
  let rest = m[2];
  if (a.model === "transformer" && rest === "beta_swish") rest = "beta";
  if (a.model === "linear-attention" && rest.startsWith("o_norm.")) rest = rest.replace("o_norm.", "norm.");
  return `layers.${m[1]}.${rest}`;
}
// Returns [values in the reference layout, reference shape].
function toRefLayout(name, shape, values) {
  const transpose2 = () => {
    const [r, k] = shape;
    const out = new Float32Array(values.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) out[j * r + i] = values[i * k + j];
    return [out, [k, r]];
  };
  if (shape.length !== 2) return [values, shape];
  if (/conv1d\.weight$/.test(name)) {
    const [o, s] = transpose2(); // ours [K, C] -> [C, K] -> [C, 1, K]
    return [o, [s[0], 1, s[1]]];
  }
  if (/output_linear\.0\.weight$/.test(name)) {
    const [o, s] = transpose2(); // ours [H, 2H] -> Conv1d [2H, H, 1]
    return [o, [s[0], s[1], 1]];
  }
  if (/\.weight$/.test(name) || /weight_(ih|hh)_l\d+$/.test(name)) return transpose2(); // Linear: ours [in, out]
  return [values, shape];
}

const rng = new core.Rng(seed + 2000);
const xs = Float32Array.from({ length: b * t * f }, () => rng.normal());
const ys = Int32Array.from({ length: b * t }, () => rng.int(c));
const x = tf.tensor3d(xs, [b, t, f]);
const y = tf.tensor2d(ys, [b, t], "int32");
const mask = tf.ones([b, t]);

const entries = net.store.entries();
const pathOf = new Map(entries.map(([n, v]) => [v.name, n]));
let logitsT;
const { value, grads } = tf.variableGrads(
  () => {
    const logits = net.logits(x, { training: true, dropoutSeed: 1, dropout: false });
    logitsT = tf.keep(logits);
    return tf.div(core.maskedCrossEntropySum(logits, y, mask), b * t);
  },
  entries.map(([, v]) => v),
);

const chunks = [];
let offset = 0;
const index = {};
const put = (key, arr, shp) => {
  const f32 = arr instanceof Float32Array ? arr : Float32Array.from(arr);
  index[key] = { shape: shp, offset, length: f32.length };
  chunks.push(Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength));
  offset += f32.length;
};
put("input", xs, [b, t, f]);
put("targets", Float32Array.from(ys), [b, t]);
put("logits", logitsT.dataSync(), logitsT.shape);
const params = {};
for (const [name, v] of entries) {
  const ref = refName(name);
  const [pv, ps] = toRefLayout(name, v.shape, v.dataSync());
  put(`param:${ref}`, pv, ps);
  const g = grads[v.name];
  const [gv, gs] = toRefLayout(name, v.shape, g.dataSync());
  put(`grad:${ref}`, gv, gs);
  params[ref] = { ours: name, oursShape: v.shape, shape: ps };
}
const meta = {
  model: a.model,
  config,
  shape,
  batch: b,
  steps: t,
  seed,
  loss: value.dataSync()[0],
  parameterCount: net.parameterCount,
  reference: {
    inp_size: f,
    d_output: c,
    d_model: width,
    layers,
    n_head: heads,
    d_state: dState,
    ...(a.model === "transformer" ? { rope_base: config.ropeBase } : {}),
  },
  params,
  index,
  pathCheck: [...pathOf.values()].length,
};
writeFileSync(`${a.out}.bin`, Buffer.concat(chunks));
writeFileSync(`${a.out}.json`, JSON.stringify(meta, null, 1));
process.stderr.write(`wrote ${a.out}.json, ${a.out}.bin (${a.model}, loss ${meta.loss})\n`);
