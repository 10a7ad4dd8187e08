// RetNet (docs/spec/MODELS.md §3.2): the model contract from @selectiv/core/testkit, then what is particular to RetNet: a long
// sequence with the slowest decays, a plain-JS reading with RoPE, the fixed decays, the §7 figures and the init.
import { describe, expect, it } from "vitest";
import { tf } from "@selectiv/core";
import { KERNEL_CHOICES, checkChunkedMatchesStepwise, contractConfig, describeModelContract } from "@selectiv/core/testkit";
import { modelTests, plain } from "../shared/test-helpers.js";
import { retentionLogDecays, type RetNetConfig } from "./config.js";
import { retNetDefinition } from "./definition.js";
import type { MultiScaleRetention } from "./layer.js";

const model = modelTests<RetNetConfig, MultiScaleRetention>(retNetDefinition);

// Streaming ≡ forward also checks that the RoPE position in the state advances by one per step.
describeModelContract(retNetDefinition, {
  describe,
  it,
  variants: {
    "chunk 16": { chunkSize: 16 },
    "no short convs, no output gate, chunk 8": { useShortConv: false, useOutputGate: false, chunkSize: 8 },
  },
});

describe("RetNet layer (docs/spec/MODELS.md §3.2): chunked form ≡ stepwise oracle on a long sequence", () => {
  it("T = 70 with chunk 16 and with the default chunk 64, H = 4 (γ up to 0.996)", () => {
    for (const chunkSize of [16, 64]) {
      for (const kernels of KERNEL_CHOICES) {
        const config = contractConfig(retNetDefinition, { chunkSize });
        checkChunkedMatchesStepwise(retNetDefinition, { config, length: 70, kernels, size: { dModel: 16, heads: 4 } });
      }
    }
  });
});

/**
 * An independent plain-JS reading of §3.2 for B = 1, from the parameter values: projections, causal depthwise
 * conv + SiLU, RoPE on q and k (fla: x¹cosθ − x²sinθ ‖ x²cosθ + x¹sinθ, θ = t·10000^{−2j/d_k}), q̂ = q/√d_k,
 * S_t = γ_h S_{t−1} + k_t v_tᵀ with γ_h = 1 − 2^{−5−h}, o_t = S_tᵀq̂_t, RMSNorm per head ⊙ w ⊙ SiLU(x W_g), o_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, silu, rmsNorm, convPaths, zeroStates } = plain;
  const [K, V] = [d, 2 * d];
  const [dk, dv] = [K / heads, V / heads];
  const rope = (u: number[], t: number) => {
    const half = dk / 2;
    const out = new Array<number>(dk);
    for (let j = 0; j < half; j++) {
      const theta = t * Math.pow(10000, (-2 * j) / dk);
      out[j] = u[j]! * Math.cos(theta) - u[j + half]! * Math.sin(theta);
      out[j + half] = u[j + half]! * Math.cos(theta) + u[j]! * Math.sin(theta);
    }
    return out;
  };
  const [q, k, v] = convPaths(p, xs, { q: K, k: K, v: V });
  const normWeight = p("g_norm_swish_gate.weight");
  const state = zeroStates(heads, dk, dv);
  return xs.map((x, t) => {
    const g = linear(x, p("g_proj.weight"), V);
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const gamma = 1 - Math.pow(2, -5 - h);
      const qh = rope(q[t]!.slice(h * dk, (h + 1) * dk), t);
      const kh = rope(k[t]!.slice(h * dk, (h + 1) * dk), t);
      const o = new Array<number>(dv).fill(0);
      for (let i = 0; i < dk; i++) {
        for (let j = 0; j < dv; j++) {
          state[h]![i]![j] = gamma * state[h]![i]![j]! + kh[i]! * v[t]![h * dv + j]!;
          o[j] += state[h]![i]![j]! * (qh[i]! / Math.sqrt(dk));
        }
      }
      rmsNorm(o, normWeight).forEach((z, j) => merged.push(z * silu(g[h * dv + j]!)));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("RetNet layer: values match a plain-JS reading of §3.2", () => {
  it("d=8, H=2, T=9, chunk 4 (random norm weight, so the shared weight's layout matters)", () => {
    const built = model.build(8, 2, 3, { chunkSize: 4 });
    built.perturbAroundOne("g_norm_swish_gate.weight");
    // Larger q/k weights make the rotation matter more against the decay.
    for (const name of ["q_proj.weight", "k_proj.weight"]) {
      const w = built.param(name);
      w.assign(tf.mul(w, 4));
    }
    built.expectMatchesReference(9, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("RetNet decays and RoPE settings (docs/spec/MODELS.md §3.2)", () => {
  it("γ_h = 1 − 2^{−5−h}: 0.96875, 0.984375, 0.9921875, 0.99609375 at H = 4", () => {
    expect(Array.from(retentionLogDecays(4)).map((l) => Math.fround(Math.exp(l)))).toEqual([0.96875, 0.984375, 0.9921875, 0.99609375]);
  });

  it("rejects an odd head key dim (RoPE over the whole head dim)", () => {
    expect(() => model.build(12, 4, 1)).toThrow(/retnet: RoPE needs an even head dim; got 3/);
  });
});

describe("RetNet parameters (docs/spec/MODELS.md §3.2, §7)", () => {
  it("parametersPerLayer = 8d² + 16d + 2d/H = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 8 * d * d + 16 * d + (2 * d) / h);
  });

  it("the general formula follows the options (no short conv, no output gate, other expansions)", () => {
    model.expectParameterCountsFollow([{ useShortConv: false }, { useOutputGate: false }, { expandK: 0.5, expandV: 1, convSize: 3 }]);
  });

  it("the per-layer figure at d = 256 matches §7.2 (528,512); stateSize is H·d_k·d_v = 2d²/H; widths split into heads", () => {
    model.expectFiguresAt256({ perLayer: 528_512, stateSize: 4 * 64 * 128 });
    model.expectRejectsWidth(18, 4, /divisible by heads/);
  });
});

describe("RetNet init", () => {
  it("every tensor but the RMSNorm weight (constant 1) moves with the seed; PyTorch default bounds", () => {
    // |w| ≤ 1/√fan_in: q_proj fan_in d = 16, o_proj fan_in 2d = 32, convs fan_in K = 4.
    model.expectInit(
      { d: 16, heads: 2 },
      {
        constants: { "g_norm_swish_gate.weight": 1 },
        bounds: { "q_proj.weight": 0.25, "o_proj.weight": 1 / Math.sqrt(32), "q_conv1d.weight": 0.5 },
      },
    );
  });
});

describe("registration", () => {
  it("registerModels puts retnet in the model registry", () => {
    model.expectRegistered("constant-scalar");
  });
});
