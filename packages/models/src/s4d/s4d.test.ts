// S4D (docs/spec/MODELS.md §5.2): the model contract from @selectiv/core/testkit (the training form is the causal convolution:
// the fused kernel on CPU, the block-Toeplitz form with the "ops" kernels), then what is particular to S4D: the
// kernel choice, extreme systems, DropoutNd, the convolution parts, a plain-JS reading of §5.2, the state's
// shapes, the §7 figures and the §5.2 initialisations.
import { describe, expect, it } from "vitest";
import { Rng, prefersFusedKernels, tf } from "@selectiv/core";
import { checkParameterCount, contractConfig, describeModelContract } from "@selectiv/core/testkit";
import { modelTests, randomTensor, relativeDiff, withKernels } from "../shared/test-helpers.js";
import type { S4dConfig } from "./config.js";
import { s4dDefinition } from "./definition.js";
import type { S4d } from "./layer.js";
import { fusedCausalConvolution, fusedConvolutionKernel } from "./fused-convolution.js";
import { complexPowers, toeplitzConvolution } from "./toeplitz.js";

const model = modelTests<S4dConfig, S4d>(s4dDefinition);

// A small state keeps the stepwise oracle cheap; some tests run the default N = 128.
const SMALL: Partial<S4dConfig> = { dState: 8, convBlock: 16 };

// The defaults have N = 128 (64 modes, A_imag up to 63π) and block 64 > T; the variants split T into blocks of 16,
// 8 and 3 (which divide no T but 16).
describeModelContract(s4dDefinition, {
  describe,
  it,
  variants: {
    "N = 8, block 16": SMALL,
    "N = 8, block 8": { ...SMALL, convBlock: 8 },
    "N = 8, block 3": { ...SMALL, convBlock: 3 },
  },
});

describe("S4D layer (docs/spec/MODELS.md §5.2): causal convolution (training form) ≡ complex recurrence (oracle)", () => {
  it("the CPU backend selects the fused convolution for the training form; SELECTIV_KERNELS=ops the block-Toeplitz form", async () => {
    await tf.ready();
    expect(tf.getBackend()).toBe("cpu");
    expect(prefersFusedKernels()).toBe(true);
    // The contract's "ops" cases run the block-Toeplitz form, as GPU backends do.
    withKernels("ops", () => expect(prefersFusedKernels()).toBe(false));
  });

  it("extreme systems: Δ = 1 with 63π rotations, Δ = 1e-4 (near-identity z), fast decay (Re A = −50)", () => {
    const settings: { logDt: number; logAReal?: number }[] = [
      { logDt: 0 },
      { logDt: Math.log(1e-4) },
      { logDt: Math.log(0.1), logAReal: Math.log(50) },
    ];
    for (const setting of settings) {
      const built = model.build(4, 2, 7, { convBlock: 16 });
      const logDt = built.param("kernel.log_dt");
      logDt.assign(tf.fill(logDt.shape, setting.logDt));
      if (setting.logAReal !== undefined) {
        const logAReal = built.param("kernel.log_A_real");
        logAReal.assign(tf.fill(logAReal.shape, setting.logAReal));
      }
      const x = tf.variable(randomTensor(new Rng(9), [2, 37, 4]));
      built.expectFormsAgree(x);
      built.dispose();
      x.dispose();
    }
  });

  it("with DropoutNd (rate 0.5, training), both forms use the same seeded mask and agree", () => {
    const built = model.build(8, 2, 13, SMALL, 0.5);
    const x = tf.variable(randomTensor(new Rng(13), [3, 21, 8]));
    built.expectFormsAgree(x, { dropoutSeed: 1234 });
    built.dispose();
    x.dispose();
  });
});

describe("S4D DropoutNd: one mask per (batch, channel), tied across time, only when training", () => {
  it("with the GLU opened up to pass the activations through, dropped channels are zero at every step", () => {
    const [b, t, d, rate] = [4, 12, 8, 0.5];
    const built = model.build(d, 2, 17, SMALL, rate);
    // output_linear = [I | 0] with the gate half's bias at +40: the GLU output is the dropped-out GELU(y).
    const weight = built.param("output_linear.0.weight");
    weight.assign(tf.concat([tf.eye(d), tf.zeros([d, d])], 1));
    const bias = built.param("output_linear.0.bias");
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
    built.dispose();
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

describe("S4D layer: streaming state", () => {
  it("s_t per channel and mode, real and imaginary parts [B, d, N/2] (the kit checks they keep their shapes)", () => {
    const built = model.build(8, 2, 42, SMALL);
    expect(built.layer.initialState(3).map((s) => s.shape)).toEqual([
      [3, 8, 4],
      [3, 8, 4],
    ]);
    built.dispose();
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
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, modes: number): number[][] {
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
    const built = model.build(4, 2, 3, { dState: 16, convBlock: 4 });
    built.expectMatchesReference(11, (xs) => referenceForward(built.values, xs, 4, 8));
    built.dispose();
  });
});

describe("S4D parameters (docs/spec/MODELS.md §5.2, §7)", () => {
  it("parametersPerLayer = 2d² + 2dN + 4d (N = 128) = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d) => 2 * d * d + 2 * d * 128 + 4 * d);
  });

  it("the general formula follows N", () => {
    model.expectParameterCountsFollow([{ dState: 10 }]);
    expect(checkParameterCount(s4dDefinition, contractConfig(s4dDefinition, { dState: 10 }), { dModel: 24, heads: 4 })).toBe(
      2 * 24 * 24 + 2 * 24 * 10 + 4 * 24,
    );
  });

  it("the per-layer breakdown at d = 256 matches §7.2 (197,632; the RecNet total 2,007,361 is checked in parameter-totals.test.ts); stateSize is d·N", () => {
    // stateSize: N/2 complex modes per channel.
    model.expectFiguresAt256({ perLayer: 197_632, stateSize: 256 * 128 });
  });

  it("rejects an odd state size", () => {
    expect(() => model.build(8, 2, 1, { dState: 7 })).toThrow(/even/);
  });
});

describe("S4D init (docs/spec/MODELS.md §5.2)", () => {
  it("every tensor but A (log_A_real, A_imag: fixed) moves with the seed", () => {
    model.expectInit({ d: 16, heads: 2 }, { deterministic: ["kernel.log_A_real", "kernel.A_imag"] });
    const a = model.build(16, 2, 123);
    expect([...a.store.names].sort()).toEqual(
      ["D", "kernel.log_dt", "kernel.C", "kernel.log_A_real", "kernel.A_imag", "output_linear.0.weight", "output_linear.0.bias"]
        .map((n) => `layer.${n}`)
        .sort(),
    );
    a.dispose();
  });

  it("log Δ ~ U(log 1e-3, log 0.1); log_A_real = log ½; A_imag = πn; C parts ~ N(0, ½); D ~ N(0, 1); conv U(±1/√d)", () => {
    const d = 64;
    const built = model.build(d, 2, 7);
    const values = built.values;
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
    built.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts s4d in the model registry", () => {
    model.expectRegistered("diagonal");
  });
});
