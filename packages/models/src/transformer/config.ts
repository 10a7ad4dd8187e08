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
  /** Train widths 648 and 1296 at 768 and 1280, as the reference's train.py does (§5.1); W&B imports set it. */
  referenceWidths: boolean;
}

export const transformerSchema: ConfigSchema = {
  ropeBase: { type: "number", min: 1, exclusiveMin: true, description: "rotary embedding base on q and k" },
  ffnExpand: { type: "int", min: 1, max: 64, description: "SwiGLU hidden width as a multiple of d_model" },
  queryBlock: { type: "int", min: 1, max: 65536, description: "query rows per block of the causal attention" },
  referenceWidths: {
    type: "boolean",
    description: "train widths 648 and 1296 (odd head dim 81) at 768 and 1280, as the reference's train.py does",
  },
};

export const transformerDefaults: TransformerConfig = {
  ropeBase: 1000,
  ffnExpand: 4,
  queryBlock: 256,
  referenceWidths: false,
};

/**
 * The widths the reference's train.py rewrites for its Transformer (docs/spec/MODELS.md §5.1): the sweep widths whose
 * head dim under the head rule is 81 (odd, so RoPE cannot take it). It rewrites feat_size after choosing the
 * heads from the width asked for; those heads (8 for 648, 16 for 1296) are also the rule's heads at 768 and 1280.
 */
export const REFERENCE_WIDTHS: Readonly<Record<number, number>> = { 648: 768, 1296: 1280 };

/** The width the Transformer trains at for `train.width` = d: d, or with `referenceWidths` the reference's rewrite. */
export function transformerTrainingWidth(d: number, config: TransformerConfig): number {
  return config.referenceWidths ? (REFERENCE_WIDTHS[d] ?? d) : d;
}

/** Head dim D_h = d/H; RoPE needs it to be an even integer (§5.1: 648 and 1296 are mapped away for this). */
export function transformerHeadDim(d: number, heads: number): number {
  const headDim = d / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    const hint = REFERENCE_WIDTHS[d]
      ? `; set transformer.referenceWidths=true to train it at ${REFERENCE_WIDTHS[d]} as the reference does`
      : "";
    throw new SelectivError(`transformer: head dim d/H = ${d}/${heads} = ${headDim} must be an even integer for RoPE${hint}`);
  }
  return headDim;
}
