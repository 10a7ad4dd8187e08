// Gated DeltaNet (docs/spec/MODELS.md §3.4): the model contract from @selectiv/core/testkit, then what is particular to it:
// the extreme gates of §9.5, a plain-JS reading of §3.4, the §7 figures and the A_log / dt_bias inits.
import { describe, expect, it } from "vitest";
import { Rng, tf } from "@selectiv/core";
import { describeModelContract } from "@selectiv/core/testkit";
import { aLogInit, dtBiasInit, inverseSoftplus } from "../shared/forget-gate.js";
import { expectForgetGateInitRanges, modelTests, plain, randomTensor } from "../shared/test-helpers.js";
import type { GatedDeltaNetConfig } from "./config.js";
import { gatedDeltaNetDefinition } from "./definition.js";
import type { GatedDeltaNet } from "./layer.js";

const model = modelTests<GatedDeltaNetConfig, GatedDeltaNet>(gatedDeltaNetDefinition);

describeModelContract(gatedDeltaNetDefinition, {
  describe,
  it,
  variants: {
    "chunk 3 (divides no T)": { chunkSize: 3 },
    "no short convs, no output gate": { useShortConv: false, useOutputGate: false },
    "β ∈ (0, 2), chunk 8": { allowNegativeEigenvalues: true, chunkSize: 8 },
  },
});

describe("Gated DeltaNet layer (docs/spec/MODELS.md §3.4, §9.5): extreme gates", () => {
  it("A_log = log 16, large a_proj inputs, log α from ≈ 0 down to < −200: finite and agreeing", () => {
    const [d, heads] = [16, 2];
    const built = model.build(d, heads, 5);
    built.param("A_log").assign(tf.fill([heads], Math.log(16)));
    const aProj = built.param("a_proj.weight");
    // x W_a spans about ±15, so softplus(x W_a + dt_bias) runs from ≈ 1e-7 to ≈ 16: α from ≈ 1 to e^{−250} = 0.
    aProj.assign(tf.mul(aProj, 10));
    const x = tf.variable(randomTensor(new Rng(9), [2, 37, d]));
    // The decays really are extreme both ways: some steps forget everything, some keep everything.
    const logAlpha = built.layer.recurrenceInputsByTime(x as unknown as tf.Tensor3D).logAlpha;
    expect(tf.min(logAlpha).dataSync()[0]!).toBeLessThan(-200);
    expect(tf.max(logAlpha).dataSync()[0]!).toBeGreaterThan(-1e-3);
    built.expectFormsAgree(x);
    built.dispose();
    x.dispose();
  });
});

/**
 * An independent plain-JS reading of §3.4 for B = 1, from the parameter values: projections, causal depthwise conv +
 * SiLU, q, k ← l2 (eps 1e-6 inside the sqrt), q̂ = q/√d_k, β = σ(x W_b),
 * α = exp(−exp(A_log)·softplus(x W_a + dt_bias)); S ← αS, e = v − Sᵀk, S ← S + β k eᵀ, o = Sᵀq̂;
 * RMSNorm per head ⊙ w ⊙ SiLU(x W_g), o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, sigmoid, silu, softplus, l2, rmsNorm, convPaths, zeroStates } = plain;
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const [q, k, v] = convPaths(p, xs, { q: K, k: K, v: V });
  const [normWeight, aLog, dtBias] = [p("o_norm.weight"), p("A_log"), p("dt_bias")];
  const state = zeroStates(heads, dk, dv);
  return xs.map((x, t) => {
    const beta = linear(x, p("b_proj.weight"), heads).map(sigmoid);
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
      rmsNorm(o, normWeight).forEach((z, j) => merged.push(z * silu(g[h * dv + j]!)));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("Gated DeltaNet layer: values match a plain-JS reading of §3.4", () => {
  it("d=8, H=2, T=7 (random norm weight; A_log, dt_bias moved so the decay matters)", () => {
    const built = model.build(8, 2, 3);
    built.perturbAroundOne("o_norm.weight");
    built.param("A_log").assign(tf.tensor1d([Math.log(0.5), Math.log(3)]));
    built.param("dt_bias").assign(tf.tensor1d([0.3, -0.7]));
    built.expectMatchesReference(7, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("Gated DeltaNet parameters (docs/spec/MODELS.md §3.4, §7)", () => {
  it("parametersPerLayer = 8d² + 2dH + 2H + 16d + 2d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 8 * d * d + 2 * d * h + 2 * h + 16 * d + (2 * d) / h);
  });

  it("the general formula follows the options", () => {
    model.expectParameterCountsFollow([{ useShortConv: false }, { useOutputGate: false }, { expandK: 0.5, expandV: 1, convSize: 3 }]);
  });

  it("the per-layer figure at d = 256 matches §7.2 (530,568); stateSize is H·d_k·d_v = 2d²/H; widths split into heads", () => {
    model.expectFiguresAt256({ perLayer: 530_568, stateSize: 4 * 64 * 128 });
    model.expectRejectsWidth(18, 4, /divisible by heads/);
  });
});

describe("Gated DeltaNet init (docs/spec/MODELS.md §3.4)", () => {
  it("every tensor but the RMSNorm weight (constant 1) moves with the seed; PyTorch default bounds", () => {
    // |w| ≤ 1/√fan_in (fan_in d = 16 for the projections; K = 4 for the convs).
    model.expectInit({ d: 16, heads: 2 }, { constants: { "o_norm.weight": 1 }, bounds: { "a_proj.weight": 0.25, "v_conv1d.weight": 0.5 } });
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
    expectForgetGateInitRanges(model);
  });
});

describe("registration", () => {
  it("registerModels puts gated-delta-net in the model registry", () => {
    model.expectRegistered("gated-householder");
  });
});
