import type { ModelDefinition } from "@selectiv/core";
import { mambaDefaults, mambaSchema, mambaWidths, type MambaConfig } from "./config.js";
import { Mamba } from "./layer.js";
import { sameLayout, torchDepthwiseConv, torchLinear } from "../shared/reference-parameters.js";

/** Mamba-1 (mamba_ssm `mamba_simple.Mamba`), docs/spec/MODELS.md §4.1. */
export const mambaDefinition: ModelDefinition<MambaConfig> = {
  id: "mamba",
  referenceNames: ["mamba"],
  referenceArguments: { d_state: "dState", dt_rank: "dtRank" },
  description:
    "Mamba-1 (mamba_ssm): selective SSM with a decay exp(Δ_t[e]·A[e,n]) per channel and state index, D skip, SiLU(z) output gate.",
  schema: mambaSchema,
  defaults: mambaDefaults,
  // A small state keeps the quick preset within minutes on a CPU (the scan costs B·T·E·N per layer).
  presets: { smoke: { dState: 16 }, quick: { dState: 16 } },
  // docs/spec/MODELS.md §8, Mamba row.
  taxonomy: {
    transition: "diagonal",
    transitionDetail: "exp(Δ_t[e]·A[e,n]) per (channel, state index), Δ_t = softplus(dt_proj(x_proj(x_t))), A = −exp(A_log)",
    write: "Δ_t[e] B_t x_t[e] (B_t ∈ ℝ^N shared by all channels)",
    readout: "C_t · h_t[e] + D[e] x_t[e]; ⊙ SiLU(z)",
    outputGate: true,
    complementaryGating: true,
    channelMixing: false,
    // E · N at the defaults (E = 2d, N = 128).
    stateSize: (d) => d * mambaDefaults.expand * mambaDefaults.dState,
  },
  // docs/spec/MODELS.md §4.1: in_proj [x, z] and x_proj [δ, B, C] are split as mamba_ssm splits them.
  referenceParameters: {
    module: "mamba_ssm.Mamba",
    parameters: () => ({
      ...torchLinear("in_proj"),
      ...torchDepthwiseConv("conv1d", { bias: true }),
      ...torchLinear("x_proj"),
      ...torchLinear("dt_proj", { bias: true }),
      ...sameLayout("A_log", "D"),
      ...torchLinear("out_proj"),
    }),
  },
  createLayer: (context, config) => new Mamba(context, config),
  // docs/spec/MODELS.md §4.1: in 2dE + conv (K+1)E + x_proj E(R+2N) + dt_proj (RE + E) + A_log EN + D E + out Ed.
  // 6d² + 4dR + 6dN + 14d with the reference's arguments.
  parametersPerLayer: (d, _heads, config) => {
    const { inner: e, dtRank: r } = mambaWidths(d, config);
    const n = config.dState;
    return 2 * d * e + (config.convSize + 1) * e + e * (r + 2 * n) + (r * e + e) + e * n + e + e * d;
  },
};
