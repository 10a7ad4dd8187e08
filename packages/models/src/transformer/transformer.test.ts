import "reflect-metadata";
import { container } from "tsyringe";
import { afterAll, describe, expect, it } from "vitest";
import {
  ParameterStore,
  RecNet,
  Rng,
  Tokens,
  createSelectivContainer,
  headsForWidth,
  tf,
  type ComputeForm,
  type ModelRegistry,
} from "@selectiv/core";
import { registerModels } from "../index.js";
import { transformerDefaults, type TransformerConfig } from "./config.js";
import { transformerDefinition } from "./definition.js";
import type { TransformerDecoderLayer } from "./layer.js";

const VALUE_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;

function randomTensor(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = scale * rng.normal();
  return tf.tensor(values, shape);
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
function relativeDiff(a: tf.Tensor, reference: tf.Tensor): number {
  return tf.tidy(() => {
    const scale = tf.max(tf.abs(reference)).dataSync()[0]!;
    return tf.max(tf.abs(tf.sub(a, reference))).dataSync()[0]! / Math.max(scale, 1e-30);
  });
}

function allFinite(x: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0] === 1);
}

interface Built {
  store: ParameterStore;
  layer: TransformerDecoderLayer;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<TransformerConfig> = {}, dropout = 0): Built {
  const store = new ParameterStore(seed);
  const config = { ...transformerDefaults, ...overrides } as TransformerConfig;
  const layer = transformerDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer"), dropout }, config);
  return { store, layer: layer as TransformerDecoderLayer };
}

function variable(store: ParameterStore, name: string): tf.Variable {
  const found = store.entries().find(([n]) => n === name);
  if (!found) throw new Error(`no parameter ${name}; have ${store.names.join(", ")}`);
  return found[1];
}

/** Loss = Σ w ⊙ y with fixed, distinct weights, and its gradients w.r.t. every layer variable and the input. */
function valueAndGradients(built: Built, x: tf.Variable, form: ComputeForm): { output: tf.Tensor; grads: Record<string, tf.Tensor> } {
  let output: tf.Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    const y = built.layer.forward(x as unknown as tf.Tensor3D, { training: true, form });
    output = tf.keep(y);
    const weights = tf.sin(tf.mul(tf.range(0, y.size).reshape(y.shape), 0.37));
    return tf.sum(tf.mul(y, weights)) as tf.Scalar;
  }, [...built.store.variables, x]);
  return { output: output!, grads };
}

interface Comparison {
  output: number;
  gradient: number;
  finite: boolean;
}

function compareForms(built: Built, x: tf.Variable): Comparison {
  const chunked = valueAndGradients(built, x, "chunked");
  const stepwise = valueAndGradients(built, x, "stepwise");
  let gradient = 0;
  let finite = allFinite(chunked.output) && allFinite(stepwise.output);
  const names = Object.keys(stepwise.grads);
  expect(names.length).toBe(built.store.variables.length + 1);
  for (const name of names) {
    const g = chunked.grads[name]!;
    finite &&= allFinite(g) && allFinite(stepwise.grads[name]!);
    gradient = Math.max(gradient, relativeDiff(g, stepwise.grads[name]!));
  }
  return { output: relativeDiff(chunked.output, stepwise.output), gradient, finite };
}

const observed = { output: 0, gradient: 0, streaming: 0, reference: 0 };
afterAll(() => {
  const e = (n: number) => n.toExponential(2);
  console.log(
    `Transformer max relative differences: chunked (query-blocked) vs stepwise (KV cache) output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}; plain-JS reference ${e(observed.reference)}`,
  );
});

function expectAgreement(r: Comparison): void {
  observed.output = Math.max(observed.output, r.output);
  observed.gradient = Math.max(observed.gradient, r.gradient);
  expect(r.finite).toBe(true);
  expect(r.output).toBeLessThan(VALUE_TOLERANCE);
  expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
}

