import type { ModelDefinition } from "@selectiv/core";
import { gruDefaults, gruSchema, type GruConfig } from "./config.js";
import { Gru } from "./layer.js";
import { sameLayout } from "../shared/reference-parameters.js";

/** GRU (PyTorch `nn.GRU(d, d)`, one layer), docs/spec/MODELS.md §5.3. */
export const gruDefinition: ModelDefinition<GruConfig> = {
  id: "gru",
  referenceNames: ["gru"],
  description: "GRU (PyTorch convention): gates r, z, n with the reset applied after the recurrent matmul; outputs h_t.",
  schema: gruSchema,
  defaults: gruDefaults,
  // docs/spec/MODELS.md §8, GRU row.
  taxonomy: {
    transition: "nonlinear",
    transitionDetail: "h_t = (1 − z_t) ⊙ tanh(W_in x + b_in + r_t ⊙ (W_hn h + b_hn)) + z_t ⊙ h_{t−1}; gates depend on h",
    write: "(1 − z_t) ⊙ n_t",
    readout: "identity (the output is h_t)",
    outputGate: false,
    complementaryGating: true,
    channelMixing: true,
    stateSize: (d) => d,
  },
  // docs/spec/MODELS.md §5.3: the gates are in PyTorch's order (r, z, n), so only the weights transpose.
  referenceParameters: {
    module: "torch.nn.GRU",
    parameters: () => ({
      weight_ih_l0: { name: "weight_ih_l0", layout: "transpose" },
      weight_hh_l0: { name: "weight_hh_l0", layout: "transpose" },
      ...sameLayout("bias_ih_l0", "bias_hh_l0"),
    }),
  },
  createLayer: (context, config) => new Gru(context, config),
  // docs/spec/MODELS.md §5.3: W_ih, W_hh (3d × d each) + b_ih, b_hh (3d each) = 6d² + 6d.
  parametersPerLayer: (d, _heads, config) => 2 * 3 * d * d + (config.bias ? 2 * 3 * d : 0),
};
