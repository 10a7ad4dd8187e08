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
import { gatedDeltaNetDefaults, type GatedDeltaNetConfig } from "./config.js";
import { gatedDeltaNetDefinition } from "./definition.js";
import { aLogInit, dtBiasInit, inverseSoftplus } from "./gate.js";
import type { GatedDeltaNet } from "./layer.js";

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
  layer: GatedDeltaNet;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<GatedDeltaNetConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...gatedDeltaNetDefaults, ...overrides } as GatedDeltaNetConfig;
  const layer = gatedDeltaNetDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer") }, config);
  return { store, layer: layer as GatedDeltaNet };
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
  const output = relativeDiff(chunked.output, stepwise.output);
  tf.dispose([chunked.output, stepwise.output, ...Object.values(chunked.grads), ...Object.values(stepwise.grads)]);
  return { output, gradient, finite };
}

const observed = { output: 0, gradient: 0, streaming: 0 };
function expectAgreement(r: Comparison): void {
  observed.output = Math.max(observed.output, r.output);
  observed.gradient = Math.max(observed.gradient, r.gradient);
  expect(r.finite).toBe(true);
  expect(r.output).toBeLessThan(VALUE_TOLERANCE);
  expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
}

afterAll(() => {
  const e = (n: number) => n.toExponential(2);
  console.log(
    `Gated DeltaNet max relative differences: chunked vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}`,
  );
});