describe("Transformer layer (models.md §5.1): query-blocked attention ≡ KV-cache oracle", () => {
  const d = 16;
  const heads = 2;
  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}, query block 16: outputs and gradients (all parameters, β included, and the input) agree`, () => {
      const built = buildLayer(d, heads, 11 + t, { queryBlock: 16 });
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  it("other query blocks (7, and the default 256 as one block) agree too", () => {
    for (const queryBlock of [7, 256]) {
      const built = buildLayer(d, 4, 21, { queryBlock });
      const x = tf.variable(randomTensor(new Rng(77), [2, 20, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });
});

describe("Transformer layer: streaming with the KV cache", () => {
  it("initialState + step for every t equals forward; the cache holds T tokens", () => {
    const [d, heads, b, t] = [16, 2, 3, 21];
    const built = buildLayer(d, heads, 42, { queryBlock: 8 });
    const x = randomTensor(new Rng(43), [b, t, d]) as tf.Tensor3D;
    const full = built.layer.forward(x, { training: false });
    let state = built.layer.initialState(b);
    expect(state.map((s) => s.shape)).toEqual([
      [b, heads, 0, d / heads],
      [b, heads, 0, d / heads],
    ]);
    const steps: tf.Tensor2D[] = [];
    for (let i = 0; i < t; i++) {
      const xt = tf.reshape(tf.slice(x, [0, i, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
      const r = built.layer.step(xt, state);
      state.forEach((s) => s.dispose());
      state = r.state;
      steps.push(r.y);
    }
    const streamed = tf.stack(steps, 1);
    const diff = relativeDiff(streamed, full);
    observed.streaming = Math.max(observed.streaming, diff);
    expect(streamed.shape).toEqual(full.shape);
    expect(diff).toBeLessThan(VALUE_TOLERANCE);
    expect(state.map((s) => s.shape)).toEqual([
      [b, heads, t, d / heads],
      [b, heads, t, d / heads],
    ]);
    built.store.dispose();
  });

  it("the feed-forward dropout acts only in training, with a mask fixed by the seed", () => {
    const built = buildLayer(16, 2, 5, {}, 0.5);
    const x = randomTensor(new Rng(6), [2, 9, 16]) as tf.Tensor3D;
    const infer = Array.from(built.layer.forward(x, { training: false }).dataSync());
    const train = Array.from(built.layer.forward(x, { training: true, dropoutSeed: 3 }).dataSync());
    expect(Array.from(built.layer.forward(x, { training: true, dropoutSeed: 3 }).dataSync())).toEqual(train);
    expect(train).not.toEqual(infer);
    expect(Array.from(built.layer.forward(x, { training: true, dropoutSeed: 4 }).dataSync())).not.toEqual(train);
    expect(Array.from(buildLayer(16, 2, 5, {}, 0).layer.forward(x, { training: true, dropoutSeed: 3 }).dataSync())).toEqual(infer);
    built.store.dispose();
  });
});

/**
 * An independent plain-JS reading of §5.1 for B = 1, from the parameter values: q, k, v = xW + b per head;
 * RMSNorm_ref(u) = u / (‖u‖/√D + 1e-8) ⊙ w on q, k; RoPE by −θ (x¹cosθ + x²sinθ ‖ −x¹sinθ + x²cosθ,
 * θ = t·1000^{−2j/D_h}); causal softmax(q·k/√D_h); x₁ = x + RMSNorm_ref(a W_out + b_out);
 * x₂ = x₁ + ((f₁ σ(β f₁)) f₂) W₂ + b₂ with [f₁, f₂] = x₁ W₁ + b₁.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const linear = (x: number[], w: number[], out: number, bias: number[]) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, bias[j]!));
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const dh = d / heads;
  const ffn = 4 * d;
  const refNorm = (u: number[], w: number[]) => {
    const rms = Math.sqrt(u.reduce((s, z) => s + z * z, 0) / u.length);
    return u.map((z, i) => (z / (rms + 1e-8)) * w[i]!);
  };
  const rope = (u: number[], t: number) => {
    const half = dh / 2;
    const out = new Array<number>(dh);
    for (let j = 0; j < half; j++) {
      const theta = t * Math.pow(1000, (-2 * j) / dh);
      out[j] = u[j]! * Math.cos(theta) + u[j + half]! * Math.sin(theta);
      out[j + half] = -u[j]! * Math.sin(theta) + u[j + half]! * Math.cos(theta);
    }
    return out;
  };
  const perHead = (u: number[]) => Array.from({ length: heads }, (_, h) => u.slice(h * dh, (h + 1) * dh));
  const qs = xs.map((x, t) =>
    perHead(linear(x, p("q_proj.weight"), d, p("q_proj.bias"))).map((u) => rope(refNorm(u, p("q_norm.weight")), t)),
  );
  const ks = xs.map((x, t) =>
    perHead(linear(x, p("k_proj.weight"), d, p("k_proj.bias"))).map((u) => rope(refNorm(u, p("k_norm.weight")), t)),
  );
  const vs = xs.map((x) => perHead(linear(x, p("v_proj.weight"), d, p("v_proj.bias"))));
  const beta = p("beta_swish")[0]!;
  return xs.map((x, t) => {
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const scores = Array.from({ length: t + 1 }, (_, s) => qs[t]![h]!.reduce((a, qi, i) => a + qi * ks[s]![h]![i]!, 0) / Math.sqrt(dh));
      const top = Math.max(...scores);
      const weights = scores.map((z) => Math.exp(z - top));
      const total = weights.reduce((a, z) => a + z, 0);
      for (let i = 0; i < dh; i++) merged.push(weights.reduce((a, w, s) => a + (w / total) * vs[s]![h]![i]!, 0));
    }
    const branch = refNorm(linear(merged, p("out_proj.weight"), d, p("out_proj.bias")), p("out_norm.weight"));
    const x1 = x.map((xi, i) => xi + branch[i]!);
    const hidden = linear(x1, p("linear1.weight"), 2 * ffn, p("linear1.bias"));
    const f = Array.from({ length: ffn }, (_, i) => hidden[i]! * sig(beta * hidden[i]!) * hidden[ffn + i]!);
    const out = linear(f, p("linear2.weight"), d, p("linear2.bias"));
    return x1.map((z, i) => z + out[i]!);
  });
}

describe("Transformer layer: values match a plain-JS reading of §5.1", () => {
  it("d=8, H=2, T=9, query block 4 (random norm weights and β, so layouts matter)", () => {
    const [d, heads, t] = [8, 2, 9];
    const built = buildLayer(d, heads, 3, { queryBlock: 4 });
    let seed = 4;
    for (const name of ["layer.q_norm.weight", "layer.k_norm.weight", "layer.out_norm.weight"]) {
      const w = variable(built.store, name);
      w.assign(tf.add(1, randomTensor(new Rng(seed++), w.shape, 0.5)));
    }
    variable(built.store, "layer.beta_swish").assign(tf.tensor1d([0.7]));
    // Larger q/k weights sharpen the softmax, so the rotation and masking matter more.
    for (const name of ["layer.q_norm.weight", "layer.k_norm.weight"]) {
      const w = variable(built.store, name);
      w.assign(tf.mul(w, 2));
    }
    const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
    const xs = (x.arraySync() as number[][][])[0]!;
    const expected = tf.tensor([referenceForward(built.store, xs, d, heads)]);
    for (const form of ["chunked", "stepwise"] as const) {
      const diff = relativeDiff(built.layer.forward(x, { training: false, form }), expected);
      observed.reference = Math.max(observed.reference, diff);
      expect(diff).toBeLessThan(VALUE_TOLERANCE);
    }
    built.store.dispose();
  });
});

describe("Transformer parameters (models.md §5.1, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 16d² + 14d + 2d/H + 1`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 16 * d * d + 14 * d + (2 * d) / heads + 1;
      expect(transformerDefinition.parametersPerLayer(d, heads, transformerDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the per-layer figure at d = 256 matches §7.2 (1,052,289) and the RecNet total is 8,844,617", () => {
    expect(transformerDefinition.parametersPerLayer(256, 4, transformerDefaults)).toBe(1_052_289);
    const net = new RecNet(
      transformerDefinition,
      transformerDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(8_844_617);
    net.store.dispose();
  });

  it("the general formula follows ffnExpand", () => {
    const config = { ...transformerDefaults, ffnExpand: 2 };
    const built = buildLayer(32, 4, 1, { ffnExpand: 2 });
    expect(built.store.count()).toBe(transformerDefinition.parametersPerLayer(32, 4, config));
    built.store.dispose();
  });

  it("rejects odd or fractional head dims with a one-line error naming d and H", () => {
    expect(() => buildLayer(12, 4, 1)).toThrow(/^transformer: head dim d\/H = 12\/4 = 3 must be an even integer for RoPE$/);
    expect(() => buildLayer(18, 4, 1)).toThrow(/transformer: head dim d\/H = 18\/4 = 4.5 must be an even integer/);
    expect(() => transformerDefinition.parametersPerLayer(1296, 16, transformerDefaults)).toThrow(/1296\/16 = 81/);
  });
});

