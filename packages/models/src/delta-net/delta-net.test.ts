// DeltaNet (docs/spec/MODELS.md §3.3): the model contract from @selectiv/core/testkit, then what is particular to DeltaNet:
// the nearly singular UT transform of §9.5, a plain-JS reading of §3.3, the §7 figures and the init.
import { describe, expect, it } from "vitest";
import { Rng, tf } from "@selectiv/core";
import { describeModelContract } from "@selectiv/core/testkit";
import { modelTests, plain, randomTensor } from "../shared/test-helpers.js";
import type { DeltaNetConfig } from "./config.js";
import { deltaNetDefinition } from "./definition.js";
import type { DeltaNet } from "./layer.js";

const model = modelTests<DeltaNetConfig, DeltaNet>(deltaNetDefinition);

describeModelContract(deltaNetDefinition, {
  describe,
  it,
  variants: {
    "chunk 3 (divides no T)": { chunkSize: 3 },
    "no short convs, β ≡ 1, chunk 8": { useShortConv: false, useBeta: false, chunkSize: 8 },
    "β ∈ (0, 2), output gate": { allowNegativeEigenvalues: true, useOutputGate: true },
  },
});

describe("DeltaNet layer (docs/spec/MODELS.md §3.3, §9.5): extreme gates", () => {
  it("nearly parallel keys with β ≈ 1 (a nearly singular I + A in the UT transform): finite and agreeing", () => {
    const [d, heads] = [16, 2];
    const built = model.build(d, heads, 6, { useShortConv: false });
    // x_t = m + 0.01·noise: every k_t ≈ the same direction; b_proj pushes x·W_b to ≈ +12, so β ≈ 1 − 6e-6.
    const rng = new Rng(7);
    const m = randomTensor(rng, [d]);
    const x = tf.variable(tf.add(m, randomTensor(rng, [2, 37, d], 0.01)));
    const bProj = built.param("b_proj.weight");
    bProj.assign(tf.tile(tf.reshape(tf.mul(m, 12 / tf.sum(tf.square(m)).dataSync()[0]!), [d, 1]), [1, heads]));
    const inputs = built.layer.recurrenceInputsByTime(x as unknown as tf.Tensor3D);
    expect(tf.min(inputs.beta).dataSync()[0]!).toBeGreaterThan(0.9999);
    const cos = tf.sum(tf.mul(inputs.key, tf.slice(inputs.key, [0, 0, 0, 0], [2, 1, heads, d / heads])), -1);
    expect(tf.min(cos).dataSync()[0]!).toBeGreaterThan(0.999);
    built.expectFormsAgree(x);
    built.dispose();
    x.dispose();
  });
});

/**
 * An independent plain-JS reading of §3.3 for B = 1, from the parameter values: projections, causal depthwise conv +
 * SiLU, q, k ← l2 (eps 1e-6 inside the sqrt), q̂ = q/√d_k, β = σ(x W_b), e = v − Sᵀk, S ← S + β k eᵀ,
 * o = Sᵀq̂, RMSNorm per head ⊙ w, o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, sigmoid, l2, rmsNorm, convPaths, zeroStates } = plain;
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const [q, k, v] = convPaths(p, xs, { q: K, k: K, v: V });
  const normWeight = p("o_norm.weight");
  const state = zeroStates(heads, dk, dv);
  return xs.map((x, t) => {
    const beta = linear(x, p("b_proj.weight"), heads).map(sigmoid);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const S = state[h]!;
      const kh = l2(k[t]!.slice(h * dk, (h + 1) * dk));
      const qh = l2(q[t]!.slice(h * dk, (h + 1) * dk)).map((z) => z / Math.sqrt(dk));
      const vh = v[t]!.slice(h * dv, (h + 1) * dv);
      const error = vh.map((vj, j) => vj - kh.reduce((s, ki, i) => s + S[i]![j]! * ki, 0));
      for (let i = 0; i < dk; i++) for (let j = 0; j < dv; j++) S[i]![j]! += beta[h]! * kh[i]! * error[j]!;
      const o = Array.from({ length: dv }, (_, j) => qh.reduce((s, qi, i) => s + S[i]![j]! * qi, 0));
      merged.push(...rmsNorm(o, normWeight));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("DeltaNet layer: values match a plain-JS reading of §3.3", () => {
  it("d=8, H=2, T=7 (random norm weight, so the shared weight's layout matters)", () => {
    const built = model.build(8, 2, 3);
    built.perturbAroundOne("o_norm.weight");
    built.expectMatchesReference(7, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("DeltaNet parameters (docs/spec/MODELS.md §3.3, §7)", () => {
  it("parametersPerLayer = 6d² + dH + 16d + 2d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 6 * d * d + d * h + 16 * d + (2 * d) / h);
  });

  it("the general formula follows the options", () => {
    model.expectParameterCountsFollow([
      { useShortConv: false },
      { useBeta: false },
      { useOutputGate: true },
      { expandK: 0.5, expandV: 1, convSize: 3 },
    ]);
  });

  it("the per-layer figure at d = 256 matches §7.2 (398,464); stateSize is H·d_k·d_v = 2d²/H; widths split into heads", () => {
    model.expectFiguresAt256({ perLayer: 398_464, stateSize: 4 * 64 * 128 });
    model.expectRejectsWidth(18, 4, /divisible by heads/);
  });
});

describe("DeltaNet init", () => {
  it("every tensor but the RMSNorm weight (constant 1) moves with the seed; PyTorch default bounds", () => {
    // |w| ≤ 1/√fan_in (fan_in d = 16 for the projections; K = 4 for the convs).
    model.expectInit({ d: 16, heads: 2 }, { constants: { "o_norm.weight": 1 }, bounds: { "b_proj.weight": 0.25, "k_conv1d.weight": 0.5 } });
  });
});

describe("registration", () => {
  it("registerModels puts delta-net in the model registry", () => {
    model.expectRegistered("householder");
  });
});
