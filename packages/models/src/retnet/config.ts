import { SelectivError, type ConfigSchema } from "@selectiv/core";

/** RetNet settings; the defaults are the reference's constructor arguments and fla's defaults (models.md §3.2). */
export interface RetNetConfig {
  [key: string]: number | boolean | string;
  /** Key width K = expandK · d. */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /** Chunk length C of the chunked training form (§6.1; scalar decays need no factorisation, §9.3). */
  chunkSize: number;
  useShortConv: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj. */
  useOutputGate: boolean;
  /** RoPE base of fla's RotaryEmbedding. */
  ropeBase: number;
}

export const retNetSchema: ConfigSchema = {
  expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
  expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the chunked training form" },
  useShortConv: { type: "boolean", description: "apply a causal depthwise conv + SiLU to q, k and v" },
  useOutputGate: { type: "boolean", description: "gate the normed readout with SiLU(x W_g)" },
  ropeBase: { type: "number", min: 1, exclusiveMin: true, description: "rotary embedding base on q and k" },
};

export const retNetDefaults: RetNetConfig = {
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 64,
  useShortConv: true,
  useOutputGate: true,
  ropeBase: 10000,
};

/** Key and value widths, total and per head. Throws if they are not whole multiples of the head count. */
export function retNetWidths(
  d: number,
  heads: number,
  config: { expandK: number; expandV: number },
  model = "retnet",
): { keyDim: number; valueDim: number; headKeyDim: number; headValueDim: number } {
  const keyDim = d * config.expandK;
  const valueDim = d * config.expandV;
  for (const [name, width] of [
    ["key width d·expandK", keyDim],
    ["value width d·expandV", valueDim],
  ] as const) {
    if (!Number.isInteger(width) || width % heads !== 0) {
      throw new SelectivError(`${model}: ${name} = ${width} must be an integer divisible by heads = ${heads}`);
    }
  }
  return { keyDim, valueDim, headKeyDim: keyDim / heads, headValueDim: valueDim / heads };
}

/** log γ_h with γ_h = 1 − 2^{−5−h}, h = 0..H−1: RetNet's fixed per-head decays (§3.2). */
export function retentionLogDecays(heads: number): Float32Array {
  return Float32Array.from({ length: heads }, (_, h) => Math.log1p(-Math.pow(2, -5 - h)));
}
