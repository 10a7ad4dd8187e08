// MesaNet (docs/spec/MODELS.md §3.6): the model contract from @selectiv/core/testkit (the training form is the fused kernel on
// CPU and the parallel form with the "ops" kernels), then what is particular to MesaNet: extreme gates and an
// unconverged CG in both training forms, the recurrence forms against the stepwise oracle, the CG solve, a plain-JS
// reading of §3.6, the state's shapes, the §7 figures and the init.
import { describe, expect, it } from "vitest";
import { Rng, tf } from "@selectiv/core";
import { describeModelContract } from "@selectiv/core/testkit";
import {
  GRADIENT_TOLERANCE,
  VALUE_TOLERANCE,
  allFinite,
  modelTests,
  plain,
  randomTensor,
  relativeDiff,
  withKernels,
} from "../shared/test-helpers.js";
import type { MesaNetConfig } from "./config.js";
import { mesaNetDefinition } from "./definition.js";
import { fusedMesaRecurrence } from "./fused-mesa.js";
import type { MesaNet } from "./layer.js";
import { conjugateGradient, mesaParallel, mesaStepwise, type MesaInputs } from "./recurrence.js";

const model = modelTests<MesaNetConfig, MesaNet>(mesaNetDefinition);

// Gradients to 2e-4: at T = 1 (one key, so CG has converged after two of its 30 steps and the rest iterate on
// residuals at fp32 rounding) the parallel form ("ops" kernels) measures 1.05e-4 on b_proj.weight at the kit's seed;
// every other case of the contract stays within the default 1e-4.
describeModelContract(mesaNetDefinition, { describe, it, tolerance: { value: 1e-5, gradient: 2e-4 } });

describe("MesaNet layer (docs/spec/MODELS.md §3.6): fused kernel and parallel form (training forms) ≡ stepwise oracle (unrolled CG in TF ops)", () => {
  const [d, heads] = [16, 2];

  it("extreme gates: α → 1 (a logits +30, G piles up), α → 0 (−30), β → 0 (−30): finite and agreeing, both training forms", () => {
    for (const kernels of ["fused", "ops"] as const) withKernels(kernels, extremeGates);
  });

  function extremeGates(): void {
    for (const [aBias, bBias] of [
      [30, 30],
      [-30, 30],
      [0, -30],
    ]) {
      const built = model.build(d, heads, 5);
      const a = built.param("a_proj.bias");
      a.assign(tf.fill(a.shape, aBias!));
      const b = built.param("b_proj.bias");
      b.assign(tf.fill(b.shape, bBias!));
      const x = tf.variable(randomTensor(new Rng(9), [2, 20, d]));
      built.expectFormsAgree(x);
      built.dispose();
      x.dispose();
    }
  }

  it("unconverged CG (3 steps, λ down to 0.05): the fused gradient is still the unrolled one", () => {
    const built = model.build(d, heads, 6, { cgSteps: 3, lambdaLowerBound: 0, lambdaInit: 0.05 });
    const a = built.param("a_proj.bias");
    a.assign(tf.fill(a.shape, 4));
    const x = tf.variable(randomTensor(new Rng(10), [2, 20, d]));
    built.expectFormsAgree(x);
    built.dispose();
    x.dispose();
  });
});

/** Random recurrence inputs: L2-normalised q, k; log α ∈ (−1, 0); β ∈ (0, 1); λ ∈ (0.25, 1.25). */
function randomInputs(rng: Rng, b: number, h: number, t: number, dk: number, dv: number, decayScale = 1): MesaInputs {
  const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, "euclidean", 3, true));
  return {
    query: unit(randomTensor(rng, [b, h, t, dk])) as tf.Tensor4D,
    key: unit(randomTensor(rng, [b, h, t, dk])) as tf.Tensor4D,
    value: randomTensor(rng, [b, h, t, dv]) as tf.Tensor4D,
    logAlpha: tf.mul(tf.neg(tf.sigmoid(randomTensor(rng, [b, h, t]))), decayScale) as tf.Tensor3D,
    beta: tf.sigmoid(randomTensor(rng, [b, h, t])) as tf.Tensor3D,
    lambda: tf.add(0.25, tf.sigmoid(randomTensor(rng, [h, dk]))) as tf.Tensor2D,
  };
}

