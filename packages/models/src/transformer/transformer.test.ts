// Transformer (docs/spec/MODELS.md §5.1): the contract checks of @selectiv/core/testkit called one by one — the KV cache grows
// with every step, so the kit's streaming case (a state of constant shape) is replaced by the cache test below —
// then a plain-JS reading of §5.1, dropout, the §7 figures and the init.
import { describe, expect, it } from "vitest";
import { Rng, headsForWidth, initBackend, tf } from "@selectiv/core";
import {
  CONTRACT_LENGTHS,
  KERNEL_CHOICES,
  checkChunkedMatchesStepwise,
  checkSchemaRejectsBadValues,
  checkSeedDeterminism,
  checkTaxonomy,
  contractConfig,
} from "@selectiv/core/testkit";
import { VALUE_TOLERANCE, modelTests, plain, randomTensor, relativeDiff } from "../shared/test-helpers.js";
import { transformerDefaults, type TransformerConfig } from "./config.js";
import { transformerDefinition } from "./definition.js";
import type { TransformerDecoderLayer } from "./layer.js";

const model = modelTests<TransformerConfig, TransformerDecoderLayer>(transformerDefinition);

describe("model contract: transformer (query-blocked attention ≡ KV-cache oracle)", () => {
  it("taxonomy, schema, seed determinism", async () => {
    await initBackend("cpu");
    checkTaxonomy(transformerDefinition);
    checkSchemaRejectsBadValues(transformerDefinition);
    checkSeedDeterminism(transformerDefinition, { config: contractConfig(transformerDefinition) });
  });

  for (const length of CONTRACT_LENGTHS) {
    it(`T=${length}, query block 16: outputs and gradients (all parameters, β included, and the input) agree`, async () => {
      await initBackend("cpu");
      const config = contractConfig(transformerDefinition, { queryBlock: 16 });
      for (const kernels of KERNEL_CHOICES) checkChunkedMatchesStepwise(transformerDefinition, { config, length, kernels });
    });
  }

  it("other query blocks (7, and the default 256 as one block) agree too, T = 20, H = 4", async () => {
    await initBackend("cpu");
    for (const queryBlock of [7, 256]) {
      const config = contractConfig(transformerDefinition, { queryBlock });
      checkChunkedMatchesStepwise(transformerDefinition, { config, length: 20, kernels: "fused", size: { dModel: 16, heads: 4 } });
    }
  });
});

describe("Transformer layer: streaming with the KV cache", () => {
  it("initialState + step for every t equals forward; the cache grows by one token per step (so the kit's constant-state check does not apply)", () => {
    const [d, heads, b, t] = [16, 2, 3, 21];
    const built = model.build(d, heads, 42, { queryBlock: 8 });
    const x = randomTensor(new Rng(43), [b, t, d]) as tf.Tensor3D;
    expect(built.layer.initialState(b).map((s) => s.shape)).toEqual([
      [b, heads, 0, d / heads],
      [b, heads, 0, d / heads],
    ]);
    const full = built.layer.forward(x, { training: false });
    const { output: streamed, state } = built.stream(x);
    expect(streamed.shape).toEqual(full.shape);
    expect(relativeDiff(streamed, full)).toBeLessThan(VALUE_TOLERANCE);
    expect(state.map((s) => s.shape)).toEqual([
      [b, heads, t, d / heads],
      [b, heads, t, d / heads],
    ]);
    built.dispose();
  });

  it("the feed-forward dropout acts only in training, with a mask fixed by the seed", () => {
    const built = model.build(16, 2, 5, {}, 0.5);
    const x = randomTensor(new Rng(6), [2, 9, 16]) as tf.Tensor3D;
    const infer = Array.from(built.layer.forward(x, { training: false }).dataSync());
    const train = Array.from(built.layer.forward(x, { training: true, dropoutSeed: 3 }).dataSync());
    expect(Array.from(built.layer.forward(x, { training: true, dropoutSeed: 3 }).dataSync())).toEqual(train);
    expect(train).not.toEqual(infer);
    expect(Array.from(built.layer.forward(x, { training: true, dropoutSeed: 4 }).dataSync())).not.toEqual(train);
    expect(Array.from(model.build(16, 2, 5).layer.forward(x, { training: true, dropoutSeed: 3 }).dataSync())).toEqual(infer);
    // dropout: false (train.dropoutUntil=first-eval after the first evaluation, docs/spec/TASKS.md §5.1): none.
    expect(Array.from(built.layer.forward(x, { training: true, dropoutSeed: 3, dropout: false }).dataSync())).toEqual(infer);
    built.dispose();
  });
});

