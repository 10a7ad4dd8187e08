import type { ModelDefinition } from "@selectiv/core";
import { transformerDefaults, transformerHeadDim, transformerSchema, transformerTrainingWidth, type TransformerConfig } from "./config.js";
import { TransformerDecoderLayer } from "./layer.js";
import { sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** The reference's Transformer decoder layer, docs/spec/MODELS.md §5.1. */
export const transformerDefinition: ModelDefinition<TransformerConfig> = {
  id: "transformer",
  referenceNames: ["transformer"],
  referenceArguments: { rope_base: "ropeBase" },
  // train.py trains feat_size 648 at 768 and 1296 at 1280 (docs/spec/MODELS.md §5.1).
  referenceSettings: { referenceWidths: true },
  description:
    "Transformer decoder layer (reference): q/k RMSNorm + RoPE (base 1000), causal softmax attention, normed attention branch, SwiGLU FFN.",
  schema: transformerSchema,
  defaults: transformerDefaults,
  // docs/spec/MODELS.md §8, Transformer row.
  taxonomy: {
    transition: "none",
    transitionDetail: "none: no recurrence, the KV cache grows with T",
    write: "append (k_t, v_t) to the KV cache",
    readout: "softmax(q_t Kᵀ/√D_h) V over the cache (q, k RMSNormed and rotated)",
    outputGate: false,
    complementaryGating: false,
    channelMixing: false,
    // Not constant: the KV cache holds 2d floats (k and v of every head) per token seen; this is that per-token size.
    stateSize: (d) => 2 * d,
  },
  // docs/spec/MODELS.md §5.1. The reference's Rotary keeps inv_freq = base^(−2j/D_h) as a persistent buffer.
  referenceParameters: {
    module: "TransformerDecoderLayer (the reference's models/ssm_models.py)",
    parameters: () => ({
      ...torchLinear("q_proj", { bias: true }),
      ...torchLinear("k_proj", { bias: true }),
      ...torchLinear("v_proj", { bias: true }),
      ...torchLinear("out_proj", { bias: true }),
      ...sameLayout("q_norm.weight", "k_norm.weight", "out_norm.weight", ["beta_swish", "beta"]),
      ...torchLinear("linear1", { bias: true }),
      ...torchLinear("linear2", { bias: true }),
    }),
    buffers: (dModel, heads, config) => {
      const headDim = dModel / heads;
      const values = Float32Array.from({ length: Math.floor(headDim / 2) }, (_, j) => Math.pow(1 / config.ropeBase, (2 * j) / headDim));
      return { "rotary.inv_freq": { shape: [values.length], values } };
    },
  },
  createLayer: (context, config) => new TransformerDecoderLayer(context, config),
  trainingWidth: transformerTrainingWidth,
  // docs/spec/MODELS.md §5.1/§7.1 with F = ffnExpand: q, k, v, out (d² + d each) + q/k norms (2D_h) + out_norm (d) +
  // linear1 (2Fd² + 2Fd) + linear2 (Fd² + d) + β (1). 16d² + 14d + 2d/H + 1 with F = 4.
  parametersPerLayer: (d, heads, config) => {
    const headDim = transformerHeadDim(d, heads);
    const ffn = config.ffnExpand * d;
    return 4 * (d * d + d) + 2 * headDim + d + (d * 2 * ffn + 2 * ffn) + (ffn * d + d) + 1;
  },
};
