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
import { deltaNetDefaults, type DeltaNetConfig } from "./config.js";
import { deltaNetDefinition } from "./definition.js";
import type { DeltaNet } from "./layer.js";

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
  layer: DeltaNet;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<DeltaNetConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...deltaNetDefaults, ...overrides } as DeltaNetConfig;
  const layer = deltaNetDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer") }, config);
  return { store, layer: layer as DeltaNet };
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
    `DeltaNet max relative differences: chunked vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}`,
  );
});

describe("DeltaNet layer (models.md §3.3): chunked form ≡ stepwise oracle", () => {
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

  it("nearly parallel keys with β ≈ 1 (a nearly singular I + A in the UT transform): finite and agreeing", () => {
    const built = buildLayer(d, heads, 6, { useShortConv: false });
    // x_t = m + 0.01·noise: every k_t ≈ the same direction; b_proj pushes x·W_b to ≈ +12, so β ≈ 1 − 6e-6.
    const rng = new Rng(7);
    const m = randomTensor(rng, [d]);
    const x = tf.variable(tf.add(m, randomTensor(rng, [2, 37, d], 0.01)));
    const bProj = variable(built.store, "layer.b_proj.weight");
    bProj.assign(tf.tile(tf.reshape(tf.mul(m, 12 / tf.sum(tf.square(m)).dataSync()[0]!), [d, 1]), [1, heads]));
    const inputs = built.layer.recurrenceInputs(x as unknown as tf.Tensor3D);
    expect(tf.min(inputs.beta).dataSync()[0]!).toBeGreaterThan(0.9999);
    const cos = tf.sum(tf.mul(inputs.key, tf.slice(inputs.key, [0, 0, 0, 0], [2, heads, 1, d / heads])), -1);
    expect(tf.min(cos).dataSync()[0]!).toBeGreaterThan(0.999);
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });

  it("options (no short conv, β ≡ 1, β ∈ (0,2), output gate): the forms still agree", () => {
    for (const overrides of [
      { useShortConv: false, useBeta: false },
      { allowNegativeEigenvalues: true, useOutputGate: true },
    ] as Partial<DeltaNetConfig>[]) {
      const built = buildLayer(d, heads, 31, overrides);
      const x = tf.variable(randomTensor(new Rng(31), [2, 19, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });
});

describe("DeltaNet layer: streaming", () => {
  for (const overrides of [{}, { useShortConv: false, useOutputGate: true, allowNegativeEigenvalues: true }] as Partial<DeltaNetConfig>[]) {
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
 * An independent plain-JS reading of §3.3 for B = 1, from the parameter values: projections, causal depthwise conv +
 * SiLU, q, k ← l2 (eps 1e-6 inside the sqrt), q̂ = q/√d_k, β = σ(x W_b), e = v − Sᵀk, S ← S + β k eᵀ,
 * o = Sᵀq̂, RMSNorm per head ⊙ w, o_proj.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const linear = (x: number[], w: number[], out: number) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, 0));
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const silu = (z: number) => z * sig(z);
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
  const normWeight = p("o_norm.weight");
  const state = Array.from({ length: heads }, () => Array.from({ length: dk }, () => new Array<number>(dv).fill(0)));
  return xs.map((x, t) => {
    const beta = linear(x, p("b_proj.weight"), heads).map(sig);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const S = state[h]!;
      const kh = l2(k[t]!.slice(h * dk, (h + 1) * dk));
      const qh = l2(q[t]!.slice(h * dk, (h + 1) * dk)).map((z) => z / Math.sqrt(dk));
      const vh = v[t]!.slice(h * dv, (h + 1) * dv);
      const error = vh.map((vj, j) => vj - kh.reduce((s, ki, i) => s + S[i]![j]! * ki, 0));
      for (let i = 0; i < dk; i++) for (let j = 0; j < dv; j++) S[i]![j]! += beta[h]! * kh[i]! * error[j]!;
      const o = Array.from({ length: dv }, (_, j) => qh.reduce((s, qi, i) => s + S[i]![j]! * qi, 0));
      const rms = Math.sqrt(o.reduce((s, z) => s + z * z, 0) / dv + 1e-5);
      for (let j = 0; j < dv; j++) merged.push((o[j]! / rms) * normWeight[j]!);
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("DeltaNet layer: values match a plain-JS reading of §3.3", () => {
  it("d=8, H=2, T=7 (random norm weight, so the shared weight's layout matters)", () => {
    const [d, heads, t] = [8, 2, 7];
    const built = buildLayer(d, heads, 3);
    const norm = variable(built.store, "layer.o_norm.weight");
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

describe("DeltaNet parameters (models.md §3.3, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 6d² + dH + 16d + 2d/H`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 6 * d * d + d * heads + 16 * d + (2 * d) / heads;
      expect(deltaNetDefinition.parametersPerLayer(d, heads, deltaNetDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows the options", () => {
    for (const overrides of [
      { useShortConv: false },
      { useBeta: false },
      { useOutputGate: true },
      { expandK: 0.5, expandV: 1, convSize: 3 },
    ] as Partial<DeltaNetConfig>[]) {
      const config = { ...deltaNetDefaults, ...overrides } as DeltaNetConfig;
      const built = buildLayer(32, 4, 1, overrides);
      expect(built.store.count()).toBe(deltaNetDefinition.parametersPerLayer(32, 4, config));
      built.store.dispose();
    }
  });

  it("the per-layer figure at d = 256 matches §7.2 (398,464) and the RecNet total is 3,614,017", () => {
    expect(deltaNetDefinition.parametersPerLayer(256, 4, deltaNetDefaults)).toBe(398_464);
    const net = new RecNet(
      deltaNetDefinition,
      deltaNetDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(3_614_017);
    net.store.dispose();
  });

  it("stateSize is H·d_k·d_v = 2d²/H", () => {
    expect(deltaNetDefinition.taxonomy.stateSize(256, 4)).toBe(4 * 64 * 128);
  });

  it("rejects widths that do not split into heads", () => {
    expect(() => buildLayer(18, 4, 1)).toThrow(/divisible by heads/);
  });
});

describe("DeltaNet init is deterministic from the seed", () => {
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
    expect(tf.max(tf.abs(variable(a.store, "layer.b_proj.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.25);
    expect(tf.max(tf.abs(variable(a.store, "layer.k_conv1d.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.5);
    for (const built of [a, b, c]) built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts delta-net in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("delta-net").taxonomy.transition).toBe("householder");
    expect(registry.get("delta-net").defaults).toEqual(deltaNetDefaults);
  });
});
