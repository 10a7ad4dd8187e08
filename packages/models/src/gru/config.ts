import type { ConfigSchema } from "@selectiv/core";

/** GRU settings; the defaults are PyTorch's `nn.GRU(d, d)` (docs/spec/MODELS.md §5.3). */
export interface GruConfig {
  [key: string]: number | boolean | string;
  /** Input and recurrent biases b_ih, b_hh (nn.GRU's bias=True). */
  bias: boolean;
}

export const gruSchema: ConfigSchema = {
  bias: { type: "boolean", description: "input and recurrent biases b_ih and b_hh" },
};

export const gruDefaults: GruConfig = {
  bias: true,
};
