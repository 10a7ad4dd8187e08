import type { ModelDefinition } from "@selectiv/core";
import { flaWidths } from "../shared/fla-parts.js";
import { gatedDeltaNetDefaults, gatedDeltaNetSchema, type GatedDeltaNetConfig } from "./config.js";
import { GatedDeltaNet } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** Gated DeltaNet (fla), docs/spec/MODELS.md §3.4. */
export const gatedDeltaNetDefinition: ModelDefinition<GatedDeltaNetConfig> = {
  id: "gated-delta-net",
  referenceNames: ["gated_delta_net"],
  description:
    "Gated DeltaNet (fla): S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ with a Mamba2-style scalar decay per head; gated RMSNorm readout.",
  schema: gatedDeltaNetSchema,
  defaults: gatedDeltaNetDefaults,
  // docs/spec/MODELS.md §8, Gated DeltaNet row.
  taxonomy: {
    transition: "gated-householder",
    transitionDetail: "α_t (I − β_t k_t k_tᵀ), α_t = exp(−exp(A_log)·softplus(x_t W_a + dt_bias)) and β_t = σ(x_t W_b) per head",
    write: "β_t k_t v_tᵀ",
    readout: "q̂_t = l2(q_t)/√d_k; per-head RMSNorm ⊙ SiLU(x W_g)",
    outputGate: true,
    complementaryGating: "partial",
    channelMixing: true,
    // H · d_k · d_v with the reference's d_k = d/H, d_v = 2d/H.
    stateSize: (d, heads) => heads * (d / heads) * ((2 * d) / heads),
  },
  // docs/spec/MODELS.md §3.4.
  referenceParameters: {
    module: "fla.layers.GatedDeltaNet",
    parameters: () => ({
      ...flaProjectionsAndConvs(["q", "k", "v"]),
      ...torchLinear("a_proj"),
      ...sameLayout("A_log", "dt_bias", "o_norm.weight"),
      ...torchLinear("b_proj"),
      ...torchLinear("g_proj"),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new GatedDeltaNet(context, config),
  // docs/spec/MODELS.md §3.4/§7.1: q, k (d·K each) + v (d·V) + a, b (d·H each) + A_log, dt_bias (H each) + g (d·V, with the
  // output gate) + o (V·d) + convs (K_conv·(2K + V)) + norm (V/H). 8d² + 2dH + 2H + 16d + 2d/H with the reference's
  // arguments.
  parametersPerLayer: (d, heads, config) => {
    const { keyDim, valueDim, headValueDim } = flaWidths("gated-delta-net", d, heads, config);
    const projections = 2 * d * keyDim + d * valueDim + valueDim * d;
    const gates = 2 * d * heads + 2 * heads;
    const outputGate = config.useOutputGate ? d * valueDim : 0;
    const convs = config.useShortConv ? config.convSize * (2 * keyDim + valueDim) : 0;
    return projections + gates + outputGate + convs + headValueDim;
  },
};
