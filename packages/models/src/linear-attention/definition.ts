import type { ModelDefinition } from "@selectiv/core";
import { flaWidths } from "../shared/fla-parts.js";
import { linearAttentionDefaults, linearAttentionSchema, type LinearAttentionConfig } from "./config.js";
import { LinearAttention } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** Plain linear attention (identity transition) in the fla skeleton of docs/spec/MODELS.md §3. */
export const linearAttentionDefinition: ModelDefinition<LinearAttentionConfig> = {
  id: "linear-attention",
  description: "Linear attention: S_t = S_{t−1} + k_t v_tᵀ (no decay), fla skeleton with short convs, q/√d_k, per-head RMSNorm.",
  schema: linearAttentionSchema,
  defaults: linearAttentionDefaults,
  // In the terms of docs/spec/MODELS.md §8: the identity transition, so nothing is ever forgotten.
  taxonomy: {
    transition: "identity",
    transitionDetail: "I (no decay): S_t = S_{t−1} + k_t v_tᵀ",
    write: "k_t v_tᵀ (no input gate)",
    readout: "q̂_t = q_t/√d_k; per-head RMSNorm, no output gate",
    outputGate: false,
    complementaryGating: false,
    channelMixing: false,
    // H · d_k · d_v with d_k = d/H, d_v = 2d/H.
    stateSize: (d, heads) => heads * (d / heads) * ((2 * d) / heads),
  },
  // docs/spec/MODELS.md §3.7. fla's LinearAttention (feature_map="identity", expand_k=1, expand_v=2) calls the output
  // norm `norm` and has no short convs: the q/k/v convs keep the names fla's other layers give them (docs/WEIGHTS.md).
  referenceParameters: {
    module: "fla.layers.LinearAttention",
    parameters: () => ({
      ...flaProjectionsAndConvs(["q", "k", "v"]),
      ...sameLayout(["o_norm.weight", "norm.weight"]),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new LinearAttention(context, config),
  // No §7.1 row; the closed form of the same count: q, k (d·K each) + v, o (d·V each) + convs (K_conv·(2K + V)) +
  // norm (V/H). With K = d, V = 2d, K_conv = 4: 6d² + 16d + 2d/H (at d = 256, H = 4: 397,440).
  parametersPerLayer: (d, heads, config) => {
    const { keyDim, valueDim, headValueDim } = flaWidths("linear-attention", d, heads, config);
    const projections = 2 * d * keyDim + d * valueDim + valueDim * d;
    const convs = config.useShortConv ? config.convSize * (2 * keyDim + valueDim) : 0;
    return projections + convs + headValueDim;
  },
};
