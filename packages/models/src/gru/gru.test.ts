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
  prefersFusedKernels,
  tf,
  type ComputeForm,
  type ModelRegistry,
} from "@selectiv/core";
import { registerModels } from "../index.js";
import { gruDefaults, type GruConfig } from "./config.js";
import { gruDefinition } from "./definition.js";
import { fusedGru } from "./fused-gru.js";
import type { Gru } from "./layer.js";

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
  layer: Gru;
}

function buildLayer(d: number, seed: number, overrides: Partial<GruConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...gruDefaults, ...overrides } as GruConfig;
  const layer = gruDefinition.createLayer({ dModel: d, heads: 2, layerIndex: 0, params: store.scope("layer"), dropout: 0 }, config);
  return { store, layer: layer as Gru };
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
  const fused = valueAndGradients(built, x, "chunked");
  const stepwise = valueAndGradients(built, x, "stepwise");
  let gradient = 0;
  let finite = allFinite(fused.output) && allFinite(stepwise.output);
  const names = Object.keys(stepwise.grads);
  expect(names.length).toBe(built.store.variables.length + 1);
  expect(Object.keys(fused.grads).sort()).toEqual([...names].sort());
  for (const name of names) {
    const g = fused.grads[name]!;
    finite &&= allFinite(g) && allFinite(stepwise.grads[name]!);
    gradient = Math.max(gradient, relativeDiff(g, stepwise.grads[name]!));
  }
  return { output: relativeDiff(fused.output, stepwise.output), gradient, finite };
}

const observed = { output: 0, gradient: 0, streaming: 0, reference: 0 };
afterAll(() => {
  const e = (n: number) => n.toExponential(2);
  console.log(
    `GRU max relative differences: fused vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}; plain-JS reference ${e(observed.reference)}`,
  );
});

function expectAgreement(r: Comparison): void {
  observed.output = Math.max(observed.output, r.output);
  observed.gradient = Math.max(observed.gradient, r.gradient);
  expect(r.finite).toBe(true);
  expect(r.output).toBeLessThan(VALUE_TOLERANCE);
  expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
}

