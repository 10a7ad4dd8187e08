import { SelectivError, type ConfigSchema } from "@selectiv/core";

/** GLA settings; the defaults are the reference's constructor arguments and fla's defaults (models.md §3.1). */
export interface GlaConfig {
  [key: string]: number | boolean | string;
  /** log α = logsigmoid(γ) / gateLogitNormalizer. */
  gateLogitNormalizer: number;
  /** Inner width of the low-rank gate projection gk_proj (d → r → K). */
  gateLowRank: number;
  /** Key width K = expandK · d. */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /** Chunk length C of the chunked training form (§6.1, §9.3: 16 keeps the diagonal-decay factors finite). */
  chunkSize: number;
  useShortConv: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj. */
  useOutputGate: boolean;
}

export const glaSchema: ConfigSchema = {
  gateLogitNormalizer: { type: "number", min: 0, exclusiveMin: true, description: "divisor of logsigmoid(gate logits)" },
  gateLowRank: { type: "int", min: 1, description: "inner width of the low-rank gate projection" },
  expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
  expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the chunked training form" },
  useShortConv: { type: "boolean", description: "apply a causal depthwise conv + SiLU to q, k and v" },
  useOutputGate: { type: "boolean", description: "gate the normed readout with SiLU(x W_g)" },
};

export const glaDefaults: GlaConfig = {
  gateLogitNormalizer: 16,
  gateLowRank: 16,
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 16,
  useShortConv: true,
  useOutputGate: true,
};

/** Key and value widths, total and per head. Throws if they are not whole multiples of the head count. */
export function glaWidths(
  d: number,
  heads: number,
  config: GlaConfig,
): { keyDim: number; valueDim: number; headKeyDim: number; headValueDim: number } {
  const keyDim = d * config.expandK;
  const valueDim = d * config.expandV;
  for (const [name, width] of [
    ["key width d·expandK", keyDim],
    ["value width d·expandV", valueDim],
  ] as const) {
    if (!Number.isInteger(width) || width % heads !== 0) {
      throw new SelectivError(`gla: ${name} = ${width} must be an integer divisible by heads = ${heads}`);
    }
  }
  return { keyDim, valueDim, headKeyDim: keyDim / heads, headValueDim: valueDim / heads };
}
