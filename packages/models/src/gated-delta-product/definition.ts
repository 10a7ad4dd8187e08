import type { ModelDefinition } from "@selectiv/core";
import { flaWidths } from "../shared/fla-parts.js";
import { gatedDeltaProductDefaults, gatedDeltaProductSchema, type GatedDeltaProductConfig } from "./config.js";
import { GatedDeltaProduct } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** Gated DeltaProduct (fla), docs/spec/MODELS.md §3.5. */
export const gatedDeltaProductDefinition: ModelDefinition<GatedDeltaProductConfig> = {
  id: "gated-delta-product",
  referenceNames: ["gated_delta_product", "gated_deltaproduct"],
  description:
    "Gated DeltaProduct (fla): per token a scalar decay times a product of n = 4 generalised Householders (β ∈ (0,2)); gated RMSNorm readout.",
  schema: gatedDeltaProductSchema,
  defaults: gatedDeltaProductDefaults,
  // docs/spec/MODELS.md §8, Gated DeltaProduct row.
  taxonomy: {
    transition: "householder-product",
    transitionDetail:
      "α_t Π_{j=n..1}(I − β_{t,j} k_{t,j} k_{t,j}ᵀ), n = 4, β_{t,j} = 2σ(x_t W_b) ∈ (0,2) so eigenvalues in (−1,1], α_t as in Gated DeltaNet",
    write: "Σ_j (later factors) · β_{t,j} k_{t,j} v_{t,j}ᵀ",
    readout: "q̂_t = l2(q_t)/√d_k; per-head RMSNorm ⊙ SiLU(x W_g)",
    outputGate: true,
    complementaryGating: "partial",
    channelMixing: true,
    // H · d_k · d_v with the reference's d_k = d/H, d_v = 2d/H.
    stateSize: (d, heads) => heads * (d / heads) * ((2 * d) / heads),
  },
  // docs/spec/MODELS.md §3.5: k, v and β are laid out (micro-step, head, channel) as in fla, so no reordering.
  referenceParameters: {
    module: "fla.layers.GatedDeltaProduct",
    parameters: () => ({
      ...flaProjectionsAndConvs(["q", "k", "v"]),
      ...torchLinear("b_proj"),
      ...torchLinear("a_proj"),
      ...sameLayout("A_log", "dt_bias", "o_norm.weight"),
      ...torchLinear("g_proj"),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new GatedDeltaProduct(context, config),
  // n Householder steps per token keep n times the delta rule's intermediates (measured: 840 at width 256).
  activationWidths: 900,
  // docs/spec/MODELS.md §3.5/§7.1: q (d·K) + k (d·nK) + v (d·nV) + b (d·nH) + forget gate (d·H + 2H) + g (d·V, with the output
  // gate) + o (V·d) + convs (K_conv·(K + nK + nV)) + norm (V/H).
  // (3n+5)d² + (n+1)dH + 2H + (12n+4)d + 2d/H; 17d² + 5dH + 2H + 52d + 2d/H at n = 4.
  parametersPerLayer: (d, heads, config) => {
    const n = config.householders;
    const { keyDim, valueDim, headValueDim } = flaWidths("gated-delta-product", d, heads, config);
    const projections = d * keyDim + n * d * keyDim + n * d * valueDim + n * d * heads + valueDim * d;
    const forgetGate = config.useForgetGate ? d * heads + 2 * heads : 0;
    const outputGate = config.useOutputGate ? d * valueDim : 0;
    const convs = config.useShortConv ? config.convSize * (keyDim + n * keyDim + n * valueDim) : 0;
    return projections + forgetGate + outputGate + convs + headValueDim;
  },
};
