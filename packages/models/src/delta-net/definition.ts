import type { ModelDefinition } from "@selectiv/core";
import { flaWidths } from "../shared/fla-parts.js";
import { deltaNetDefaults, deltaNetSchema, type DeltaNetConfig } from "./config.js";
import { DeltaNet } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** DeltaNet (fla), docs/spec/MODELS.md §3.3. */
export const deltaNetDefinition: ModelDefinition<DeltaNetConfig> = {
  id: "delta-net",
  referenceNames: ["delta_net"],
  description: "DeltaNet (fla): delta rule S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ with L2-normed q, k; RMSNorm readout.",
  schema: deltaNetSchema,
  defaults: deltaNetDefaults,
  // docs/spec/MODELS.md §8, DeltaNet row.
  taxonomy: {
    transition: "householder",
    transitionDetail: "I − β_t k_t k_tᵀ (generalised Householder), β_t = σ(x_t W_b) ∈ (0,1) per head, eigenvalues in (0,1]",
    write: "β_t k_t v_tᵀ",
    readout: "q̂_t = l2(q_t)/√d_k; per-head RMSNorm, no output gate",
    outputGate: false,
    complementaryGating: "partial",
    channelMixing: true,
    // H · d_k · d_v with the reference's d_k = d/H, d_v = 2d/H.
    stateSize: (d, heads) => heads * (d / heads) * ((2 * d) / heads),
  },
  // docs/spec/MODELS.md §3.3.
  referenceParameters: {
    module: "fla.layers.DeltaNet",
    parameters: () => ({
      ...flaProjectionsAndConvs(["q", "k", "v"]),
      ...torchLinear("b_proj"),
      ...torchLinear("g_proj"),
      ...sameLayout("o_norm.weight"),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new DeltaNet(context, config),
  // docs/spec/MODELS.md §3.3/§7.1: q, k (d·K each) + v (d·V) + b (d·H) + g (d·V, with the output gate) + o (V·d) + convs
  // (K_conv·(2K + V)) + norm (V/H). 6d² + dH + 16d + 2d/H with the reference's arguments.
  parametersPerLayer: (d, heads, config) => {
    const { keyDim, valueDim, headValueDim } = flaWidths("delta-net", d, heads, config);
    const projections = 2 * d * keyDim + d * valueDim + valueDim * d;
    const beta = config.useBeta ? d * heads : 0;
    const gate = config.useOutputGate ? d * valueDim : 0;
    const convs = config.useShortConv ? config.convSize * (2 * keyDim + valueDim) : 0;
    return projections + beta + gate + convs + headValueDim;
  },
};
