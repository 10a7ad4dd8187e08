import type { ModelDefinition } from "@selectiv/core";
import { flaWidths } from "../shared/fla-parts.js";
import { glaDefaults, glaSchema, type GlaConfig } from "./config.js";
import { GatedLinearAttention } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** Gated Linear Attention (fla), docs/spec/MODELS.md §3.1. */
export const glaDefinition: ModelDefinition<GlaConfig> = {
  id: "gla",
  referenceNames: ["gla"],
  description: "Gated Linear Attention (fla): per-key-channel data-dependent decay α = σ(low-rank gate)^{1/16}, gated RMSNorm readout.",
  schema: glaSchema,
  defaults: glaDefaults,
  // docs/spec/MODELS.md §8, GLA row.
  taxonomy: {
    transition: "diagonal",
    transitionDetail: "Diag(α_t), α_t = σ(gk_proj(x_t))^{1/16} per key channel, low-rank (d → 16 → K) gate",
    write: "k_t v_tᵀ (k unnormalised, acts as the input gate)",
    readout: "q̂_t = q_t/√d_k; per-head RMSNorm ⊙ SiLU(x W_g)",
    outputGate: true,
    complementaryGating: false,
    channelMixing: false,
    // H · d_k · d_v with the reference's d_k = d/H, d_v = 2d/H.
    stateSize: (d, heads) => heads * (d / heads) * ((2 * d) / heads),
  },
  // docs/spec/MODELS.md §3.1; fla calls the norm g_norm when there is no output gate to fuse with.
  referenceParameters: {
    module: "fla.layers.GatedLinearAttention",
    parameters: (config) => ({
      ...flaProjectionsAndConvs(["q", "k", "v"]),
      ...torchLinear("g_proj"),
      ...torchLinear("gk_proj.0"),
      ...torchLinear("gk_proj.1", { bias: true }),
      ...sameLayout(["g_norm_swish_gate.weight", config.useOutputGate ? "g_norm_swish_gate.weight" : "g_norm.weight"]),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new GatedLinearAttention(context, config),
  // docs/spec/MODELS.md §3.1: q, k (d·K each) + v, g, o (d·V each) + gate (d·r + r·K + K) + convs (K_conv·(2K + V)) + norm
  // (V/H). 8d² + 49d + 2d/H with the reference's arguments.
  parametersPerLayer: (d, heads, config) => {
    const { keyDim, valueDim, headValueDim } = flaWidths("gla", d, heads, config);
    const projections = 2 * d * keyDim + d * valueDim + (config.useOutputGate ? d * valueDim : 0) + valueDim * d;
    const gate = d * config.gateLowRank + config.gateLowRank * keyDim + keyDim;
    const convs = config.useShortConv ? config.convSize * (2 * keyDim + valueDim) : 0;
    return projections + gate + convs + headValueDim;
  },
};
