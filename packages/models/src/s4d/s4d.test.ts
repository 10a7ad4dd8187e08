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
import { s4dDefaults, type S4dConfig } from "./config.js";
import { s4dDefinition } from "./definition.js";
import type { S4d } from "./layer.js";
import { fusedCausalConvolution, fusedConvolutionKernel } from "./fused-convolution.js";
import { complexPowers, toeplitzConvolution } from "./toeplitz.js";

const VALUE_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;
// A small state keeps the stepwise oracle cheap; some tests run the default N = 128.
const SMALL: Partial<S4dConfig> = { dState: 8, convBlock: 16 };

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
  layer: S4d;
}

function buildLayer(d: number, seed: number, overrides: Partial<S4dConfig> = {}, dropout = 0): Built {
  const store = new ParameterStore(seed);
  const config = { ...s4dDefaults, ...overrides } as S4dConfig;
  const layer = s4dDefinition.createLayer({ dModel: d, heads: 2, layerIndex: 0, params: store.scope("layer"), dropout }, config);
  return { store, layer: layer as S4d };
}

function variable(store: ParameterStore, name: string): tf.Variable {
  const found = store.entries().find(([n]) => n === name);
  if (!found) throw new Error(`no parameter ${name}; have ${store.names.join(", ")}`);
  return found[1];
}

/** Loss = Σ w ⊙ y with fixed, distinct weights, and its gradients w.r.t. every layer variable and the input. */
function valueAndGradients(
  built: Built,
  x: tf.Variable,
  form: ComputeForm,
  dropoutSeed?: number,
): { output: tf.Tensor; grads: Record<string, tf.Tensor> } {
  let output: tf.Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    const y = built.layer.forward(x as unknown as tf.Tensor3D, { training: true, form, dropoutSeed });
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

function compareForms(built: Built, x: tf.Variable, dropoutSeed?: number): Comparison {
  const chunked = valueAndGradients(built, x, "chunked", dropoutSeed);
  const stepwise = valueAndGradients(built, x, "stepwise", dropoutSeed);
  let gradient = 0;
  let finite = allFinite(chunked.output) && allFinite(stepwise.output);
  const names = Object.keys(stepwise.grads);
  expect(names.length).toBe(built.store.variables.length + 1);
  expect(Object.keys(chunked.grads).sort()).toEqual([...names].sort());
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
    `S4D max relative differences: convolution vs recurrence output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}; plain-JS reference ${e(observed.reference)}`,
  );
});

function expectAgreement(r: Comparison): void {
  observed.output = Math.max(observed.output, r.output);
  observed.gradient = Math.max(observed.gradient, r.gradient);
  expect(r.finite).toBe(true);
  expect(r.output).toBeLessThan(VALUE_TOLERANCE);
  expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
}

