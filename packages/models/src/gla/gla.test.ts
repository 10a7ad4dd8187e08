import "reflect-metadata";
import { container } from "tsyringe";
import { afterAll, describe, expect, it } from "vitest";
import {
  ParameterStore,
  RecNet,
  Rng,
  ShortConv,
  Tokens,
  createSelectivContainer,
  headsForWidth,
  tf,
  type ComputeForm,
  type ModelRegistry,
} from "@selectiv/core";
import { registerModels } from "../index.js";
import { glaDefaults, type GlaConfig } from "./config.js";
import { glaDefinition } from "./definition.js";
import type { GatedLinearAttention } from "./layer.js";

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
  layer: GatedLinearAttention;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<GlaConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...glaDefaults, ...overrides } as GlaConfig;
  const layer = glaDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer") }, config);
  return { store, layer: layer as GatedLinearAttention };
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

const observed = { output: 0, gradient: 0, streaming: 0 };
afterAll(() => {
  const e = (n: number) => n.toExponential(2);
  console.log(
    `GLA max relative differences: chunked vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}`,
  );
});

describe("GLA layer (models.md §3.1): chunked form ≡ stepwise oracle", () => {
  const d = 16;
  const heads = 2;
  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}, chunk 16: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(d, heads, 11 + t);
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      const r = compareForms(built, x);
      observed.output = Math.max(observed.output, r.output);
      observed.gradient = Math.max(observed.gradient, r.gradient);
      expect(r.finite).toBe(true);
      expect(r.output).toBeLessThan(VALUE_TOLERANCE);
      expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
      built.store.dispose();
      x.dispose();
    });
  }

  it("chunk sizes that do not divide T (C=8, C=3) agree too", () => {
    for (const chunkSize of [8, 3]) {
      const built = buildLayer(d, heads, 21, { chunkSize });
      const x = tf.variable(randomTensor(new Rng(77), [2, 20, d]));
      const r = compareForms(built, x);
      expect(r.finite).toBe(true);
      expect(r.output).toBeLessThan(VALUE_TOLERANCE);
      expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
      built.store.dispose();
      x.dispose();
    }
  });

  it("extreme gates (logits ≈ −30, log α ≈ −1.9 per step): finite and agreeing", () => {
    const built = buildLayer(d, heads, 5);
    const bias = variable(built.store, "layer.gk_proj.1.bias");
    bias.assign(tf.fill(bias.shape, -30));
    const x = tf.variable(randomTensor(new Rng(9), [2, 37, d]));
    // The gate logits really are extreme: γ = gk_proj(x) lies within a few units of −30.
    const logits = tf.add(
      tf.matMul(
        tf.matMul(tf.reshape(x, [-1, d]), variable(built.store, "layer.gk_proj.0.weight")),
        variable(built.store, "layer.gk_proj.1.weight"),
      ),
      bias,
    );
    expect(tf.max(logits).dataSync()[0]!).toBeLessThan(-25);
    const r = compareForms(built, x);
    observed.output = Math.max(observed.output, r.output);
    observed.gradient = Math.max(observed.gradient, r.gradient);
    expect(r.finite).toBe(true);
    expect(r.output).toBeLessThan(VALUE_TOLERANCE);
    expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
    built.store.dispose();
    x.dispose();
  });

  it("without short convs or output gate, the forms still agree", () => {
    const built = buildLayer(d, heads, 31, { useShortConv: false, useOutputGate: false });
    const x = tf.variable(randomTensor(new Rng(31), [2, 19, d]));
    const r = compareForms(built, x);
    expect(r.finite).toBe(true);
    expect(r.output).toBeLessThan(VALUE_TOLERANCE);
    expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
    built.store.dispose();
    x.dispose();
  });
});

describe("GLA layer: streaming", () => {
  for (const overrides of [{}, { useShortConv: false, useOutputGate: false }] as Partial<GlaConfig>[]) {
    it(`initialState + step for every t equals forward ${JSON.stringify(overrides)}`, () => {
      const [d, heads, b, t] = [16, 2, 3, 21];
      const built = buildLayer(d, heads, 42, overrides);
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
      // Constant memory: the state has the same shapes after T steps as before the first.
      expect(state.map((s) => s.shape)).toEqual(built.layer.initialState(b).map((s) => s.shape));
      built.store.dispose();
    });
  }
});

