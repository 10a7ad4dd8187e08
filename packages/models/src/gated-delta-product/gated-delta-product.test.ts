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
import { gatedDeltaNetDefaults } from "../gated-delta-net/config.js";
import { gatedDeltaNetDefinition } from "../gated-delta-net/definition.js";
import { gatedDeltaProductDefaults, type GatedDeltaProductConfig } from "./config.js";
import { gatedDeltaProductDefinition } from "./definition.js";
import type { GatedDeltaProduct } from "./layer.js";

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
  layer: GatedDeltaProduct;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<GatedDeltaProductConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...gatedDeltaProductDefaults, ...overrides } as GatedDeltaProductConfig;
  const layer = gatedDeltaProductDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer") }, config);
  return { store, layer: layer as GatedDeltaProduct };
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
  // Each gradient is compared at its own scale, floored at 1e-4 of the largest: at T = 1 the decay gradients are
  // exactly 0 (the state entering the only token is 0), and the chunked form's round-off there is ~1e-10.
  const largest = Math.max(...names.map((name) => tf.max(tf.abs(stepwise.grads[name]!)).dataSync()[0]!));
  for (const name of names) {
    const [g, reference] = [chunked.grads[name]!, stepwise.grads[name]!];
    finite &&= allFinite(g) && allFinite(reference);
    const scale = Math.max(tf.max(tf.abs(reference)).dataSync()[0]!, 1e-4 * largest);
    gradient = Math.max(gradient, tf.max(tf.abs(tf.sub(g, reference))).dataSync()[0]! / scale);
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
    `Gated DeltaProduct max relative differences: chunked vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}`,
  );
});