describe("S4D layer (models.md §5.2): causal convolution (training form) ≡ complex recurrence (oracle)", () => {
  const d = 8;
  it("the CPU backend selects the fused convolution for the training form", async () => {
    await tf.ready();
    expect(tf.getBackend()).toBe("cpu");
    expect(prefersFusedKernels()).toBe(true);
  });

  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}, block 16: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(d, 11 + t, SMALL);
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  it("block lengths that do not divide T (8, 3) agree too", () => {
    for (const convBlock of [8, 3]) {
      const built = buildLayer(d, 21, { ...SMALL, convBlock });
      const x = tf.variable(randomTensor(new Rng(77), [2, 20, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("default N = 128 (64 modes, A_imag up to 63π) and block 64 > T = 37", () => {
    const built = buildLayer(4, 3);
    const x = tf.variable(randomTensor(new Rng(3), [2, 37, 4]));
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });

  it("extreme systems: Δ = 1 with 63π rotations, Δ = 1e-4 (near-identity z), fast decay (Re A = −50)", () => {
    const settings: { logDt: number; logAReal?: number }[] = [
      { logDt: 0 },
      { logDt: Math.log(1e-4) },
      { logDt: Math.log(0.1), logAReal: Math.log(50) },
    ];
    for (const setting of settings) {
      const built = buildLayer(4, 7, { convBlock: 16 });
      const logDt = variable(built.store, "layer.kernel.log_dt");
      logDt.assign(tf.fill(logDt.shape, setting.logDt));
      if (setting.logAReal !== undefined) {
        const logAReal = variable(built.store, "layer.kernel.log_A_real");
        logAReal.assign(tf.fill(logAReal.shape, setting.logAReal));
      }
      const x = tf.variable(randomTensor(new Rng(9), [2, 37, 4]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  });

  it("with DropoutNd (rate 0.5, training), both forms use the same seeded mask and agree", () => {
    const built = buildLayer(d, 13, SMALL, 0.5);
    const x = tf.variable(randomTensor(new Rng(13), [3, 21, d]));
    expectAgreement(compareForms(built, x, 1234));
    built.store.dispose();
    x.dispose();
  });
});

describe("S4D DropoutNd: one mask per (batch, channel), tied across time, only when training", () => {
  it("with the GLU opened up to pass the activations through, dropped channels are zero at every step", () => {
    const [b, t, d, rate] = [4, 12, 8, 0.5];
    const built = buildLayer(d, 17, SMALL, rate);
    // output_linear = [I | 0] with the gate half's bias at +40: the GLU output is the dropped-out GELU(y).
    const weight = variable(built.store, "layer.output_linear.0.weight");
    weight.assign(tf.concat([tf.eye(d), tf.zeros([d, d])], 1));
    const bias = variable(built.store, "layer.output_linear.0.bias");
    bias.assign(tf.concat([tf.zeros([d]), tf.fill([d], 40)]));
    const x = randomTensor(new Rng(18), [b, t, d]) as tf.Tensor3D;
    const clean = built.layer.forward(x, { training: false }).arraySync() as number[][][];
    const noSeed = built.layer.forward(x, { training: true }).arraySync() as number[][][];
    const seeded = (seed: number) => built.layer.forward(x, { training: true, dropoutSeed: seed }).arraySync() as number[][][];
    const [a, again, other] = [seeded(5), seeded(5), seeded(6)];
    expect(again).toEqual(a);
    expect(noSeed).toEqual(seeded(0));
    let dropped = 0;
    let differing = 0;
    for (let i = 0; i < b; i++) {
      for (let h = 0; h < d; h++) {
        const kept = a[i]![0]![h] !== 0;
        if (!kept) dropped++;
        if ((other[i]![0]![h] !== 0) !== kept) differing++;
        for (let s = 0; s < t; s++) {
          const expected = kept ? clean[i]![s]![h]! / (1 - rate) : 0;
          expect(a[i]![s]![h]!).toBeCloseTo(expected, 5);
        }
      }
    }
    expect(dropped).toBeGreaterThan(0.25 * b * d);
    expect(dropped).toBeLessThan(0.75 * b * d);
    expect(differing).toBeGreaterThan(0);
    // Not training: no dropout whatever the seed.
    expect(built.layer.forward(x, { training: false, dropoutSeed: 5 }).arraySync()).toEqual(clean);
    built.store.dispose();
  });
});

describe("S4D parts", () => {
  it("complexPowers(z, T) = z^l, l = 0..T−1 on the leading axis, for T a power of two and not", () => {
    const [zr, zi] = [
      [0.9, -0.3, 0.999],
      [0.2, 0.8, 0.04],
    ];
    for (const length of [1, 8, 13]) {
      const { re, im } = complexPowers(tf.tensor1d(zr), tf.tensor1d(zi), length);
      expect(re.shape).toEqual([length, 3]);
      const [gotRe, gotIm] = [re.arraySync() as number[][], im.arraySync() as number[][]];
      zr.forEach((a, k) => {
        let [pr, pi] = [1, 0];
        for (let l = 0; l < length; l++) {
          expect(gotRe[l]![k]!).toBeCloseTo(pr, 5);
          expect(gotIm[l]![k]!).toBeCloseTo(pi, 5);
          [pr, pi] = [pr * a - pi * zi[k]!, pr * zi[k]! + pi * a];
        }
      });
    }
  });

  it("the fused kernel K[l] = 2 Re Σ C' z^l equals the TF-op form (powers by doubling), values and gradients", () => {
    const [d, m, t] = [3, 4, 21];
    const rng = new Rng(8);
    // |z| < 1 with phases up to ~±2 rad per step, as Δ·A_imag produces.
    const magnitude = tf.sigmoid(randomTensor(rng, [d, m], 2));
    const phase = randomTensor(rng, [d, m]);
    const parts = [
      tf.mul(magnitude, tf.cos(phase)),
      tf.mul(magnitude, tf.sin(phase)),
      randomTensor(rng, [d, m]),
      randomTensor(rng, [d, m]),
    ];
    const weights = randomTensor(rng, [t, d]);
    const viaOps = (zr: tf.Tensor, zi: tf.Tensor, cr: tf.Tensor, ci: tf.Tensor) => {
      const powers = complexPowers(zr, zi, t);
      return tf.mul(tf.sum(tf.sub(tf.mul(cr, powers.re), tf.mul(ci, powers.im)), 2), 2);
    };
    const fused = (zr: tf.Tensor, zi: tf.Tensor, cr: tf.Tensor, ci: tf.Tensor) =>
      fusedConvolutionKernel(zr as tf.Tensor2D, zi as tf.Tensor2D, cr as tf.Tensor2D, ci as tf.Tensor2D, t);
    const gradients = (f: typeof viaOps) =>
      tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(xs[0]!, xs[1]!, xs[2]!, xs[3]!), weights)))(parts);
    expect(
      relativeDiff(fused(parts[0]!, parts[1]!, parts[2]!, parts[3]!), viaOps(parts[0]!, parts[1]!, parts[2]!, parts[3]!)),
    ).toBeLessThan(1e-5);
    const [expected, actual] = [gradients(viaOps), gradients(fused)];
    for (let i = 0; i < 4; i++) expect(relativeDiff(actual[i]!, expected[i]!)).toBeLessThan(1e-4);
  });

  it("the fused and the block-Toeplitz convolutions equal Σ_{s≤t} K[t−s] u_s, values and gradients", () => {
    const [b, t, d] = [2, 11, 3];
    const u = randomTensor(new Rng(1), [b, t, d]) as tf.Tensor3D;
    const kernel = randomTensor(new Rng(2), [t, d]) as tf.Tensor2D;
    const weights = randomTensor(new Rng(3), [b, t, d]);
    // The direct sum in TF ops (slices and adds), differentiated by autodiff.
    const direct = (x: tf.Tensor3D, k: tf.Tensor2D): tf.Tensor3D => {
      const rows: tf.Tensor[] = [];
      for (let i = 0; i < t; i++) {
        let acc: tf.Tensor = tf.zeros([b, d]);
        for (let j = 0; j <= i; j++) {
          acc = tf.add(
            acc,
            tf.mul(tf.reshape(tf.slice(x, [0, j, 0], [b, 1, d]), [b, d]), tf.reshape(tf.slice(k, [i - j, 0], [1, d]), [d])),
          );
        }
        rows.push(acc);
      }
      return tf.stack(rows, 1) as tf.Tensor3D;
    };
    const gradients = (f: (x: tf.Tensor3D, k: tf.Tensor2D) => tf.Tensor3D) =>
      tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(xs[0] as tf.Tensor3D, xs[1] as tf.Tensor2D), weights)))([u, kernel]);
    const expected = direct(u, kernel);
    const expectedGrads = gradients(direct);
    const candidates: ((x: tf.Tensor3D, k: tf.Tensor2D) => tf.Tensor3D)[] = [
      fusedCausalConvolution,
      ...[1, 3, 4, 11, 64].map((block) => (x: tf.Tensor3D, k: tf.Tensor2D) => toeplitzConvolution(x, k, block)),
    ];
    for (const f of candidates) {
      expect(relativeDiff(f(u, kernel), expected)).toBeLessThan(1e-6);
      const got = gradients(f);
      for (let i = 0; i < 2; i++) expect(relativeDiff(got[i]!, expectedGrads[i]!)).toBeLessThan(1e-6);
    }
  });
});

describe("S4D layer with the block-Toeplitz training form (SELECTIV_KERNELS=ops, as on GPU backends)", () => {
  it("T=37 with blocks of 16 and T=5: outputs and gradients agree with the recurrence", () => {
    const previous = process.env.SELECTIV_KERNELS;
    process.env.SELECTIV_KERNELS = "ops";
    try {
      expect(prefersFusedKernels()).toBe(false);
      for (const t of [37, 5]) {
        const built = buildLayer(8, 61 + t, SMALL);
        const x = tf.variable(randomTensor(new Rng(62 + t), [2, t, 8]));
        expectAgreement(compareForms(built, x));
        built.store.dispose();
        x.dispose();
      }
    } finally {
      if (previous === undefined) delete process.env.SELECTIV_KERNELS;
      else process.env.SELECTIV_KERNELS = previous;
    }
  });
});

describe("S4D layer: streaming", () => {
  it("initialState + step for every t equals forward", () => {
    const [d, b, t] = [8, 3, 21];
    const built = buildLayer(d, 42, SMALL);
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
    // Constant memory: s_t per channel and mode (real, imaginary), the same shapes after T steps.
    expect(state.map((s) => s.shape)).toEqual([
      [b, d, 4],
      [b, d, 4],
    ]);
    built.store.dispose();
  });
});

/** erf to ~1e-15 by its Maclaurin series (|x| ≤ 3) or its asymptotic continued fraction (|x| > 3). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 3) {
    let f = 0;
    for (let k = 60; k >= 1; k--) f = k / 2 / (ax + f);
    return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
  }
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 100; n++) {
    term *= (-ax * ax) / n;
    sum += term / (2 * n + 1);
  }
  return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
}

/**
 * An independent plain-JS reading of §5.2 for B = 1 from the parameter values: K[h, l] = 2 Re Σ_n C'_n e^{ΔA_n l}
 * with C'_n = C_n (e^{ΔA_n} − 1)/A_n, y = K ∗ u + D u, GELU, 1×1 conv, GLU.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, modes: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const [skip, logDt, c, logAReal, aImag] = [p("D"), p("kernel.log_dt"), p("kernel.C"), p("kernel.log_A_real"), p("kernel.A_imag")];
  const [w, bias] = [p("output_linear.0.weight"), p("output_linear.0.bias")];
  const t = xs.length;
  const kernel = Array.from({ length: d }, (_, h) =>
    Array.from({ length: t }, (_, l) => {
      let s = 0;
      for (let n = 0; n < modes; n++) {
        const i = h * modes + n;
        const dt = Math.exp(logDt[h]!);
        const [ar, ai] = [-Math.exp(logAReal[i]!), aImag[i]!];
        // e^{ΔA} − 1, divided by A, times C, times e^{ΔA l}; complex products written out.
        const [er, ei] = [Math.exp(dt * ar) * Math.cos(dt * ai) - 1, Math.exp(dt * ar) * Math.sin(dt * ai)];
        const den = ar * ar + ai * ai;
        const [qr, qi] = [(er * ar + ei * ai) / den, (ei * ar - er * ai) / den];
        const [cr, ci] = [c[2 * i]! * qr - c[2 * i + 1]! * qi, c[2 * i]! * qi + c[2 * i + 1]! * qr];
        const [pr, pi] = [Math.exp(dt * ar * l) * Math.cos(dt * ai * l), Math.exp(dt * ar * l) * Math.sin(dt * ai * l)];
        s += cr * pr - ci * pi;
      }
      return 2 * s;
    }),
  );
  return xs.map((_, i) => {
    const g = Array.from({ length: d }, (_, h) => {
      let y = skip[h]! * xs[i]![h]!;
      for (let j = 0; j <= i; j++) y += kernel[h]![i - j]! * xs[j]![h]!;
      return 0.5 * y * (1 + erf(y / Math.SQRT2));
    });
    const out = Array.from({ length: 2 * d }, (_, o) => g.reduce((s, gh, h) => s + gh * w[h * 2 * d + o]!, bias[o]!));
    return Array.from({ length: d }, (_, h) => out[h]! / (1 + Math.exp(-out[d + h]!)));
  });
}

describe("S4D layer: values match a plain-JS reading of §5.2", () => {
  it("d=4, N=16, T=11, both forms", () => {
    const [d, t] = [4, 11];
    const built = buildLayer(d, 3, { dState: 16, convBlock: 4 });
    const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
    const xs = (x.arraySync() as number[][][])[0]!;
    const expected = tf.tensor([referenceForward(built.store, xs, d, 8)]);
    for (const form of ["chunked", "stepwise"] as const) {
      const diff = relativeDiff(built.layer.forward(x, { training: false, form }), expected);
      observed.reference = Math.max(observed.reference, diff);
      expect(diff).toBeLessThan(VALUE_TOLERANCE);
    }
    built.store.dispose();
  });
});

describe("S4D parameters (models.md §5.2, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}, N=128: store count = parametersPerLayer = 2d² + 2dN + 4d`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, 1);
      const closedForm = 2 * d * d + 2 * d * 128 + 4 * d;
      expect(s4dDefinition.parametersPerLayer(d, heads, s4dDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows N", () => {
    const config = { ...s4dDefaults, dState: 10 };
    const built = buildLayer(24, 1, config);
    expect(built.store.count()).toBe(s4dDefinition.parametersPerLayer(24, 4, config));
    expect(built.store.count()).toBe(2 * 24 * 24 + 2 * 24 * 10 + 4 * 24);
    built.store.dispose();
  });

  it("the per-layer breakdown at d = 256 matches §7.2 (197,632) and the RecNet total is 2,007,361", () => {
    expect(s4dDefinition.parametersPerLayer(256, 4, s4dDefaults)).toBe(197_632);
    const net = new RecNet(
      s4dDefinition,
      s4dDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(2_007_361);
    net.store.dispose();
  });

  it("stateSize is d·N (N/2 complex modes per channel)", () => {
    expect(s4dDefinition.taxonomy.stateSize(256, 4)).toBe(256 * 128);
  });

  it("rejects an odd state size", () => {
    expect(() => buildLayer(8, 1, { dState: 7 })).toThrow(/even/);
  });
});

describe("S4D init (models.md §5.2) is deterministic from the seed", () => {
  it("same seed → identical weights; different seed → different random weights", () => {
    const a = buildLayer(16, 123);
    const b = buildLayer(16, 123);
    const c = buildLayer(16, 124);
    expect(a.store.names.sort()).toEqual(
      ["D", "kernel.log_dt", "kernel.C", "kernel.log_A_real", "kernel.A_imag", "output_linear.0.weight", "output_linear.0.bias"]
        .map((n) => `layer.${n}`)
        .sort(),
    );
    const constant = new Set(["layer.kernel.log_A_real", "layer.kernel.A_imag"]);
    for (const [name, v] of a.store.entries()) {
      expect(Array.from(v.dataSync())).toEqual(Array.from(variable(b.store, name).dataSync()));
      expect(relativeDiff(variable(c.store, name), v) > 0).toBe(!constant.has(name));
    }
    for (const built of [a, b, c]) built.store.dispose();
  });

  it("log Δ ~ U(log 1e-3, log 0.1); log_A_real = log ½; A_imag = πn; C parts ~ N(0, ½); D ~ N(0, 1); conv U(±1/√d)", () => {
    const d = 64;
    const built = buildLayer(d, 7);
    const values = (name: string) => Array.from(variable(built.store, `layer.${name}`).dataSync());
    const logDt = values("kernel.log_dt");
    expect(Math.min(...logDt)).toBeGreaterThanOrEqual(Math.log(1e-3));
    expect(Math.max(...logDt)).toBeLessThanOrEqual(Math.log(0.1));
    expect(Math.max(...logDt) - Math.min(...logDt)).toBeGreaterThan(0.8 * Math.log(100));
    for (const v of values("kernel.log_A_real")) expect(v).toBeCloseTo(Math.log(0.5), 6);
    values("kernel.A_imag").forEach((v, i) => expect(v).toBeCloseTo(Math.PI * (i % 64), 4));
    const variance = (xs: number[]) => xs.reduce((s, v) => s + v * v, 0) / xs.length;
    expect(variance(values("kernel.C"))).toBeCloseTo(0.5, 1);
    expect(Math.abs(variance(values("D")) - 1)).toBeLessThan(0.4);
    const w = values("output_linear.0.weight");
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
    built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts s4d in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("s4d").taxonomy.transition).toBe("diagonal");
    expect(registry.get("s4d").defaults).toEqual(s4dDefaults);
  });
});
