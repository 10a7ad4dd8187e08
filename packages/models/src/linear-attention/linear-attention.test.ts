// Linear attention (the fla skeleton with the identity transition): the model contract from
// @selectiv/core/testkit, then a long sequence (the state only grows), a plain-JS reading, the parameter figures
// and the init.
import { describe, expect, it } from "vitest";
import { RecNet } from "@selectiv/core";
import { KERNEL_CHOICES, checkChunkedMatchesStepwise, contractConfig, describeModelContract } from "@selectiv/core/testkit";
import { modelTests, plain } from "../shared/test-helpers.js";
import { linearAttentionDefaults, type LinearAttentionConfig } from "./config.js";
import { linearAttentionDefinition } from "./definition.js";
import type { LinearAttention } from "./layer.js";

const model = modelTests<LinearAttentionConfig, LinearAttention>(linearAttentionDefinition);

describeModelContract(linearAttentionDefinition, {
  describe,
  it,
  variants: {
    "chunk 16": { chunkSize: 16 },
    "no short convs, chunk 8": { useShortConv: false, chunkSize: 8 },
  },
});

describe("linear attention layer: chunked form ≡ stepwise oracle on a long sequence", () => {
  it("T = 70, H = 4 (nothing decays, the state only grows) with chunk 16 and the default chunk 64", () => {
    for (const chunkSize of [16, 64]) {
      for (const kernels of KERNEL_CHOICES) {
        const config = contractConfig(linearAttentionDefinition, { chunkSize });
        checkChunkedMatchesStepwise(linearAttentionDefinition, { config, length: 70, kernels, size: { dModel: 16, heads: 4 } });
      }
    }
  });
});

/**
 * An independent plain-JS reading of the layer for B = 1: projections, causal depthwise conv + SiLU, q̂ = q/√d_k,
 * S_t = S_{t−1} + k_t v_tᵀ, o_t = S_tᵀq̂_t, RMSNorm per head ⊙ w (shared by heads), o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, rmsNorm, convPaths, zeroStates } = plain;
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const [q, k, v] = convPaths(p, xs, { q: K, k: K, v: V });
  const normWeight = p("o_norm.weight");
  const state = zeroStates(heads, dk, dv);
  return xs.map((_, t) => {
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const o = new Array<number>(dv).fill(0);
      for (let i = 0; i < dk; i++) {
        for (let j = 0; j < dv; j++) {
          state[h]![i]![j] = state[h]![i]![j]! + k[t]![h * dk + i]! * v[t]![h * dv + j]!;
          o[j] += state[h]![i]![j]! * (q[t]![h * dk + i]! / Math.sqrt(dk));
        }
      }
      merged.push(...rmsNorm(o, normWeight));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("linear attention layer: values match a plain-JS reading", () => {
  it("d=8, H=2, T=9, chunk 4 (random norm weight, so the shared weight's layout matters)", () => {
    const built = model.build(8, 2, 3, { chunkSize: 4 });
    built.perturbAroundOne("o_norm.weight");
    built.expectMatchesReference(9, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("linear attention parameters (closed form 6d² + 16d + 2d/H; no §7.1 row)", () => {
  it("parametersPerLayer = 6d² + 16d + 2d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 6 * d * d + 16 * d + (2 * d) / h);
  });

  it("at d = 256: 397,440 per layer; RecNet total 3,605,825", () => {
    expect(linearAttentionDefinition.parametersPerLayer(256, 4, linearAttentionDefaults)).toBe(397_440);
    const net = new RecNet(
      linearAttentionDefinition,
      linearAttentionDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    // §7.2: shared overhead 426,305 (encoder, 8 LayerNorms, decoder) + 8 layers.
    expect(net.parameterCount).toBe(426_305 + 8 * 397_440);
    expect(net.parameterCount).toBe(3_605_825);
    net.dispose();
  });

  it("the general formula follows the options (no short conv, other expansions)", () => {
    model.expectParameterCountsFollow([{ useShortConv: false }, { expandK: 0.5, expandV: 1, convSize: 3 }]);
  });

  it("stateSize is H·d_k·d_v = 2d²/H; widths must split into heads", () => {
    expect(linearAttentionDefinition.taxonomy.stateSize(256, 4)).toBe(4 * 64 * 128);
    expect(() => model.build(18, 4, 1)).toThrow(/linear-attention: key width d·expandK = 18 must be an integer divisible by heads = 4/);
  });
});

describe("linear attention init", () => {
  it("every tensor but the RMSNorm weight (constant 1) moves with the seed; PyTorch default bounds", () => {
    // |w| ≤ 1/√fan_in (fan_in d = 16 for the projections; K = 4 for the convs).
    model.expectInit({ d: 16, heads: 2 }, { constants: { "o_norm.weight": 1 }, bounds: { "k_proj.weight": 0.25, "v_conv1d.weight": 0.5 } });
  });
});

describe("registration", () => {
  it("registerModels puts linear-attention in the model registry", () => {
    model.expectRegistered("identity");
  });
});