/**
 * An independent plain-JS reading of §5.1 for B = 1, from the parameter values: q, k, v = xW + b per head;
 * RMSNorm_ref(u) = u / (‖u‖/√D + 1e-8) ⊙ w on q, k; RoPE by −θ (x¹cosθ + x²sinθ ‖ −x¹sinθ + x²cosθ,
 * θ = t·1000^{−2j/D_h}); causal softmax(q·k/√D_h); x₁ = x + RMSNorm_ref(a W_out + b_out);
 * x₂ = x₁ + ((f₁ σ(β f₁)) f₂) W₂ + b₂ with [f₁, f₂] = x₁ W₁ + b₁.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number): number[][] {
  const { linear, sigmoid: sig } = plain;
  const dh = d / heads;
  const ffn = 4 * d;
  const refNorm = (u: number[], w: number[]) => {
    const rms = Math.sqrt(u.reduce((s, z) => s + z * z, 0) / u.length);
    return u.map((z, i) => (z / (rms + 1e-8)) * w[i]!);
  };
  const rope = (u: number[], t: number) => {
    const half = dh / 2;
    const out = new Array<number>(dh);
    for (let j = 0; j < half; j++) {
      const theta = t * Math.pow(1000, (-2 * j) / dh);
      out[j] = u[j]! * Math.cos(theta) + u[j + half]! * Math.sin(theta);
      out[j + half] = -u[j]! * Math.sin(theta) + u[j + half]! * Math.cos(theta);
    }
    return out;
  };
  const perHead = (u: number[]) => Array.from({ length: heads }, (_, h) => u.slice(h * dh, (h + 1) * dh));
  const qs = xs.map((x, t) =>
    perHead(linear(x, p("q_proj.weight"), d, p("q_proj.bias"))).map((u) => rope(refNorm(u, p("q_norm.weight")), t)),
  );
  const ks = xs.map((x, t) =>
    perHead(linear(x, p("k_proj.weight"), d, p("k_proj.bias"))).map((u) => rope(refNorm(u, p("k_norm.weight")), t)),
  );
  const vs = xs.map((x) => perHead(linear(x, p("v_proj.weight"), d, p("v_proj.bias"))));
  const beta = p("beta_swish")[0]!;
  return xs.map((x, t) => {
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const scores = Array.from({ length: t + 1 }, (_, s) => qs[t]![h]!.reduce((a, qi, i) => a + qi * ks[s]![h]![i]!, 0) / Math.sqrt(dh));
      const top = Math.max(...scores);
      const weights = scores.map((z) => Math.exp(z - top));
      const total = weights.reduce((a, z) => a + z, 0);
      for (let i = 0; i < dh; i++) merged.push(weights.reduce((a, w, s) => a + (w / total) * vs[s]![h]![i]!, 0));
    }
    const branch = refNorm(linear(merged, p("out_proj.weight"), d, p("out_proj.bias")), p("out_norm.weight"));
    const x1 = x.map((xi, i) => xi + branch[i]!);
    const hidden = linear(x1, p("linear1.weight"), 2 * ffn, p("linear1.bias"));
    const f = Array.from({ length: ffn }, (_, i) => hidden[i]! * sig(beta * hidden[i]!) * hidden[ffn + i]!);
    const out = linear(f, p("linear2.weight"), d, p("linear2.bias"));
    return x1.map((z, i) => z + out[i]!);
  });
}

describe("Transformer layer: values match a plain-JS reading of §5.1", () => {
  it("d=8, H=2, T=9, query block 4 (random norm weights and β, so layouts matter)", () => {
    const built = model.build(8, 2, 3, { queryBlock: 4 });
    ["q_norm.weight", "k_norm.weight", "out_norm.weight"].forEach((name, i) => built.perturbAroundOne(name, 4 + i));
    built.param("beta_swish").assign(tf.tensor1d([0.7]));
    // Larger q/k weights sharpen the softmax, so the rotation and masking matter more.
    for (const name of ["q_norm.weight", "k_norm.weight"]) {
      const w = built.param(name);
      w.assign(tf.mul(w, 2));
    }
    built.expectMatchesReference(9, (xs) => referenceForward(built.values, xs, 8, 2));
    built.dispose();
  });
});

describe("Transformer parameters (docs/spec/MODELS.md §5.1, §7)", () => {
  it("parametersPerLayer = 16d² + 14d + 2d/H + 1 = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d, h) => 16 * d * d + 14 * d + (2 * d) / h + 1);
  });

  it("the per-layer figure at d = 256 matches §7.2 (1,052,289)", () => {
    expect(transformerDefinition.parametersPerLayer(256, 4, transformerDefaults)).toBe(1_052_289);
  });

  it("the general formula follows ffnExpand", () => {
    model.expectParameterCountsFollow([{ ffnExpand: 2 }]);
  });

  it("rejects odd or fractional head dims with a one-line error naming d and H", () => {
    expect(() => model.build(12, 4, 1)).toThrow(/^transformer: head dim d\/H = 12\/4 = 3 must be an even integer for RoPE$/);
    expect(() => model.build(18, 4, 1)).toThrow(/transformer: head dim d\/H = 18\/4 = 4.5 must be an even integer/);
    expect(() => transformerDefinition.parametersPerLayer(1296, 16, transformerDefaults)).toThrow(
      /1296\/16 = 81 must be an even integer for RoPE; set transformer\.referenceWidths=true to train it at 1280 as the reference does$/,
    );
  });
});

describe("transformer.referenceWidths (docs/spec/MODELS.md §5.1: train.py's rewrite of feat_size)", () => {
  const width = (d: number, referenceWidths: boolean) =>
    transformerDefinition.trainingWidth!(d, { ...transformerDefaults, referenceWidths });

  it("trains 648 at 768 and 1296 at 1280 when on; every width as asked when off (the default)", () => {
    expect(transformerDefaults.referenceWidths).toBe(false);
    const sweep = [256, 384, 512, 648, 768, 960, 1024, 1152, 1296];
    expect(sweep.map((d) => width(d, true))).toEqual([256, 384, 512, 768, 768, 960, 1024, 1152, 1280]);
    expect(sweep.map((d) => width(d, false))).toEqual(sweep);
  });

  it("keeps the heads train.py chose from the width asked for (8 for 648, 16 for 1296), and their head dims are even", () => {
    // train.py sets n_head = get_num_heads(feat_size) before it rewrites feat_size; the rule gives the same at 768 / 1280.
    for (const [asked, trained] of [
      [648, 768],
      [1296, 1280],
    ] as const) {
      expect(headsForWidth(trained)).toBe(headsForWidth(asked));
      expect(() => transformerDefinition.parametersPerLayer(trained, headsForWidth(trained), transformerDefaults)).not.toThrow();
    }
  });
});

describe("Transformer init is deterministic from the seed", () => {
  it("random inits move with the seed; norms and β start at 1; PyTorch default bounds", () => {
    // Everything random moves with the seed; the three norm weights and β (constants 1) do not. Weights and biases
    // ~ U(±1/√fan_in): fan_in d = 16 for q/k/v/out/linear1, 4d = 64 for linear2.
    const constants = { "q_norm.weight": 1, "k_norm.weight": 1, "out_norm.weight": 1, beta_swish: 1 };
    const bounds = Object.fromEntries(
      ["q_proj.weight", "q_proj.bias", "out_proj.bias", "linear1.weight", "linear1.bias"].map((n) => [n, 0.25]),
    );
    model.expectInit({ d: 16, heads: 2 }, { constants, bounds: { ...bounds, "linear2.weight": 1 / 8, "linear2.bias": 1 / 8 } });
  });
});

describe("registration", () => {
  it("registerModels puts transformer in the model registry", () => {
    model.expectRegistered("none");
  });
});
