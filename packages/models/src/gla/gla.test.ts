// GLA (docs/spec/MODELS.md §3.1): the model contract from @selectiv/core/testkit, then what is particular to GLA: the
// extreme gates of §9.5, a plain-JS reading of §3.1, the §7 parameter figures, the init and the short conv.
import { describe, expect, it } from "vitest";
import { ParameterStore, Rng, ShortConv, tf } from "@selectiv/core";
import { describeModelContract } from "@selectiv/core/testkit";
import { modelTests, plain, randomTensor } from "../shared/test-helpers.js";
import type { GlaConfig } from "./config.js";
import { glaDefinition } from "./definition.js";
import type { GatedLinearAttention } from "./layer.js";

const model = modelTests<GlaConfig, GatedLinearAttention>(glaDefinition);

describeModelContract(glaDefinition, {
  describe,
  it,
  variants: {
    "chunk 3 (divides no T)": { chunkSize: 3 },
    "no short convs, no output gate, chunk 8": { useShortConv: false, useOutputGate: false, chunkSize: 8 },
  },
});

describe("GLA layer (docs/spec/MODELS.md §3.1, §9.5): extreme gates", () => {
  it("gate logits ≈ −30 (log α ≈ −1.9 per step): finite, and the chunked form agrees with the oracle", () => {
    const d = 16;
    const built = model.build(d, 2, 5);
    const bias = built.param("gk_proj.1.bias");
    bias.assign(tf.fill(bias.shape, -30));
    const x = tf.variable(randomTensor(new Rng(9), [2, 37, d]));
    // The gate logits really are extreme: γ = gk_proj(x) lies within a few units of −30.
    const logits = tf.add(
      tf.matMul(tf.matMul(tf.reshape(x, [-1, d]), built.param("gk_proj.0.weight")), built.param("gk_proj.1.weight")),
      bias,
    );
    expect(tf.max(logits).dataSync()[0]!).toBeLessThan(-25);
    built.expectFormsAgree(x);
    built.dispose();
    x.dispose();
  });
});

/**
 * An independent plain-JS reading of §3.1 for B = 1, from the parameter values: projections, causal depthwise
 * conv + SiLU, q̂ = q/√d_k, log α = logsigmoid(γ)/16, S_t = Diag(α_t)S_{t−1} + k_t v_tᵀ, o_t = S_tᵀq̂_t,
 * RMSNorm per head ⊙ w ⊙ SiLU(x W_g), o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, sigmoid, silu, rmsNorm, convPaths, zeroStates } = plain;
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const [q, k, v] = convPaths(p, xs, { q: K, k: K, v: V });
  const normWeight = p("g_norm_swish_gate.weight");
  const state = zeroStates(heads, dk, dv);
  return xs.map((x, t) => {
    const low = linear(x, p("gk_proj.0.weight"), 16);
    const gamma = linear(low, p("gk_proj.1.weight"), K, p("gk_proj.1.bias"));
    const g = linear(x, p("g_proj.weight"), V);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const o = new Array<number>(dv).fill(0);
      for (let i = 0; i < dk; i++) {
        const alpha = Math.pow(sigmoid(gamma[h * dk + i]!), 1 / 16);
        for (let j = 0; j < dv; j++) {
          state[h]![i]![j] = alpha * state[h]![i]![j]! + k[t]![h * dk + i]! * v[t]![h * dv + j]!;
          o[j] += state[h]![i]![j]! * (q[t]![h * dk + i]! / Math.sqrt(dk));
        }
      }
      rmsNorm(o, normWeight).forEach((z, j) => merged.push(z * silu(g[h * dv + j]!)));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("GLA layer: values match a plain-JS reading of §3.1", () => {
  it("d=8, H=2, T=7 (random norm weight, so the shared weight's layout matters)", () => {
    const built = model.build(8, 2, 3);
    built.perturbAroundOne("g_norm_swish_gate.weight");
    built.expectMatchesReference(7, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("GLA parameters (docs/spec/MODELS.md §3.1, §7)", () => {
  it("parametersPerLayer = 8d² + 49d + 2d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 8 * d * d + 49 * d + (2 * d) / h);
  });

  it("the general formula follows the options (no short conv, no output gate, other expansions)", () => {
    model.expectParameterCountsFollow([
      { useShortConv: false },
      { useOutputGate: false },
      { expandK: 0.5, expandV: 1, gateLowRank: 8, convSize: 3 },
    ]);
  });

  it("the per-layer figure at d = 256 matches §7.2 (536,960); stateSize is H·d_k·d_v = 2d²/H; widths split into heads", () => {
    model.expectFiguresAt256({ perLayer: 536_960, stateSize: 4 * 64 * 128 });
    model.expectRejectsWidth(18, 4, /divisible by heads/);
  });
});

describe("GLA init", () => {
  it("every tensor but the RMSNorm weight (constant 1) moves with the seed; PyTorch default bounds", () => {
    // |w| ≤ 1/√fan_in (q_proj fan_in d = 16; convs fan_in K = 4).
    model.expectInit(
      { d: 16, heads: 2 },
      { constants: { "g_norm_swish_gate.weight": 1 }, bounds: { "q_proj.weight": 0.25, "q_conv1d.weight": 0.5 } },
    );
  });
});

describe("short conv impulse response (docs/spec/MODELS.md §9.5)", () => {
  it("output at t0 + j is SiLU(w[K−1−j, c]) and zero elsewhere", () => {
    const [channels, kernel, t, t0] = [5, 4, 10, 3];
    const store = new ParameterStore(8);
    const conv = new ShortConv(store.scope(), "conv", channels, kernel, { bias: false, activation: "silu" });
    const impulse = tf.tensor3d(Array.from({ length: t }, (_, i) => new Array<number>(channels).fill(i === t0 ? 1 : 0)).flat(), [
      1,
      t,
      channels,
    ]);
    const y = (conv.apply(impulse).arraySync() as number[][][])[0]!;
    const w = conv.weight.arraySync() as number[][];
    const silu = (z: number) => z / (1 + Math.exp(-z));
    for (let i = 0; i < t; i++) {
      for (let c = 0; c < channels; c++) {
        const j = i - t0;
        const expected = j >= 0 && j < kernel ? silu(w[kernel - 1 - j]![c]!) : 0;
        expect(y[i]![c]!).toBeCloseTo(expected, 6);
      }
    }
    store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts gla in the model registry", () => {
    model.expectRegistered("diagonal");
  });
});
