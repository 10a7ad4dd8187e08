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
import { retNetDefaults, retentionLogDecays, type RetNetConfig } from "./config.js";
import { retNetDefinition } from "./definition.js";
import type { MultiScaleRetention } from "./layer.js";

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
  layer: MultiScaleRetention;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<RetNetConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...retNetDefaults, ...overrides } as RetNetConfig;
  const layer = retNetDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer") }, config);
  return { store, layer: layer as MultiScaleRetention };
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
    `RetNet max relative differences: chunked vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}; plain-JS reference ${e(observed.reference)}`,
  );
});

function expectAgreement(r: Comparison): void {
  observed.output = Math.max(observed.output, r.output);
  observed.gradient = Math.max(observed.gradient, r.gradient);
  expect(r.finite).toBe(true);
  expect(r.output).toBeLessThan(VALUE_TOLERANCE);
  expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
}

describe("RetNet layer (models.md §3.2): chunked form ≡ stepwise oracle", () => {
  const d = 16;
  const heads = 2;
  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}, chunk 16: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(d, heads, 11 + t, { chunkSize: 16 });
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  it("long T = 70 with chunk 16 and with the default chunk 64, H = 4 (γ up to 0.996): finite and agreeing", () => {
    for (const chunkSize of [16, 64]) {
      const built = buildLayer(d, 4, 7, { chunkSize });
      const x = tf.variable(randomTensor(new Rng(70), [2, 70, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("without short convs or output gate, the forms still agree", () => {
    const built = buildLayer(d, heads, 31, { useShortConv: false, useOutputGate: false, chunkSize: 8 });
    const x = tf.variable(randomTensor(new Rng(31), [2, 19, d]));
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });
});

describe("RetNet layer: streaming", () => {
  for (const overrides of [{}, { useShortConv: false, useOutputGate: false }] as Partial<RetNetConfig>[]) {
    it(`initialState + step for every t equals forward, and the RoPE position advances ${JSON.stringify(overrides)}`, () => {
      const [d, heads, b, t] = [16, 2, 3, 21];
      const built = buildLayer(d, heads, 42, { ...overrides, chunkSize: 8 });
      const x = randomTensor(new Rng(43), [b, t, d]) as tf.Tensor3D;
      const full = built.layer.forward(x, { training: false });
      let state = built.layer.initialState(b);
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
      expect(Array.from(state[state.length - 1]!.dataSync())).toEqual([t]);
      // Constant memory: the state has the same shapes after T steps as before the first.
      expect(state.map((s) => s.shape)).toEqual(built.layer.initialState(b).map((s) => s.shape));
      built.store.dispose();
    });
  }
});

/**
 * An independent plain-JS reading of §3.2 for B = 1, from the parameter values: projections, causal depthwise
 * conv + SiLU, RoPE on q and k (fla: x¹cosθ − x²sinθ ‖ x²cosθ + x¹sinθ, θ = t·10000^{−2j/d_k}), q̂ = q/√d_k,
 * S_t = γ_h S_{t−1} + k_t v_tᵀ with γ_h = 1 − 2^{−5−h}, o_t = S_tᵀq̂_t, RMSNorm per head ⊙ w ⊙ SiLU(x W_g), o_proj.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const linear = (x: number[], w: number[], out: number) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, 0));
  const silu = (z: number) => z / (1 + Math.exp(-z));
  const K = d;
  const V = 2 * d;
  const [dk, dv] = [K / heads, V / heads];
  const convolve = (seq: number[][], w: number[], channels: number) =>
    seq.map((_, t) =>
      Array.from({ length: channels }, (_, c) => {
        let s = 0;
        for (let j = 0; j < 4; j++) {
          const tau = t - 3 + j;
          if (tau >= 0) s += w[j * channels + c]! * seq[tau]![c]!;
        }
        return silu(s);
      }),
    );
  const rope = (u: number[], t: number) => {
    const half = dk / 2;
    const out = new Array<number>(dk);
    for (let j = 0; j < half; j++) {
      const theta = t * Math.pow(10000, (-2 * j) / dk);
      out[j] = u[j]! * Math.cos(theta) - u[j + half]! * Math.sin(theta);
      out[j + half] = u[j + half]! * Math.cos(theta) + u[j]! * Math.sin(theta);
    }
    return out;
  };
  const q = convolve(
    xs.map((x) => linear(x, p("q_proj.weight"), K)),
    p("q_conv1d.weight"),
    K,
  );
  const k = convolve(
    xs.map((x) => linear(x, p("k_proj.weight"), K)),
    p("k_conv1d.weight"),
    K,
  );
  const v = convolve(
    xs.map((x) => linear(x, p("v_proj.weight"), V)),
    p("v_conv1d.weight"),
    V,
  );
  const normWeight = p("g_norm_swish_gate.weight");
  const state = Array.from({ length: heads }, () => Array.from({ length: dk }, () => new Array<number>(dv).fill(0)));
  return xs.map((x, t) => {
    const g = linear(x, p("g_proj.weight"), V);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const gamma = 1 - Math.pow(2, -5 - h);
      const qh = rope(q[t]!.slice(h * dk, (h + 1) * dk), t);
      const kh = rope(k[t]!.slice(h * dk, (h + 1) * dk), t);
      const o = new Array<number>(dv).fill(0);
      for (let i = 0; i < dk; i++) {
        for (let j = 0; j < dv; j++) {
          state[h]![i]![j] = gamma * state[h]![i]![j]! + kh[i]! * v[t]![h * dv + j]!;
          o[j] += state[h]![i]![j]! * (qh[i]! / Math.sqrt(dk));
        }
      }
      const rms = Math.sqrt(o.reduce((s, z) => s + z * z, 0) / dv + 1e-5);
      for (let j = 0; j < dv; j++) merged.push((o[j]! / rms) * normWeight[j]! * silu(g[h * dv + j]!));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("RetNet layer: values match a plain-JS reading of §3.2", () => {
  it("d=8, H=2, T=9, chunk 4 (random norm weight, so the shared weight's layout matters)", () => {
    const [d, heads, t] = [8, 2, 9];
    const built = buildLayer(d, heads, 3, { chunkSize: 4 });
    const norm = variable(built.store, "layer.g_norm_swish_gate.weight");
    norm.assign(tf.add(1, randomTensor(new Rng(4), norm.shape, 0.5)));
    // Larger q/k weights make the rotation matter more against the decay.
    for (const name of ["layer.q_proj.weight", "layer.k_proj.weight"]) {
      const w = variable(built.store, name);
      w.assign(tf.mul(w, 4));
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

describe("RetNet decays and RoPE settings (models.md §3.2)", () => {
  it("γ_h = 1 − 2^{−5−h}: 0.96875, 0.984375, 0.9921875, 0.99609375 at H = 4", () => {
    expect(Array.from(retentionLogDecays(4)).map((l) => Math.fround(Math.exp(l)))).toEqual([0.96875, 0.984375, 0.9921875, 0.99609375]);
  });

  it("rejects an odd head key dim (RoPE over the whole head dim)", () => {
    expect(() => buildLayer(12, 4, 1)).toThrow(/retnet: RoPE needs an even head dim; got 3/);
  });
});

describe("RetNet parameters (models.md §3.2, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 8d² + 16d + 2d/H`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 8 * d * d + 16 * d + (2 * d) / heads;
      expect(retNetDefinition.parametersPerLayer(d, heads, retNetDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows the options (no short conv, no output gate, other expansions)", () => {
    for (const overrides of [
      { useShortConv: false },
      { useOutputGate: false },
      { expandK: 0.5, expandV: 1, convSize: 3 },
    ] as Partial<RetNetConfig>[]) {
      const config = { ...retNetDefaults, ...overrides } as RetNetConfig;
      const built = buildLayer(32, 4, 1, overrides);
      expect(built.store.count()).toBe(retNetDefinition.parametersPerLayer(32, 4, config));
      built.store.dispose();
    }
  });

  it("the per-layer figure at d = 256 matches §7.2 (528,512) and the RecNet total is 4,654,401", () => {
    expect(retNetDefinition.parametersPerLayer(256, 4, retNetDefaults)).toBe(528_512);
    const net = new RecNet(
      retNetDefinition,
      retNetDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(4_654_401);
    net.store.dispose();
  });

  it("stateSize is H·d_k·d_v = 2d²/H", () => {
    expect(retNetDefinition.taxonomy.stateSize(256, 4)).toBe(4 * 64 * 128);
  });

  it("rejects widths that do not split into heads", () => {
    expect(() => buildLayer(18, 4, 1)).toThrow(/divisible by heads/);
  });
});

describe("RetNet init is deterministic from the seed", () => {
  it("same seed → identical weights; different seed → different weights; PyTorch default bounds", () => {
    const a = buildLayer(16, 2, 123);
    const b = buildLayer(16, 2, 123);
    const c = buildLayer(16, 2, 124);
    expect(a.store.names).toEqual(b.store.names);
    let differing = 0;
    for (const [name, v] of a.store.entries()) {
      expect(Array.from(v.dataSync())).toEqual(Array.from(variable(b.store, name).dataSync()));
      if (relativeDiff(variable(c.store, name), v) > 0) differing++;
    }
    // Every randomly initialised tensor differs; only the RMSNorm weight (constant 1) is the same.
    expect(differing).toBe(a.store.names.length - 1);
    expect(Array.from(variable(a.store, "layer.g_norm_swish_gate.weight").dataSync())).toEqual(new Array(16).fill(1));
    // |w| ≤ 1/√fan_in: q_proj fan_in d = 16, o_proj fan_in 2d = 32, convs fan_in K = 4.
    const maxAbs = (name: string) => tf.max(tf.abs(variable(a.store, name))).dataSync()[0]!;
    expect(maxAbs("layer.q_proj.weight")).toBeLessThanOrEqual(0.25);
    expect(maxAbs("layer.o_proj.weight")).toBeLessThanOrEqual(1 / Math.sqrt(32));
    expect(maxAbs("layer.q_conv1d.weight")).toBeLessThanOrEqual(0.5);
    for (const built of [a, b, c]) built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts retnet in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("retnet").taxonomy.transition).toBe("constant-scalar");
    expect(registry.get("retnet").defaults).toEqual(retNetDefaults);
  });
});
