import { SelectivError, type ConfigSchema } from "@selectiv/core";

/** Transformer decoder layer settings; the defaults are the reference's (docs/spec/MODELS.md §5.1, train.py). */
export interface TransformerConfig {
  [key: string]: number | boolean | string;
  /** RoPE base: train.py's --rope_base default 1000 overrides the class default 10000. */
  ropeBase: number;
  /** Feed-forward width as a multiple of d: linear1 is d → 2·F·d (two halves), linear2 is F·d → d. */
  ffnExpand: number;
  /** Query rows per block of the training form's attention, bounding scores to [B, H, block, T] (§9.3). */
  queryBlock: number;
}

export const transformerSchema: ConfigSchema = {
  ropeBase: { type: "number", min: 1, exclusiveMin: true, description: "rotary embedding base on q and k" },
  ffnExpand: { type: "int", min: 1, max: 64, description: "SwiGLU hidden width as a multiple of d_model" },
  queryBlock: { type: "int", min: 1, max: 65536, description: "query rows per block of the causal attention" },
};

export const transformerDefaults: TransformerConfig = {
  ropeBase: 1000,
  ffnExpand: 4,
  queryBlock: 256,
};

/** Head dim D_h = d/H; RoPE needs it to be an even integer (§5.1: 648 and 1296 are mapped away for this). */
export function transformerHeadDim(d: number, heads: number): number {
  const headDim = d / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new SelectivError(`transformer: head dim d/H = ${d}/${heads} = ${headDim} must be an even integer for RoPE`);
  }
  return headDim;
}
