import type { ModelDefinition } from "@selectiv/core";
import { mesaNetDefaults, mesaNetHeadDim, mesaNetSchema, type MesaNetConfig } from "./config.js";
import { MesaNet } from "./layer.js";
import { flaProjectionsAndConvs, sameLayout, torchLinear } from "../shared/reference-parameters.js";

/** MesaNet (fla `MesaNet`), docs/spec/MODELS.md §3.6. */
export const mesaNetDefinition: ModelDefinition<MesaNetConfig> = {
  id: "mesa-net",
  referenceNames: ["mesa_net"],
  description:
    "MesaNet (fla): states G = Σ decayed β k kᵀ and M = Σ decayed β k vᵀ per head, readout M_tᵀ (G_t + Diag(λ))⁻¹ q_t by 30 CG steps.",
  schema: mesaNetSchema,
  defaults: mesaNetDefaults,
  // docs/spec/MODELS.md §8, MesaNet row.
  taxonomy: {
    transition: "scalar",
    transitionDetail: "α_t = σ(a_proj(x_t)) per head, on both G and M",
    write: "β_t k_t k_tᵀ into G and β_t k_t v_tᵀ into M, β_t = σ(b_proj(x_t)); q, k L2-normalised",
    readout: "M_tᵀ q*_t, q*_t = (G_t + Diag(λ_h))⁻¹ q_t by conjugate gradient (state-dependent); per-head RMSNorm",
    outputGate: false,
    complementaryGating: false,
    channelMixing: false,
    // Two d_k × d_k states per head with d_k = d/H.
    stateSize: (d, heads) => 2 * heads * (d / heads) * (d / heads),
  },
  // docs/spec/MODELS.md §3.6: v has no conv.
  referenceParameters: {
    module: "fla.layers.MesaNet",
    parameters: () => ({
      ...flaProjectionsAndConvs(["q", "k"]),
      ...torchLinear("v_proj"),
      ...torchLinear("a_proj", { bias: true }),
      ...torchLinear("b_proj", { bias: true }),
      ...sameLayout("lambda_params", "o_norm.weight"),
      ...torchLinear("o_proj"),
    }),
  },
  createLayer: (context, config) => new MesaNet(context, config),
  // docs/spec/MODELS.md §3.6: q, k, v, o (d² each) + a_proj, b_proj (dH + H each) + λ (d) + q/k convs (K·d each) + norm
  // (d/H) = 4d² + 2dH + 2H + 9d + d/H with the reference's arguments.
  parametersPerLayer: (d, heads, config) => {
    const headDim = mesaNetHeadDim(d, heads, config);
    return 4 * d * d + 2 * (d * heads + heads) + d + 2 * config.convSize * d + headDim;
  },
};
