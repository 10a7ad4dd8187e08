import type { ModelDefinition } from "@selectiv/core";
import { mamba2Defaults, mamba2Schema, mamba2Widths, type Mamba2Config } from "./config.js";
import { Mamba2 } from "./layer.js";
import { sameLayout, torchDepthwiseConv, torchLinear } from "../shared/reference-parameters.js";

/** Mamba2 (mamba_ssm `mamba2.Mamba2`), docs/spec/MODELS.md §4.2. */
export const mamba2Definition: ModelDefinition<Mamba2Config> = {
  id: "mamba2",
  referenceNames: ["mamba2"],
  referenceArguments: { d_state: "dState" },
  description: "Mamba2 (mamba_ssm, SSD): scalar decay exp(Δ_t·a_h) per head, B/C shared by all heads, RMSNorm(y ⊙ SiLU(z)) readout.",
  schema: mamba2Schema,
  defaults: mamba2Defaults,
  // A small state keeps the quick preset within minutes on a CPU (the scan costs B·T·E·N per layer).
  presets: { smoke: { dState: 16 }, quick: { dState: 16 } },
  // docs/spec/MODELS.md §8, Mamba2 row.
  taxonomy: {
    transition: "scalar",
    transitionDetail: "exp(Δ_t a_h) per head, Δ_t = softplus(in_proj(x_t) + dt_bias), a_h = −exp(A_log_h)",
    write: "Δ_t x_t B_tᵀ (B_t ∈ ℝ^N shared by all heads)",
    readout: "h_t C_t + D_h x_t; RMSNorm over E of (y ⊙ SiLU(z))",
    outputGate: true,
    complementaryGating: true,
    channelMixing: false,
    // n_h · P · N = E · N at the defaults (E = 2d, N = 128).
    stateSize: (d) => d * mamba2Defaults.expand * mamba2Defaults.dState,
  },
  // docs/spec/MODELS.md §4.2: in_proj [z, xBC, δ] is split as mamba_ssm splits it.
  referenceParameters: {
    module: "mamba_ssm.Mamba2",
    parameters: () => ({
      ...torchLinear("in_proj"),
      ...torchDepthwiseConv("conv1d", { bias: true }),
      ...sameLayout("dt_bias", "A_log", "D", "norm.weight"),
      ...torchLinear("out_proj"),
    }),
  },
  createLayer: (context, config) => new Mamba2(context, config),
  // docs/spec/MODELS.md §4.2: in d(2E + 2N + n_h) + conv (K+1)(E + 2N) + dt_bias, A_log, D 3n_h + norm E + out Ed.
  // 6d² + 2dN + 2dH + 12d + 10N + 6H with the reference's arguments.
  parametersPerLayer: (d, heads, config) => {
    const { inner: e, ssmHeads: nh } = mamba2Widths(d, heads, config);
    const n = config.dState;
    return d * (2 * e + 2 * n + nh) + (config.convSize + 1) * (e + 2 * n) + 3 * nh + e + e * d;
  },
};