describe("Gated DeltaProduct layer (models.md §3.5): chunked (interleaved, §6.2) form ≡ token-by-token oracle", () => {
  const d = 16;
  const heads = 2;
  // n·T micro-steps against chunk 16: 148 (not a multiple), 64, 12 (< C), 4 (T = 1).
  for (const t of [37, 16, 3, 1]) {
    it(`T=${t}, n=4, chunk 16: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(d, heads, 11 + t);
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  it("chunks that split a token's micro-steps (C=6, C=3) agree too", () => {
    for (const chunkSize of [6, 3]) {
      const built = buildLayer(d, heads, 21, { chunkSize });
      const x = tf.variable(randomTensor(new Rng(77), [2, 11, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("extreme gates (§9.5: β ≈ 2 with nearly parallel keys, i.e. repeated near-reflections): finite and agreeing", () => {
    const built = buildLayer(d, heads, 6);
    const n = gatedDeltaProductDefaults.householders;
    // x_t = m + 0.01·noise, every micro-step's k_proj block and conv taps equal: all k_{t,j} (t ≥ K−1) ≈ one direction.
    const rng = new Rng(7);
    const m = randomTensor(rng, [d]);
    const x = tf.variable(tf.add(m, randomTensor(rng, [2, 37, d], 0.01)));
    const kProj = variable(built.store, "layer.k_proj.weight");
    kProj.assign(tf.tile(tf.slice(kProj, [0, 0], [d, d]), [1, n]));
    const kConv = variable(built.store, "layer.k_conv1d.weight");
    kConv.assign(tf.tile(tf.slice(kConv, [0, 0], [4, d]), [1, n]));
    // x·W_b ≈ +10 everywhere: β = 2σ(10) ≈ 2 − 9e-5.
    const bProj = variable(built.store, "layer.b_proj.weight");
    bProj.assign(tf.tile(tf.reshape(tf.mul(m, 10 / tf.sum(tf.square(m)).dataSync()[0]!), [d, 1]), [1, n * heads]));
    const inputs = built.layer.microStepInputs(x as unknown as tf.Tensor3D);
    expect(tf.min(inputs.betas).dataSync()[0]!).toBeGreaterThan(1.9998);
    const dk = d / heads;
    const later = tf.slice(inputs.keys, [0, 0, 3, 0, 0], [2, heads, 34, n, dk]);
    const cos = tf.sum(tf.mul(later, tf.slice(inputs.keys, [0, 0, 3, 0, 0], [2, heads, 1, 1, dk])), -1);
    expect(tf.min(cos).dataSync()[0]!).toBeGreaterThan(0.999);
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });

  it("options (n = 2, no forget gate, β ∈ (0,1), no short conv, no output gate): the forms still agree", () => {
    for (const overrides of [
      { householders: 2, useForgetGate: false },
      { householders: 3, allowNegativeEigenvalues: false, useShortConv: false, useOutputGate: false, chunkSize: 5 },
    ] as Partial<GatedDeltaProductConfig>[]) {
      const built = buildLayer(d, heads, 31, overrides);
      const x = tf.variable(randomTensor(new Rng(31), [2, 13, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("n = 1 is Gated DeltaNet with β ∈ (0,2): same parameter names, same init, same outputs", () => {
    const product = buildLayer(d, heads, 8, { householders: 1 });
    const store = new ParameterStore(8);
    const gdn = gatedDeltaNetDefinition.createLayer(
      { dModel: d, heads, layerIndex: 0, params: store.scope("layer") },
      { ...gatedDeltaNetDefaults, allowNegativeEigenvalues: true },
    );
    expect([...product.store.names].sort()).toEqual([...store.names].sort());
    const x = randomTensor(new Rng(8), [2, 23, d]) as tf.Tensor3D;
    for (const form of ["chunked", "stepwise"] as const) {
      expect(relativeDiff(product.layer.forward(x, { training: false, form }), gdn.forward(x, { training: false, form }))).toBeLessThan(
        1e-6,
      );
    }
    product.store.dispose();
    store.dispose();
  });
});

describe("Gated DeltaProduct layer: streaming (n micro-steps of deltaRuleStep per token)", () => {
  for (const overrides of [
    {},
    { householders: 3, useShortConv: false, useForgetGate: false, useOutputGate: false },
  ] as Partial<GatedDeltaProductConfig>[]) {
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
 * An independent plain-JS reading of §3.5 for B = 1, from the parameter values. k, v and b projections laid out
 * (j, h, i); convs + SiLU; q, k_{t,j} ← l2 (eps 1e-6 inside the sqrt); q̂ = q/√d_k; β_{t,j} = 2σ(x W_b);
 * α_t = exp(−exp(A_log)·softplus(x W_a + dt_bias)); S ← α_t S, then for j = 1..n: S ← S + β k (v − Sᵀk)ᵀ;
 * o = Sᵀq̂; RMSNorm per head ⊙ w ⊙ SiLU(x W_g); o_proj.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number, n: number): number[][] {
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
  const [q, k, v] = [path("q", K), path("k", n * K), path("v", n * V)];
  const [normWeight, aLog, dtBias] = [p("o_norm.weight"), p("A_log"), p("dt_bias")];
  const state = Array.from({ length: heads }, () => Array.from({ length: dk }, () => new Array<number>(dv).fill(0)));
  return xs.map((x, t) => {
    const beta = linear(x, p("b_proj.weight"), n * heads).map((z) => 2 * sig(z));
    const a = linear(x, p("a_proj.weight"), heads);
    const g = linear(x, p("g_proj.weight"), V);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const S = state[h]!;
      const alpha = Math.exp(-Math.exp(aLog[h]!) * softplus(a[h]! + dtBias[h]!));
      for (const row of S) for (let c = 0; c < dv; c++) row[c]! *= alpha;
      for (let j = 0; j < n; j++) {
        const kj = l2(k[t]!.slice(j * K + h * dk, j * K + (h + 1) * dk));
        const vj = v[t]!.slice(j * V + h * dv, j * V + (h + 1) * dv);
        const error = vj.map((vc, c) => vc - kj.reduce((s, ki, i) => s + S[i]![c]! * ki, 0));
        for (let i = 0; i < dk; i++) for (let c = 0; c < dv; c++) S[i]![c]! += beta[j * heads + h]! * kj[i]! * error[c]!;
      }
      const qh = l2(q[t]!.slice(h * dk, (h + 1) * dk)).map((z) => z / Math.sqrt(dk));
      const o = Array.from({ length: dv }, (_, c) => qh.reduce((s, qi, i) => s + S[i]![c]! * qi, 0));
      const rms = Math.sqrt(o.reduce((s, z) => s + z * z, 0) / dv + 1e-5);
      for (let c = 0; c < dv; c++) merged.push((o[c]! / rms) * normWeight[c]! * silu(g[h * dv + c]!));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("Gated DeltaProduct layer: values match a plain-JS reading of §3.5", () => {
  for (const n of [4, 2]) {
    it(`d=8, H=2, T=7, n=${n} (random norm weight; A_log, dt_bias moved so the decay matters)`, () => {
      const [d, heads, t] = [8, 2, 7];
      const built = buildLayer(d, heads, 3, { householders: n });
      const norm = variable(built.store, "layer.o_norm.weight");
      norm.assign(tf.add(1, randomTensor(new Rng(4), norm.shape, 0.5)));
      variable(built.store, "layer.A_log").assign(tf.tensor1d([Math.log(0.5), Math.log(3)]));
      variable(built.store, "layer.dt_bias").assign(tf.tensor1d([0.3, -0.7]));
      // Larger b_proj weights spread β over (0, 2), reflections included.
      const bProj = variable(built.store, "layer.b_proj.weight");
      bProj.assign(tf.mul(bProj, 6));
      const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
      const betas = built.layer.microStepInputs(x).betas;
      expect(tf.max(betas).dataSync()[0]!).toBeGreaterThan(1.5);
      const xs = (x.arraySync() as number[][][])[0]!;
      const expected = tf.tensor([referenceForward(built.store, xs, d, heads, n)]);
      for (const form of ["chunked", "stepwise"] as const) {
        expect(relativeDiff(built.layer.forward(x, { training: false, form }), expected)).toBeLessThan(VALUE_TOLERANCE);
      }
      built.store.dispose();
    });
  }
});

describe("Gated DeltaProduct parameters (models.md §3.5, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 17d² + 5dH + 2H + 52d + 2d/H`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 17 * d * d + 5 * d * heads + 2 * heads + 52 * d + (2 * d) / heads;
      expect(gatedDeltaProductDefinition.parametersPerLayer(d, heads, gatedDeltaProductDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows the options, and for any n equals (3n+5)d² + (n+1)dH + 2H + (12n+4)d + 2d/H", () => {
    const [d, heads] = [32, 4];
    for (const n of [1, 2, 3, 5]) {
      const closedForm = (3 * n + 5) * d * d + (n + 1) * d * heads + 2 * heads + (12 * n + 4) * d + (2 * d) / heads;
      const config = { ...gatedDeltaProductDefaults, householders: n };
      expect(gatedDeltaProductDefinition.parametersPerLayer(d, heads, config)).toBe(closedForm);
      const built = buildLayer(d, heads, 1, { householders: n });
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    }
    for (const overrides of [
      { useShortConv: false },
      { useForgetGate: false },
      { useOutputGate: false },
      { expandK: 0.5, expandV: 1, convSize: 3 },
    ] as Partial<GatedDeltaProductConfig>[]) {
      const config = { ...gatedDeltaProductDefaults, ...overrides } as GatedDeltaProductConfig;
      const built = buildLayer(d, heads, 1, overrides);
      expect(built.store.count()).toBe(gatedDeltaProductDefinition.parametersPerLayer(d, heads, config));
      built.store.dispose();
    }
  });

  it("the per-layer figure at d = 256 matches §7.2 (1,132,680) and the RecNet total is 9,487,745", () => {
    expect(gatedDeltaProductDefinition.parametersPerLayer(256, 4, gatedDeltaProductDefaults)).toBe(1_132_680);
    const net = new RecNet(
      gatedDeltaProductDefinition,
      gatedDeltaProductDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(9_487_745);
    net.store.dispose();
  });

  it("stateSize is H·d_k·d_v = 2d²/H (the n micro-steps share one state)", () => {
    expect(gatedDeltaProductDefinition.taxonomy.stateSize(256, 4)).toBe(4 * 64 * 128);
  });

  it("rejects widths that do not split into heads", () => {
    expect(() => buildLayer(18, 4, 1)).toThrow(/divisible by heads/);
  });
});

describe("Gated DeltaProduct init (models.md §3.4–§3.5)", () => {
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

  it("A_log and dt_bias are initialised as in Gated DeltaNet: A ∈ (0, 16], softplus(dt_bias) ∈ [1e-3, 0.1]", () => {
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
  it("registerModels puts gated-delta-product in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("gated-delta-product").taxonomy.transition).toBe("householder-product");
    expect(registry.get("gated-delta-product").defaults).toEqual(gatedDeltaProductDefaults);
  });
});
