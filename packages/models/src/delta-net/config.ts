import type { ConfigSchema } from "@selectiv/core";
import { perHeadWidth } from "./parts.js";

/** DeltaNet settings; the defaults are the reference's constructor arguments and fla's defaults (models.md §3.3). */
export interface DeltaNetConfig {
  [key: string]: number | boolean | string;
  /** Key width K = expandK · d. */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /** Chunk length C of the chunked training form (§6.2); the UT transform's tape grows as T·C². */
  chunkSize: number;
  useShortConv: boolean;
  /** β_t = σ(x W_b) per head; without it β ≡ 1 and there is no b_proj. */
  useBeta: boolean;
  /** β ∈ (0, 2) instead of (0, 1): the Householder factor may reflect. */
  allowNegativeEigenvalues: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj (fla use_gate). */
  useOutputGate: boolean;
}

export const deltaNetSchema: ConfigSchema = {
  expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
  expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the chunked training form" },
  useShortConv: { type: "boolean", description: "apply a causal depthwise conv before the SiLU on q, k and v" },
  useBeta: { type: "boolean", description: "learn the write strength β = σ(x W_b) (else β = 1)" },
  allowNegativeEigenvalues: { type: "boolean", description: "β ∈ (0, 2) instead of (0, 1)" },
  useOutputGate: { type: "boolean", description: "gate the normed readout with SiLU(x W_g)" },
};

export const deltaNetDefaults: DeltaNetConfig = {
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 16,
  useShortConv: true,
  useBeta: true,
  allowNegativeEigenvalues: false,
  useOutputGate: false,
};

/** Key and value widths, total and per head. Throws if they are not whole multiples of the head count. */
export function deltaNetWidths(
  d: number,
  heads: number,
  config: { expandK: number; expandV: number },
  model = "delta-net",
): { keyDim: number; valueDim: number; headKeyDim: number; headValueDim: number } {
  const keyDim = d * config.expandK;
  const valueDim = d * config.expandV;
  return {
    keyDim,
    valueDim,
    headKeyDim: perHeadWidth(model, "key width d·expandK", keyDim, heads),
    headValueDim: perHeadWidth(model, "value width d·expandV", valueDim, heads),
  };
}