/** Values and gradients w.r.t. q, k, v, log α, β, λ of `form` against the stepwise oracle, log α in (−decayScale, 0). */
function expectMatchesStepwise(
  form: (i: MesaInputs, steps: number) => tf.Tensor4D,
  [b, h, t, dk, dv]: readonly number[],
  seed: number,
  decayScale = 1,
): void {
  tf.tidy(() => {
    const inputs = randomInputs(new Rng(seed), b!, h!, t!, dk!, dv!, decayScale);
    const weights = randomTensor(new Rng(seed + 1), [b!, h!, t!, dv!]);
    const order = [inputs.query, inputs.key, inputs.value, inputs.logAlpha, inputs.beta, inputs.lambda];
    const loss =
      (f: (i: MesaInputs, steps: number) => tf.Tensor4D) =>
      (...xs: tf.Tensor[]) =>
        tf.sum(
          tf.mul(
            f(
              {
                query: xs[0] as tf.Tensor4D,
                key: xs[1] as tf.Tensor4D,
                value: xs[2] as tf.Tensor4D,
                logAlpha: xs[3] as tf.Tensor3D,
                beta: xs[4] as tf.Tensor3D,
                lambda: xs[5] as tf.Tensor2D,
              },
              30,
            ),
            weights,
          ),
        );
    const expected = tf.grads(loss(mesaStepwise))(order);
    const actual = tf.grads(loss(form))(order);
    expect(relativeDiff(form(inputs, 30), mesaStepwise(inputs, 30))).toBeLessThan(VALUE_TOLERANCE);
    for (let i = 0; i < order.length; i++) {
      expect(allFinite(actual[i]!)).toBe(true);
      expect(relativeDiff(actual[i]!, expected[i]!)).toBeLessThan(GRADIENT_TOLERANCE);
    }
  });
}

describe("MesaNet parallel form (GPU backends) ≡ stepwise oracle", () => {
  for (const size of [
    [1, 1, 1, 4, 4],
    [2, 2, 7, 5, 3],
    [1, 3, 33, 8, 6],
  ] as const) {
    it(`[B, H, T, d_k, d_v] = [${size.join(", ")}]: values and gradients w.r.t. q, k, v, log α, β, λ`, () => {
      expectMatchesStepwise(mesaParallel, size, 11 + size[2]);
    });
  }

  // Long sequences run in query blocks; here blocks of 7 and 10 make several, with a shorter last one.
  for (const [size, block, decayScale] of [
    [[2, 2, 23, 5, 3], 7, 1],
    [[1, 3, 33, 8, 6], 10, 1],
    [[1, 2, 30, 4, 4], 7, 30],
  ] as const) {
    it(`in blocks of ${block}, [B, H, T, d_k, d_v] = [${size.join(", ")}], log α down to −${decayScale}: values and gradients`, () => {
      expectMatchesStepwise((i, steps) => mesaParallel(i, steps, block), size, 31 + size[2], decayScale);
    });
  }
});

describe("MesaNet fused kernel alone", () => {
  it("d_k ≠ d_v, T = 40 (two backward segments): values and gradients w.r.t. q, k, v, log α, β, λ equal the oracle's", () => {
    expectMatchesStepwise(fusedMesaRecurrence, [2, 2, 40, 5, 3], 4);
  });

  it("30 CG steps solve (G + Diag λ) x = q to about 1e-4 (the +1e-5 damping slows the last digits, §9.4)", () => {
    const [b, h, dk, t] = [1, 2, 8, 12];
    const rng = new Rng(6);
    const keys = randomTensor(rng, [b, h, t, dk]);
    // G = Σ_t k_t k_tᵀ (α = β = 1), λ = 1.
    const g = tf.matMul(keys, keys, true, false) as tf.Tensor4D;
    const lambda = tf.ones([h, dk]) as tf.Tensor2D;
    const q = randomTensor(rng, [b, h, dk]) as tf.Tensor3D;
    const x = conjugateGradient(g, lambda, q, 30);
    const applied = tf.add(tf.sum(tf.mul(g, tf.reshape(x, [b, h, 1, dk])), 3), x);
    expect(relativeDiff(applied, q)).toBeLessThan(1e-3);
    // Far from the starting point x = 0 (relative residual 1) and from a few steps (relative residual ≫ 1e-3).
    const fewSteps = conjugateGradient(g, lambda, q, 3);
    expect(relativeDiff(tf.add(tf.sum(tf.mul(g, tf.reshape(fewSteps, [b, h, 1, dk])), 3), fewSteps), q)).toBeGreaterThan(1e-2);
  });
});

describe("MesaNet layer: streaming state", () => {
  it("q/k conv windows [B, K−1, d], G and M [B, H, d_k, d_k] (the kit checks they keep their shapes)", () => {
    const [d, heads, b] = [16, 2, 3];
    const built = model.build(d, heads, 42);
    expect(built.layer.initialState(b).map((s) => s.shape)).toEqual([
      [b, 3, d],
      [b, 3, d],
      [b, heads, 8, 8],
      [b, heads, 8, 8],
    ]);
    built.dispose();
  });
});

