import type { ConfigSchema } from "@selectiv/core";

/**
 * Gated DeltaProduct settings; the defaults are the reference's constructor arguments (num_householder = 4) and
 * fla's defaults (models.md §3.5).
 */
export interface GatedDeltaProductConfig {
  [key: string]: number | boolean | string;
  /** n: Householder factors (micro-steps) per token, each with its own key, value and β. */
  householders: number;
  /** Key width K = expandK · d (the reference's head_dim = d/H gives K = d). */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /**
   * Chunk length C of the chunked training form, in micro-steps of the interleaved sequence of length n·T (§3.5,
   * §6.2); the UT transform's tape grows as n·T·C².
   */
  chunkSize: number;
  useShortConv: boolean;
  /** β ∈ (0, 2) (fla allow_neg_eigval, on by default here): each factor may reflect. */
  allowNegativeEigenvalues: boolean;
  /** Decay the state by α_t = exp(−exp(A_log)·softplus(x W_a + dt_bias)) once per token. */
  useForgetGate: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj. */
  useOutputGate: boolean;
}

export const gatedDeltaProductSchema: ConfigSchema = {
  householders: { type: "int", min: 1, max: 16, description: "Householder factors (micro-steps) per token" },
  expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
  expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length (in micro-steps) of the chunked training form" },
  useShortConv: { type: "boolean", description: "apply a causal depthwise conv before the SiLU on q, k and v" },
  allowNegativeEigenvalues: { type: "boolean", description: "β ∈ (0, 2) instead of (0, 1)" },
  useForgetGate: { type: "boolean", description: "scalar per-head decay α_t applied once per token" },
  useOutputGate: { type: "boolean", description: "gate the normed readout with SiLU(x W_g)" },
};

export const gatedDeltaProductDefaults: GatedDeltaProductConfig = {
  householders: 4,
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 16,
  useShortConv: true,
  allowNegativeEigenvalues: true,
  useForgetGate: true,
  useOutputGate: true,
};