describe("Transformer init is deterministic from the seed", () => {
  it("same seed → identical weights; different seed → different; norms and β start at 1; PyTorch default bounds", () => {
    const a = buildLayer(16, 2, 123);
    const b = buildLayer(16, 2, 123);
    const c = buildLayer(16, 2, 124);
    expect(a.store.names).toEqual(b.store.names);
    let differing = 0;
    for (const [name, v] of a.store.entries()) {
      expect(Array.from(v.dataSync())).toEqual(Array.from(variable(b.store, name).dataSync()));
      if (relativeDiff(variable(c.store, name), v) > 0) differing++;
    }
    // Everything random differs; the three norm weights and β (constants) do not.
    expect(differing).toBe(a.store.names.length - 4);
    expect(Array.from(variable(a.store, "layer.beta_swish").dataSync())).toEqual([1]);
    for (const [name, size] of [
      ["layer.q_norm.weight", 8],
      ["layer.k_norm.weight", 8],
      ["layer.out_norm.weight", 16],
    ] as const) {
      expect(Array.from(variable(a.store, name).dataSync())).toEqual(new Array(size).fill(1));
    }
    // Weights and biases ~ U(±1/√fan_in): fan_in d = 16 for q/k/v/out/linear1, 4d = 64 for linear2.
    const maxAbs = (name: string) => tf.max(tf.abs(variable(a.store, name))).dataSync()[0]!;
    for (const name of ["q_proj.weight", "q_proj.bias", "out_proj.bias", "linear1.weight", "linear1.bias"]) {
      expect(maxAbs(`layer.${name}`)).toBeLessThanOrEqual(0.25);
    }
    expect(maxAbs("layer.linear2.weight")).toBeLessThanOrEqual(1 / 8);
    expect(maxAbs("layer.linear2.bias")).toBeLessThanOrEqual(1 / 8);
    for (const built of [a, b, c]) built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts transformer in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("transformer").taxonomy.transition).toBe("none");
    expect(registry.get("transformer").defaults).toEqual(transformerDefaults);
  });
});