/**
 * An independent plain-JS reading of §3.6 for B = 1, from the parameter values: projections, conv + SiLU on q and
 * k, L2 norms, α = σ(a), β = σ(b), λ = softplus(lambda_params) + 0.25, G and M updates, 30 CG steps from 0 with
 * +1e-5 in the denominators, o = Mᵀq*, RMSNorm per head, o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, sigmoid, softplus, l2, rmsNorm, convPaths, zeroStates } = plain;
  const dk = d / heads;
  const [q, k] = convPaths(p, xs, { q: d, k: d });
  const lambda = p("lambda_params").map((z) => softplus(z) + 0.25);
  const normWeight = p("o_norm.weight");
  const g = zeroStates(heads, dk, dk);
  const m = zeroStates(heads, dk, dk);
  const dot = (a: number[], b: number[]) => a.reduce((s, ai, i) => s + ai * b[i]!, 0);
  return xs.map((x, t) => {
    const v = linear(x, p("v_proj.weight"), d);
    const a = linear(x, p("a_proj.weight"), heads, p("a_proj.bias"));
    const b = linear(x, p("b_proj.weight"), heads, p("b_proj.bias"));
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const [alpha, beta] = [sigmoid(a[h]!), sigmoid(b[h]!)];
      const qh = l2(q[t]!.slice(h * dk, (h + 1) * dk));
      const kh = l2(k[t]!.slice(h * dk, (h + 1) * dk));
      const vh = v.slice(h * dk, (h + 1) * dk);
      for (let i = 0; i < dk; i++) {
        for (let j = 0; j < dk; j++) {
          g[h]![i]![j] = alpha * g[h]![i]![j]! + beta * kh[i]! * kh[j]!;
          m[h]![i]![j] = alpha * m[h]![i]![j]! + beta * kh[i]! * vh[j]!;
        }
      }
      const apply = (vec: number[]) => vec.map((_, i) => dot(g[h]![i]!, vec) + lambda[h * dk + i]! * vec[i]!);
      let sol = new Array<number>(dk).fill(0);
      let r = [...qh];
      let dir = [...qh];
      let delta = dot(r, r);
      for (let it = 0; it < 30; it++) {
        const w = apply(dir);
        const step = delta / (dot(dir, w) + 1e-5);
        sol = sol.map((s, i) => s + step * dir[i]!);
        r = r.map((ri, i) => ri - step * w[i]!);
        const next = dot(r, r);
        dir = r.map((ri, i) => ri + (next / (delta + 1e-5)) * dir[i]!);
        delta = next;
      }
      const o = Array.from({ length: dk }, (_, j) => sol.reduce((s, si, i) => s + si * m[h]![i]![j]!, 0));
      merged.push(...rmsNorm(o, normWeight));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("MesaNet layer: values match a plain-JS reading of §3.6", () => {
  it("d=8, H=2, T=7 (random norm weight), both forms", () => {
    const built = model.build(8, 2, 3);
    built.perturbAroundOne("o_norm.weight");
    built.expectMatchesReference(7, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("MesaNet parameters (docs/spec/MODELS.md §3.6, §7)", () => {
  it("parametersPerLayer = 4d² + 2dH + 2H + 9d + d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 4 * d * d + 2 * d * h + 2 * h + 9 * d + d / h);
  });

  it("the general formula follows the conv size", () => {
    model.expectParameterCountsFollow([{ convSize: 2 }]);
  });

  it("the per-layer breakdown at d = 256 matches §7.2 (266,568; the RecNet total 2,558,849 is checked in parameter-totals.test.ts); stateSize is 2d²/H", () => {
    // stateSize: two d_k × d_k states per head.
    model.expectFiguresAt256({ perLayer: 266_568, stateSize: 2 * 4 * 64 * 64 });
  });

  it("rejects widths that do not split into heads, and λ₀ at or below the bound", () => {
    model.expectRejectsWidth(18, 4, /divisible by heads/);
    expect(() => model.build(16, 4, 1, { lambdaInit: 0.25 })).toThrow(/must exceed/);
  });
});

describe("MesaNet init", () => {
  it("every random tensor moves with the seed; λ starts at 1; the RMSNorm weight is 1; PyTorch default bounds", () => {
    // PyTorch default init: a_proj/b_proj weight and bias U(±1/√d), convs U(±1/2).
    const bounds = { "a_proj.weight": 0.25, "a_proj.bias": 0.25, "b_proj.weight": 0.25, "b_proj.bias": 0.25, "q_conv1d.weight": 0.5 };
    model.expectInit({ d: 16, heads: 2 }, { constants: { "o_norm.weight": 1 }, deterministic: ["lambda_params"], bounds });
    // lambda_params = log(e^{0.75} − 1) ≈ 0.1107, so λ = softplus(·) + 0.25 = 1.
    const a = model.build(16, 2, 123);
    for (const z of a.values("lambda_params")) {
      expect(z).toBeCloseTo(Math.log(Math.expm1(0.75)), 6);
      expect(Math.log1p(Math.exp(z)) + 0.25).toBeCloseTo(1, 6);
    }
    a.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts mesa-net in the model registry", () => {
    model.expectRegistered("scalar");
  });
});