describe("GRU layer (models.md §5.3): fused kernel (training form) ≡ stepwise oracle", () => {
  it("the CPU backend selects the fused kernel for the training form", async () => {
    await tf.ready();
    expect(tf.getBackend()).toBe("cpu");
    expect(prefersFusedKernels()).toBe(true);
  });

  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(16, 11 + t);
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, 16]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  it("without biases, the forms still agree", () => {
    const built = buildLayer(12, 31, { bias: false });
    const x = tf.variable(randomTensor(new Rng(31), [3, 19, 12]));
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });

  it("extreme gates: saturated r, z and n (pre-activations of ±30 and more): finite and agreeing", () => {
    for (const [reset, update] of [
      [-30, 30],
      [30, -30],
    ] as const) {
      const built = buildLayer(16, 5);
      const bias = variable(built.store, "layer.bias_hh_l0");
      const d = 16;
      bias.assign(tf.concat([tf.fill([d], reset), tf.fill([d], update), tf.fill([d], 0)]));
      const x = tf.variable(randomTensor(new Rng(9), [2, 37, d], 20));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("the kernel alone: values and gradients (gi, W_hh, b_hh) equal autodiff of the TF cell", () => {
    const [b, t, d] = [2, 23, 6];
    const rng = new Rng(77);
    const gi = randomTensor(rng, [b, t, 3 * d]) as tf.Tensor3D;
    const w = randomTensor(rng, [d, 3 * d], 0.5) as tf.Tensor2D;
    const bias = randomTensor(rng, [3 * d], 0.5) as tf.Tensor1D;
    const weights = randomTensor(rng, [b, t, d]);
    const reference = (g: tf.Tensor3D, wh: tf.Tensor2D, bh: tf.Tensor1D): tf.Tensor3D => {
      let h: tf.Tensor2D = tf.zeros([b, d]);
      const hs: tf.Tensor2D[] = [];
      for (let i = 0; i < t; i++) {
        const gt = tf.reshape(tf.slice(g, [0, i, 0], [b, 1, 3 * d]), [b, 3 * d]);
        const gh = tf.add(tf.matMul(h, wh), bh);
        const part = (x: tf.Tensor, k: number) => tf.slice(x, [0, k * d], [b, d]);
        const r = tf.sigmoid(tf.add(part(gt, 0), part(gh, 0)));
        const z = tf.sigmoid(tf.add(part(gt, 1), part(gh, 1)));
        const n = tf.tanh(tf.add(part(gt, 2), tf.mul(r, part(gh, 2))));
        h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
        hs.push(h);
      }
      return tf.stack(hs, 1) as tf.Tensor3D;
    };
    const loss =
      (f: typeof reference) =>
      (...xs: tf.Tensor[]) =>
        tf.sum(tf.mul(f(xs[0] as tf.Tensor3D, xs[1] as tf.Tensor2D, xs[2] as tf.Tensor1D), weights));
    const expected = tf.grads(loss(reference))([gi, w, bias]);
    const actual = tf.grads(loss(fusedGru))([gi, w, bias]);
    expect(relativeDiff(fusedGru(gi, w, bias), reference(gi, w, bias))).toBeLessThan(VALUE_TOLERANCE);
    for (let i = 0; i < 3; i++) expect(relativeDiff(actual[i]!, expected[i]!)).toBeLessThan(GRADIENT_TOLERANCE);
  });
});

describe("GRU layer: streaming", () => {
  it("initialState + step for every t equals forward", () => {
    const [d, b, t] = [16, 3, 21];
    const built = buildLayer(d, 42);
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
    // Constant memory: the state is h ∈ [B, d] after T steps as before the first.
    expect(state.map((s) => s.shape)).toEqual([[b, d]]);
    built.store.dispose();
  });
});

/** An independent plain-JS reading of §5.3 for B = 1, from the parameter values (PyTorch gate order r, z, n). */
function referenceForward(store: ParameterStore, xs: number[][], d: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const [wih, whh, bih, bhh] = [p("weight_ih_l0"), p("weight_hh_l0"), p("bias_ih_l0"), p("bias_hh_l0")];
  // Weights are stored in × out: column g·d + i is gate g, unit i.
  const affine = (v: number[], w: number[], bias: number[], gate: number, i: number) =>
    v.reduce((s, vj, j) => s + vj * w[j * 3 * d + gate * d + i]!, bias[gate * d + i]!);
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  let h = new Array<number>(d).fill(0);
  return xs.map((x) => {
    h = h.map((hi, i) => {
      const r = sig(affine(x, wih, bih, 0, i) + affine(h, whh, bhh, 0, i));
      const z = sig(affine(x, wih, bih, 1, i) + affine(h, whh, bhh, 1, i));
      const n = Math.tanh(affine(x, wih, bih, 2, i) + r * affine(h, whh, bhh, 2, i));
      return (1 - z) * n + z * hi;
    });
    return h;
  });
}

describe("GRU layer: values match a plain-JS reading of §5.3", () => {
  it("d=8, T=9, both forms", () => {
    const [d, t] = [8, 9];
    const built = buildLayer(d, 3);
    const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
    const xs = (x.arraySync() as number[][][])[0]!;
    const expected = tf.tensor([referenceForward(built.store, xs, d)]);
    for (const form of ["chunked", "stepwise"] as const) {
      const diff = relativeDiff(built.layer.forward(x, { training: false, form }), expected);
      observed.reference = Math.max(observed.reference, diff);
      expect(diff).toBeLessThan(VALUE_TOLERANCE);
    }
    built.store.dispose();
  });
});

describe("GRU parameters (models.md §5.3, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 6d² + 6d`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, 1);
      const closedForm = 6 * d * d + 6 * d;
      expect(gruDefinition.parametersPerLayer(d, heads, gruDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("without biases: 6d²", () => {
    const built = buildLayer(32, 1, { bias: false });
    expect(built.store.count()).toBe(6 * 32 * 32);
    expect(gruDefinition.parametersPerLayer(32, 4, { bias: false })).toBe(6 * 32 * 32);
    built.store.dispose();
  });

  it("the per-layer count at d = 256 matches §7.2 (394,752) and the RecNet total is 3,584,321", () => {
    expect(gruDefinition.parametersPerLayer(256, 4, gruDefaults)).toBe(394_752);
    const net = new RecNet(
      gruDefinition,
      gruDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(3_584_321);
    net.store.dispose();
  });

  it("stateSize is d", () => {
    expect(gruDefinition.taxonomy.stateSize(256, 4)).toBe(256);
  });
});

describe("GRU init is deterministic from the seed", () => {
  it("same seed → identical weights; different seed → different weights; all U(±1/√d)", () => {
    const a = buildLayer(16, 123);
    const b = buildLayer(16, 123);
    const c = buildLayer(16, 124);
    expect(a.store.names).toEqual(["layer.weight_ih_l0", "layer.weight_hh_l0", "layer.bias_ih_l0", "layer.bias_hh_l0"]);
    for (const [name, v] of a.store.entries()) {
      expect(Array.from(v.dataSync())).toEqual(Array.from(variable(b.store, name).dataSync()));
      expect(relativeDiff(variable(c.store, name), v)).toBeGreaterThan(0);
      // §5.3: U(−1/√d, 1/√d) with d = 16, and spread over most of that range.
      const values = Array.from(v.dataSync());
      expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(0.25);
      expect(Math.max(...values)).toBeGreaterThan(0.2);
      expect(Math.min(...values)).toBeLessThan(-0.2);
    }
    for (const built of [a, b, c]) built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts gru in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("gru").taxonomy.transition).toBe("nonlinear");
    expect(registry.get("gru").defaults).toEqual(gruDefaults);
  });
});
