import { SelectivError, type ConfigSchema } from "@selectiv/core";

/**
 * Plain linear attention settings: the fla skeleton of models.md §3 with the identity transition, sized like its
 * siblings (d_k = d/H, d_v = 2d/H).
 */
export interface LinearAttentionConfig {
  [key: string]: number | boolean | string;
  /** Key width K = expandK · d. */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /** Chunk length C of the chunked training form (§6.1 with Γ = the all-ones lower triangle). */
  chunkSize: number;
  useShortConv: boolean;
}

export const linearAttentionSchema: ConfigSchema = {
  expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
  expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the chunked training form" },
  useShortConv: { type: "boolean", description: "apply a causal depthwise conv + SiLU to q, k and v" },
};

export const linearAttentionDefaults: LinearAttentionConfig = {
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 64,
  useShortConv: true,
};

/** Key and value widths, total and per head. Throws if they are not whole multiples of the head count. */
export function linearAttentionWidths(
  d: number,
  heads: number,
  config: { expandK: number; expandV: number },
): { keyDim: number; valueDim: number; headKeyDim: number; headValueDim: number } {
  const keyDim = d * config.expandK;
  const valueDim = d * config.expandV;
  for (const [name, width] of [
    ["key width d·expandK", keyDim],
    ["value width d·expandV", valueDim],
  ] as const) {
    if (!Number.isInteger(width) || width % heads !== 0) {
      throw new SelectivError(`linear-attention: ${name} = ${width} must be an integer divisible by heads = ${heads}`);
    }
  }
  return { keyDim, valueDim, headKeyDim: keyDim / heads, headValueDim: valueDim / heads };
}
