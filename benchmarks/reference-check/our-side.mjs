// Our side of the reference check: builds our RecNet for one model (node, TF.js cpu backend, float32), moves every
// parameter off its init, runs one training-form batch and writes, in the REFERENCE's parameter names and layouts,
// the parameters, the logits, the loss (masked mean cross-entropy over all steps, as packages/core's training step)
// and every parameter's gradient, for check.py to replay in the reference RecNet.
//
//   node benchmarks/reference-check/our-side.mjs --model ID --out PREFIX [--width 64] [--layers 2] [--heads 4]
//        [--d-state 16] [--batch 3] [--steps 70] [--inputs 5] [--classes 7] [--seed 3] [--mapping exporter|builtin]
//
// --mapping: where the reference names and layouts come from: `exporter` (default where packages/core has it) is
// core's referenceStateDict / RecNet.referenceLayout, what `selectiv weights export` writes; `builtin` is the rule in
// this file. With the exporter, the builtin rule is checked against it too (meta.builtinAgrees).
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
    mapping: { type: "string" },
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

const mapping = a.mapping ?? (typeof core.referenceStateDict === "function" ? "exporter" : "builtin");
if (!["exporter", "builtin"].includes(mapping)) fail(`--mapping must be exporter or builtin, got ${a.mapping}`);
if (mapping === "exporter" && typeof core.referenceStateDict !== "function")
  fail("--mapping exporter: this build of packages/core has no referenceStateDict");

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
const builtin = new Map();
for (const [name, v] of entries) {
  const ref = refName(name);
  const [pv, ps] = toRefLayout(name, v.shape, v.dataSync());
  const [gv, gs] = toRefLayout(name, v.shape, grads[v.name].dataSync());
  builtin.set(ref, { ours: name, oursShape: v.shape, param: [pv, ps], grad: [gv, gs] });
}
let builtinAgrees = null;
const buffers = [];
if (mapping === "builtin") {
  for (const [ref, e] of builtin) {
    put(`param:${ref}`, ...e.param);
    put(`grad:${ref}`, ...e.grad);
    params[ref] = { ours: e.ours, oursShape: e.oursShape, shape: e.param[1] };
  }
} else {
  // What `selectiv weights export` writes: core's referenceStateDict (parameters and buffers) and, for the
  // gradients, the same per-parameter layouts from RecNet.referenceLayout().
  const exported = await core.referenceStateDict(net);
  const layout = net.referenceLayout();
  const variables = new Map(entries);
  const same = (x, y) => x.length === y.length && x.every((v, i) => v === y[i]);
  builtinAgrees = true;
  for (const p of layout.parameters) {
    const v = variables.get(p.ours);
    const e = exported.get(p.reference);
    const shape = core.referenceShape(p.layout, v.shape);
    const g = grads[v.name].dataSync();
    const gv =
      p.layout === "same"
        ? g
        : Float32Array.from({ length: g.length }, (_, k) => g[(k % v.shape[0]) * v.shape[1] + Math.floor(k / v.shape[0])]);
    put(`param:${p.reference}`, e.data, e.shape);
    put(`grad:${p.reference}`, gv, shape);
    params[p.reference] = { ours: p.ours, oursShape: v.shape, shape: e.shape, layout: p.layout };
    const bi = builtin.get(p.reference);
    if (!bi || !same(bi.param[1], e.shape) || !same(bi.param[0], e.data) || !same(bi.grad[0], gv)) builtinAgrees = false;
  }
  if (layout.parameters.length !== builtin.size) builtinAgrees = false;
  for (const bf of layout.buffers) {
    const e = exported.get(bf.reference);
    put(`buffer:${bf.reference}`, e.data, e.shape);
    buffers.push(bf.reference);
  }
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
  mapping,
  builtinAgrees,
  buffers,
  params,
  index,
};
writeFileSync(`${a.out}.bin`, Buffer.concat(chunks));
writeFileSync(`${a.out}.json`, JSON.stringify(meta, null, 1));
process.stderr.write(`wrote ${a.out}.json, ${a.out}.bin (${a.model}, loss ${meta.loss})\n`);
