// Gated DeltaProduct (docs/spec/MODELS.md §3.5): the model contract from @selectiv/core/testkit (with n = 4 micro-steps per
// token, T = 1, 5, 16, 37 are 4 to 148 micro-steps against chunk 16), then what is particular to it: repeated
// near-reflections (§9.5), n = 1 ≡ Gated DeltaNet, a plain-JS reading of §3.5, the §7 figures and the init.
import { describe, expect, it } from "vitest";
import { Rng, tf } from "@selectiv/core";
import { checkParameterCount, describeModelContract } from "@selectiv/core/testkit";
import { builtInModel, expectForgetGateInitRanges, modelTests, plain, randomTensor, relativeDiff } from "../shared/test-helpers.js";
import { gatedDeltaProductDefaults, type GatedDeltaProductConfig } from "./config.js";
import { gatedDeltaProductDefinition } from "./definition.js";
import type { GatedDeltaProduct } from "./layer.js";

const model = modelTests<GatedDeltaProductConfig, GatedDeltaProduct>(gatedDeltaProductDefinition);

describeModelContract(gatedDeltaProductDefinition, {
  describe,
  it,
  variants: {
    "chunk 6 (chunks split a token's micro-steps)": { chunkSize: 6 },
    "n = 2, no forget gate, chunk 3": { householders: 2, useForgetGate: false, chunkSize: 3 },
    "n = 3, β ∈ (0, 1), no short convs, no output gate, chunk 5": {
      householders: 3,
      allowNegativeEigenvalues: false,
      useShortConv: false,
      useOutputGate: false,
      chunkSize: 5,
    },
  },
});

describe("Gated DeltaProduct layer (docs/spec/MODELS.md §3.5, §9.5)", () => {
  it("extreme gates (β ≈ 2 with nearly parallel keys, i.e. repeated near-reflections): finite and agreeing", () => {
    const [d, heads] = [16, 2];
    const built = model.build(d, heads, 6);
    const n = gatedDeltaProductDefaults.householders;
    // x_t = m + 0.01·noise, every micro-step's k_proj block and conv taps equal: all k_{t,j} (t ≥ K−1) ≈ one direction.
    const rng = new Rng(7);
    const m = randomTensor(rng, [d]);
    const x = tf.variable(tf.add(m, randomTensor(rng, [2, 37, d], 0.01)));
    const kProj = built.param("k_proj.weight");
    kProj.assign(tf.tile(tf.slice(kProj, [0, 0], [d, d]), [1, n]));
    const kConv = built.param("k_conv1d.weight");
    kConv.assign(tf.tile(tf.slice(kConv, [0, 0], [4, d]), [1, n]));
    // x·W_b ≈ +10 everywhere: β = 2σ(10) ≈ 2 − 9e-5.
    const bProj = built.param("b_proj.weight");
    bProj.assign(tf.tile(tf.reshape(tf.mul(m, 10 / tf.sum(tf.square(m)).dataSync()[0]!), [d, 1]), [1, n * heads]));
    const inputs = built.layer.microStepInputs(x as unknown as tf.Tensor3D);
    expect(tf.min(inputs.betas).dataSync()[0]!).toBeGreaterThan(1.9998);
    const dk = d / heads;
    const later = tf.slice(inputs.keys, [0, 0, 3 * n, 0], [2, heads, 34 * n, dk]);
    const cos = tf.sum(tf.mul(later, tf.slice(inputs.keys, [0, 0, 3 * n, 0], [2, heads, 1, dk])), -1);
    expect(tf.min(cos).dataSync()[0]!).toBeGreaterThan(0.999);
    // Each gradient at its own scale, floored at 1e-4 of the largest (as the decay gradients can be ≈ 0).
    built.expectFormsAgree(x, { gradientFloor: 1e-4 });
    built.dispose();
    x.dispose();
  });

  it("n = 1 is Gated DeltaNet with β ∈ (0,2): same parameter names, same init, same outputs", () => {
    const d = 16;
    const product = model.build(d, 2, 8, { householders: 1 });
    const gdn = modelTests(builtInModel("gated-delta-net")).build(d, 2, 8, { allowNegativeEigenvalues: true });
    expect([...product.store.names].sort()).toEqual([...gdn.store.names].sort());
    const x = randomTensor(new Rng(8), [2, 23, d]) as tf.Tensor3D;
    for (const form of ["chunked", "stepwise"] as const) {
      const y = gdn.layer.forward(x, { training: false, form });
      expect(relativeDiff(product.layer.forward(x, { training: false, form }), y)).toBeLessThan(1e-6);
    }
    product.dispose();
    gdn.dispose();
  });
});