describe("Gated DeltaNet layer (models.md §3.4): chunked form ≡ stepwise oracle", () => {
  const d = 16;
  const heads = 2;
  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}, chunk 16: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(d, heads, 11 + t);
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  it("chunk sizes that do not divide T (C=8, C=3) agree too", () => {
    for (const chunkSize of [8, 3]) {
      const built = buildLayer(d, heads, 21, { chunkSize });
      const x = tf.variable(randomTensor(new Rng(77), [2, 20, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("extreme gates (§9.5: A_log = log 16, large a_proj inputs, log α from ≈ 0 down to < −200): finite and agreeing", () => {
    const built = buildLayer(d, heads, 5);
    variable(built.store, "layer.A_log").assign(tf.fill([heads], Math.log(16)));
    const aProj = variable(built.store, "layer.a_proj.weight");
    // x W_a spans about ±15, so softplus(x W_a + dt_bias) runs from ≈ 1e-7 to ≈ 16: α from ≈ 1 to e^{−250} = 0.
    aProj.assign(tf.mul(aProj, 10));
    const x = tf.variable(randomTensor(new Rng(9), [2, 37, d]));
    // The decays really are extreme both ways: some steps forget everything, some keep everything.
    const logAlpha = built.layer.recurrenceInputs(x as unknown as tf.Tensor3D).logAlpha;
    expect(tf.min(logAlpha).dataSync()[0]!).toBeLessThan(-200);
    expect(tf.max(logAlpha).dataSync()[0]!).toBeGreaterThan(-1e-3);
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });

  it("options (no short conv, no output gate, β ∈ (0,2)): the forms still agree", () => {
    for (const overrides of [
      { useShortConv: false, useOutputGate: false },
      { allowNegativeEigenvalues: true, chunkSize: 8 },
    ] as Partial<GatedDeltaNetConfig>[]) {
      const built = buildLayer(d, heads, 31, overrides);
      const x = tf.variable(randomTensor(new Rng(31), [2, 19, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });
});

describe("Gated DeltaNet layer: streaming", () => {
  for (const overrides of [
    {},
    { useShortConv: false, useOutputGate: false, allowNegativeEigenvalues: true },
  ] as Partial<GatedDeltaNetConfig>[]) {
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
 * An independent plain-JS reading of §3.4 for B = 1, from the parameter values: projections, causal depthwise conv +
 * SiLU, q, k ← l2 (eps 1e-6 inside the sqrt), q̂ = q/√d_k, β = σ(x W_b),
 * α = exp(−exp(A_log)·softplus(x W_a + dt_bias)); S ← αS, e = v − Sᵀk, S ← S + β k eᵀ, o = Sᵀq̂;
 * RMSNorm per head ⊙ w ⊙ SiLU(x W_g), o_proj.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const linear = (x: number[], w: number[], out: number) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, 0));
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const silu = (z: number) => z * sig(z);
  const softplus = (z: number) => Math.log1p(Math.exp(z));
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const path = (name: string, width: number) => {
    const projected = xs.map((x) => linear(x, p(`${name}_proj.weight`), width));
    const w = p(`${name}_conv1d.weight`);
    return projected.map((_, t) =>
      Array.from({ length: width }, (_, c) => {
        let s = 0;
        for (let j = 0; j < 4; j++) if (t - 3 + j >= 0) s += w[j * width + c]! * projected[t - 3 + j]![c]!;
        return silu(s);
      }),
    );
  };
  const l2 = (u: number[]) => {
    const r = Math.sqrt(u.reduce((s, z) => s + z * z, 0) + 1e-6);
    return u.map((z) => z / r);
  };
  const [q, k, v] = [path("q", K), path("k", K), path("v", V)];
  const [normWeight, aLog, dtBias] = [p("o_norm.weight"), p("A_log"), p("dt_bias")];
  const state = Array.from({ length: heads }, () => Array.from({ length: dk }, () => new Array<number>(dv).fill(0)));
  return xs.map((x, t) => {
    const beta = linear(x, p("b_proj.weight"), heads).map(sig);
    const a = linear(x, p("a_proj.weight"), heads);
    const g = linear(x, p("g_proj.weight"), V);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const S = state[h]!;
      const alpha = Math.exp(-Math.exp(aLog[h]!) * softplus(a[h]! + dtBias[h]!));
      const kh = l2(k[t]!.slice(h * dk, (h + 1) * dk));
      const qh = l2(q[t]!.slice(h * dk, (h + 1) * dk)).map((z) => z / Math.sqrt(dk));
      const vh = v[t]!.slice(h * dv, (h + 1) * dv);
      for (const row of S) for (let j = 0; j < dv; j++) row[j]! *= alpha;
      const error = vh.map((vj, j) => vj - kh.reduce((s, ki, i) => s + S[i]![j]! * ki, 0));
      for (let i = 0; i < dk; i++) for (let j = 0; j < dv; j++) S[i]![j]! += beta[h]! * kh[i]! * error[j]!;
      const o = Array.from({ length: dv }, (_, j) => qh.reduce((s, qi, i) => s + S[i]![j]! * qi, 0));
      const rms = Math.sqrt(o.reduce((s, z) => s + z * z, 0) / dv + 1e-5);
      for (let j = 0; j < dv; j++) merged.push((o[j]! / rms) * normWeight[j]! * silu(g[h * dv + j]!));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("Gated DeltaNet layer: values match a plain-JS reading of §3.4", () => {
  it("d=8, H=2, T=7 (random norm weight; A_log, dt_bias moved so the decay matters)", () => {
    const [d, heads, t] = [8, 2, 7];
    const built = buildLayer(d, heads, 3);
    const norm = variable(built.store, "layer.o_norm.weight");
    norm.assign(tf.add(1, randomTensor(new Rng(4), norm.shape, 0.5)));
    variable(built.store, "layer.A_log").assign(tf.tensor1d([Math.log(0.5), Math.log(3)]));
    variable(built.store, "layer.dt_bias").assign(tf.tensor1d([0.3, -0.7]));
    const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
    const xs = (x.arraySync() as number[][][])[0]!;
    const expected = tf.tensor([referenceForward(built.store, xs, d, heads)]);
    for (const form of ["chunked", "stepwise"] as const) {
      expect(relativeDiff(built.layer.forward(x, { training: false, form }), expected)).toBeLessThan(VALUE_TOLERANCE);
    }
    built.store.dispose();
  });
});

describe("Gated DeltaNet parameters (models.md §3.4, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 8d² + 2dH + 2H + 16d + 2d/H`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 8 * d * d + 2 * d * heads + 2 * heads + 16 * d + (2 * d) / heads;
      expect(gatedDeltaNetDefinition.parametersPerLayer(d, heads, gatedDeltaNetDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows the options", () => {
    for (const overrides of [
      { useShortConv: false },
      { useOutputGate: false },
      { expandK: 0.5, expandV: 1, convSize: 3 },
    ] as Partial<GatedDeltaNetConfig>[]) {
      const config = { ...gatedDeltaNetDefaults, ...overrides } as GatedDeltaNetConfig;
      const built = buildLayer(32, 4, 1, overrides);
      expect(built.store.count()).toBe(gatedDeltaNetDefinition.parametersPerLayer(32, 4, config));
      built.store.dispose();
    }
  });

  it("the per-layer figure at d = 256 matches §7.2 (530,568) and the RecNet total is 4,670,849", () => {
    expect(gatedDeltaNetDefinition.parametersPerLayer(256, 4, gatedDeltaNetDefaults)).toBe(530_568);
    const net = new RecNet(
      gatedDeltaNetDefinition,
      gatedDeltaNetDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(4_670_849);
    net.store.dispose();
  });

  it("stateSize is H·d_k·d_v = 2d²/H", () => {
    expect(gatedDeltaNetDefinition.taxonomy.stateSize(256, 4)).toBe(4 * 64 * 128);
  });

  it("rejects widths that do not split into heads", () => {
    expect(() => buildLayer(18, 4, 1)).toThrow(/divisible by heads/);
  });
});

describe("Gated DeltaNet init (models.md §3.4)", () => {
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
    expect(Array.from(variable(a.store, "layer.o_norm.weight").dataSync())).toEqual(new Array(16).fill(1));
    // PyTorch default init: |w| ≤ 1/√fan_in (fan_in d = 16 for the projections; K = 4 for the convs).
    expect(tf.max(tf.abs(variable(a.store, "layer.a_proj.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.25);
    expect(tf.max(tf.abs(variable(a.store, "layer.v_conv1d.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.5);
    for (const built of [a, b, c]) built.store.dispose();
  });

  it("A_log = log A with A ~ U(0, 16]: mean ≈ 8, finite, and u = 0 gives log 16 rather than log 0", () => {
    const n = 20_000;
    const a = Array.from(aLogInit(new Rng(1), n), Math.exp);
    expect(Math.min(...a)).toBeGreaterThan(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(16 * (1 + 1e-6));
    expect(Math.abs(a.reduce((s, z) => s + z, 0) / n - 8)).toBeLessThan(0.15);
    expect(a.filter((z) => z < 8).length / n).toBeCloseTo(0.5, 1);
    const zeroDraw = { next: () => 0 } as unknown as Rng;
    expect(aLogInit(zeroDraw, 1)[0]).toBe(Math.fround(Math.log(16)));
  });

  it("dt_bias = softplus⁻¹(dt₀), dt₀ log-uniform in [1e-3, 0.1]: softplus(dt_bias) in range, log dt₀ uniform", () => {
    const n = 20_000;
    const logDt = Array.from(dtBiasInit(new Rng(2), n), (b) => Math.log(Math.log1p(Math.exp(b))));
    const [lo, hi] = [Math.log(1e-3), Math.log(1e-1)];
    expect(Math.min(...logDt)).toBeGreaterThanOrEqual(lo - 1e-4);
    expect(Math.max(...logDt)).toBeLessThanOrEqual(hi + 1e-4);
    const mean = logDt.reduce((s, z) => s + z, 0) / n;
    const std = Math.sqrt(logDt.reduce((s, z) => s + (z - mean) ** 2, 0) / n);
    expect(Math.abs(mean - (lo + hi) / 2)).toBeLessThan(0.03);
    expect(Math.abs(std - (hi - lo) / Math.sqrt(12))).toBeLessThan(0.03);
    // The inverse is accurate down to the 1e-4 floor (written with expm1, §9.3).
    for (const y of [1e-4, 1e-3, 0.1, 3]) expect(Math.log1p(Math.exp(inverseSoftplus(y))) / y).toBeCloseTo(1, 10);
  });

  it("a built layer's A_log and dt_bias lie in their init ranges, so α ≈ exp(−A·dt₀) ∈ (0, 1)", () => {
    const built = buildLayer(64, 16, 9);
    const a = Array.from(variable(built.store, "layer.A_log").dataSync(), Math.exp);
    const dt = Array.from(variable(built.store, "layer.dt_bias").dataSync(), (b) => Math.log1p(Math.exp(b)));
    expect(a.length).toBe(16);
    for (const z of a) expect(z > 0 && z <= 16.0001).toBe(true);
    for (const z of dt) expect(z >= 1e-3 * 0.999 && z <= 0.1 * 1.001).toBe(true);
    built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts gated-delta-net in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("gated-delta-net").taxonomy.transition).toBe("gated-householder");
    expect(registry.get("gated-delta-net").defaults).toEqual(gatedDeltaNetDefaults);
  });
});
