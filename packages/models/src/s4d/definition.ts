import type { ModelDefinition } from "@selectiv/core";
import { s4dDefaults, s4dModes, s4dSchema, type S4dConfig } from "./config.js";
import { S4d } from "./layer.js";
import { sameLayout } from "../shared/reference-parameters.js";

/** S4D (the reference's `S4D` layer), docs/spec/MODELS.md §5.2. */
export const s4dDefinition: ModelDefinition<S4dConfig> = {
  id: "s4d",
  referenceNames: ["s4"],
  referenceArguments: { d_state: "dState" },
  description: "S4D: LTI complex-diagonal SSM per channel (ZOH), causal convolution with K[l] = 2Re Σ C' z^l, GELU, GLU output.",
  schema: s4dSchema,
  defaults: s4dDefaults,
  // docs/spec/MODELS.md §8, S4D row.
  taxonomy: {
    transition: "diagonal",
    transitionDetail: "complex diagonal exp(Δ_h A_n), A_n = −exp(log_A_real) + i·A_imag, per (channel, mode); LTI (not selective)",
    write: "u_t into every mode (the ZOH factor (e^{ΔA} − 1)/A is folded into C')",
    readout: "2 Re Σ_n C'_n s_t[n] + D u_t (fixed C); GELU; 1×1 conv d → 2d and GLU",
    outputGate: true,
    complementaryGating: "partial",
    channelMixing: false,
    // N/2 complex modes per channel = N real floats per channel, at the default N = 128.
    stateSize: (d) => d * s4dDefaults.dState,
  },
  // docs/spec/MODELS.md §5.2: C is [d, N/2, 2] (torch.view_as_real) on both sides; output_linear.0 is a 1×1 Conv1d.
  referenceParameters: {
    module: "S4D (the reference's models/ssm_models.py)",
    parameters: () => ({
      ...sameLayout("D", "kernel.log_dt", "kernel.C", "kernel.log_A_real", "kernel.A_imag", "output_linear.0.bias"),
      "output_linear.0.weight": { name: "output_linear.0.weight", layout: "pointwise-conv" },
    }),
  },
  createLayer: (context, config) => new S4d(context, config),
  // docs/spec/MODELS.md §5.2: D d + C d·N (N/2 complex) + log_dt d + log_A_real, A_imag d·N/2 each + output conv 2d² + 2d
  // = 2d² + 2dN + 4d.
  parametersPerLayer: (d, _heads, config) => {
    const modes = s4dModes(config);
    return d + 2 * d * modes + d + 2 * d * modes + 2 * d * d + 2 * d;
  },
};