/**
 * An independent plain-JS reading of §3.5 for B = 1, from the parameter values. k, v and b projections laid out
 * (j, h, i); convs + SiLU; q, k_{t,j} ← l2 (eps 1e-6 inside the sqrt); q̂ = q/√d_k; β_{t,j} = 2σ(x W_b);
 * α_t = exp(−exp(A_log)·softplus(x W_a + dt_bias)); S ← α_t S, then for j = 1..n: S ← S + β k (v − Sᵀk)ᵀ;
 * o = Sᵀq̂; RMSNorm per head ⊙ w ⊙ SiLU(x W_g); o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number, n: number): number[][] {
  const { linear, sigmoid, silu, softplus, l2, rmsNorm, convPaths, zeroStates } = plain;
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const [q, k, v] = convPaths(p, xs, { q: K, k: n * K, v: n * V });
  const [normWeight, aLog, dtBias] = [p("o_norm.weight"), p("A_log"), p("dt_bias")];
  const state = zeroStates(heads, dk, dv);
  return xs.map((x, t) => {
    const beta = linear(x, p("b_proj.weight"), n * heads).map((z) => 2 * sigmoid(z));
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
      rmsNorm(o, normWeight).forEach((z, c) => merged.push(z * silu(g[h * dv + c]!)));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("Gated DeltaProduct layer: values match a plain-JS reading of §3.5", () => {
  for (const n of [4, 2]) {
    it(`d=8, H=2, T=7, n=${n} (random norm weight; A_log, dt_bias moved so the decay matters)`, () => {
      const built = model.build(8, 2, 3, { householders: n });
      built.perturbAroundOne("o_norm.weight");
      built.param("A_log").assign(tf.tensor1d([Math.log(0.5), Math.log(3)]));
      built.param("dt_bias").assign(tf.tensor1d([0.3, -0.7]));
      // Larger b_proj weights spread β over (0, 2), reflections included.
      const bProj = built.param("b_proj.weight");
      bProj.assign(tf.mul(bProj, 6));
      const x = built.referenceInput(7);
      expect(tf.max(built.layer.microStepInputs(x).betas).dataSync()[0]!).toBeGreaterThan(1.5);
      built.expectMatchesReference(x, (xs) => referenceForward(built.values, xs, 8, 2, n));
      built.dispose();
    });
  }
});

describe("Gated DeltaProduct parameters (docs/spec/MODELS.md §3.5, §7)", () => {
  it("parametersPerLayer = 17d² + 5dH + 2H + 52d + 2d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 17 * d * d + 5 * d * h + 2 * h + 52 * d + (2 * d) / h);
  });

  it("the general formula follows the options, and for any n equals (3n+5)d² + (n+1)dH + 2H + (12n+4)d + 2d/H", () => {
    const [d, heads] = [32, 4];
    for (const n of [1, 2, 3, 5]) {
      const closedForm = (3 * n + 5) * d * d + (n + 1) * d * heads + 2 * heads + (12 * n + 4) * d + (2 * d) / heads;
      const config = { ...gatedDeltaProductDefaults, householders: n };
      expect(gatedDeltaProductDefinition.parametersPerLayer(d, heads, config)).toBe(closedForm);
      checkParameterCount(gatedDeltaProductDefinition, config, { dModel: d, heads });
    }
    const options = [
      { useShortConv: false },
      { useForgetGate: false },
      { useOutputGate: false },
      { expandK: 0.5, expandV: 1, convSize: 3 },
    ];
    model.expectParameterCountsFollow(options);
  });

  it("the per-layer figure at d = 256 matches §7.2 (1,132,680); stateSize is H·d_k·d_v = 2d²/H (one state for the n steps); widths split into heads", () => {
    model.expectFiguresAt256({ perLayer: 1_132_680, stateSize: 4 * 64 * 128 });
    model.expectRejectsWidth(18, 4, /divisible by heads/);
  });
});

describe("Gated DeltaProduct init (docs/spec/MODELS.md §3.4–§3.5)", () => {
  it("every tensor but the RMSNorm weight (constant 1) moves with the seed; PyTorch default bounds", () => {
    // |w| ≤ 1/√fan_in (fan_in d = 16 for the projections; K = 4 for the convs).
    model.expectInit({ d: 16, heads: 2 }, { constants: { "o_norm.weight": 1 }, bounds: { "b_proj.weight": 0.25, "k_conv1d.weight": 0.5 } });
  });

  it("A_log and dt_bias are initialised as in Gated DeltaNet: A ∈ (0, 16], softplus(dt_bias) ∈ [1e-3, 0.1]", () => {
    expectForgetGateInitRanges(model);
  });
});

describe("registration", () => {
  it("registerModels puts gated-delta-product in the model registry", () => {
    model.expectRegistered("householder-product");
  });
});