/**
 * An independent plain-JS reading of §3.1 for B = 1, from the parameter values: projections, causal depthwise
 * conv + SiLU, q̂ = q/√d_k, log α = logsigmoid(γ)/16, S_t = Diag(α_t)S_{t−1} + k_t v_tᵀ, o_t = S_tᵀq̂_t,
 * RMSNorm per head ⊙ w ⊙ SiLU(x W_g), o_proj.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const linear = (x: number[], w: number[], out: number, bias?: number[]) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, bias ? bias[j]! : 0));
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const silu = (z: number) => z * sig(z);
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
    const low = linear(x, p("gk_proj.0.weight"), 16);
    const gamma = linear(low, p("gk_proj.1.weight"), K, p("gk_proj.1.bias"));
    const g = linear(x, p("g_proj.weight"), V);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const o = new Array<number>(dv).fill(0);
      for (let i = 0; i < dk; i++) {
        const alpha = Math.pow(sig(gamma[h * dk + i]!), 1 / 16);
        for (let j = 0; j < dv; j++) {
          state[h]![i]![j] = alpha * state[h]![i]![j]! + k[t]![h * dk + i]! * v[t]![h * dv + j]!;
          o[j] += state[h]![i]![j]! * (q[t]![h * dk + i]! / Math.sqrt(dk));
        }
      }
      const rms = Math.sqrt(o.reduce((s, z) => s + z * z, 0) / dv + 1e-5);
      for (let j = 0; j < dv; j++) merged.push((o[j]! / rms) * normWeight[j]! * silu(g[h * dv + j]!));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("GLA layer: values match a plain-JS reading of §3.1", () => {
  it("d=8, H=2, T=7 (random norm weight, so the shared weight's layout matters)", () => {
    const [d, heads, t] = [8, 2, 7];
    const built = buildLayer(d, heads, 3);
    const norm = variable(built.store, "layer.g_norm_swish_gate.weight");
    norm.assign(tf.add(1, randomTensor(new Rng(4), norm.shape, 0.5)));
    const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
    const xs = (x.arraySync() as number[][][])[0]!;
    const expected = tf.tensor([referenceForward(built.store, xs, d, heads)]);
    for (const form of ["chunked", "stepwise"] as const) {
      expect(relativeDiff(built.layer.forward(x, { training: false, form }), expected)).toBeLessThan(VALUE_TOLERANCE);
    }
    built.store.dispose();
  });
});

describe("GLA parameters (models.md §3.1, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 8d² + 49d + 2d/H`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 8 * d * d + 49 * d + (2 * d) / heads;
      expect(glaDefinition.parametersPerLayer(d, heads, glaDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows the options (no short conv, no output gate, other expansions)", () => {
    for (const overrides of [
      { useShortConv: false },
      { useOutputGate: false },
      { expandK: 0.5, expandV: 1, gateLowRank: 8, convSize: 3 },
    ] as Partial<GlaConfig>[]) {
      const config = { ...glaDefaults, ...overrides } as GlaConfig;
      const built = buildLayer(32, 4, 1, overrides);
      expect(built.store.count()).toBe(glaDefinition.parametersPerLayer(32, 4, config));
      built.store.dispose();
    }
  });

  it("the per-layer breakdown at d = 256 matches §7.2 (536,960) and the RecNet total is 4,721,985", () => {
    expect(glaDefinition.parametersPerLayer(256, 4, glaDefaults)).toBe(536_960);
    const net = new RecNet(
      glaDefinition,
      glaDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(4_721_985);
    net.store.dispose();
  });

  it("stateSize is H·d_k·d_v = 2d²/H", () => {
    expect(glaDefinition.taxonomy.stateSize(256, 4)).toBe(4 * 64 * 128);
  });

  it("rejects widths that do not split into heads", () => {
    expect(() => buildLayer(18, 4, 1)).toThrow(/divisible by heads/);
  });
});

describe("GLA init is deterministic from the seed", () => {
  it("same seed → identical weights; different seed → different weights", () => {
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
    // PyTorch default init: |w| ≤ 1/√fan_in (q_proj fan_in d = 16; convs fan_in K = 4).
    expect(tf.max(tf.abs(variable(a.store, "layer.q_proj.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.25);
    expect(tf.max(tf.abs(variable(a.store, "layer.q_conv1d.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.5);
    for (const built of [a, b, c]) built.store.dispose();
  });
});

describe("short conv impulse response (models.md §9.5)", () => {
  it("output at t0 + j is SiLU(w[K−1−j, c]) and zero elsewhere", () => {
    const [channels, kernel, t, t0] = [5, 4, 10, 3];
    const store = new ParameterStore(8);
    const conv = new ShortConv(store.scope(), "conv", channels, kernel, { bias: false, activation: "silu" });
    const impulse = tf.tensor3d(Array.from({ length: t }, (_, i) => new Array<number>(channels).fill(i === t0 ? 1 : 0)).flat(), [
      1,
      t,
      channels,
    ]);
    const y = (conv.apply(impulse).arraySync() as number[][][])[0]!;
    const w = conv.weight.arraySync() as number[][];
    const silu = (z: number) => z / (1 + Math.exp(-z));
    for (let i = 0; i < t; i++) {
      for (let c = 0; c < channels; c++) {
        const j = i - t0;
        const expected = j >= 0 && j < kernel ? silu(w[kernel - 1 - j]![c]!) : 0;
        expect(y[i]![c]!).toBeCloseTo(expected, 6);
      }
    }
    store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts gla in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("gla").taxonomy.transition).toBe("diagonal");
    expect(registry.get("gla").defaults).toEqual(glaDefaults);
  });
});
