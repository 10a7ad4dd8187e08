import type { ModelDefinition } from "@selectiv/core";
import { flaWidths } from "../shared/fla-parts.js";
import { retNetDefaults, retNetSchema, type RetNetConfig } from "./config.js";
import { MultiScaleRetention } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** RetNet (fla MultiScaleRetention), docs/spec/MODELS.md §3.2. */
export const retNetDefinition: ModelDefinition<RetNetConfig> = {
  id: "retnet",
  referenceNames: ["retnet"],
  description: "RetNet (fla MultiScaleRetention): fixed per-head decay γ_h = 1 − 2^{−5−h}, RoPE on q and k, gated RMSNorm readout.",
  schema: retNetSchema,
  defaults: retNetDefaults,
  // docs/spec/MODELS.md §8, RetNet row.
  taxonomy: {
    transition: "constant-scalar",
    transitionDetail: "γ_h I per head, γ_h = 1 − 2^{−5−h} fixed (neither learned nor data-dependent)",
    write: "k_t v_tᵀ (no input gate)",
    readout: "q̂_t = RoPE(q_t)/√d_k (k with RoPE too); per-head RMSNorm ⊙ SiLU(x W_g)",
    outputGate: true,
    complementaryGating: false,
    channelMixing: false,
    // H · d_k · d_v with the reference's d_k = d/H, d_v = 2d/H.
    stateSize: (d, heads) => heads * (d / heads) * ((2 * d) / heads),
  },
  // docs/spec/MODELS.md §3.2; fla calls the norm g_norm when there is no output gate to fuse with. Its rotary buffer
  // is not persistent, so not in the state_dict.
  referenceParameters: {
    module: "fla.layers.MultiScaleRetention",
    parameters: (config) => ({
      ...flaProjectionsAndConvs(["q", "k", "v"]),
      ...torchLinear("g_proj"),
      ...sameLayout(["g_norm_swish_gate.weight", config.useOutputGate ? "g_norm_swish_gate.weight" : "g_norm.weight"]),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new MultiScaleRetention(context, config),
  // docs/spec/MODELS.md §3.2/§7.1: q, k (d·K each) + v, g, o (d·V each) + convs (K_conv·(2K + V)) + norm (V/H).
  // 8d² + 16d + 2d/H with the reference's arguments.
  parametersPerLayer: (d, heads, config) => {
    const { keyDim, valueDim, headValueDim } = flaWidths("retnet", d, heads, config);
    const projections = 2 * d * keyDim + d * valueDim + (config.useOutputGate ? d * valueDim : 0) + valueDim * d;
    const convs = config.useShortConv ? config.convSize * (2 * keyDim + valueDim) : 0;
    return projections + convs + headValueDim;
  },
};
