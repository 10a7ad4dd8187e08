import type { ConfigSchema } from "@selectiv/core";
import { allowNegativeEigenvaluesSpec, flaSkeletonSchema, useOutputGateSpec, type FlaSkeletonConfig } from "../shared/fla-parts.js";

/**
 * Gated DeltaProduct settings; the defaults are the reference's constructor arguments (num_householder = 4) and
 * fla's defaults (docs/spec/MODELS.md §3.5).
 */
export interface GatedDeltaProductConfig extends FlaSkeletonConfig {
  /** n: Householder factors (micro-steps) per token, each with its own key, value and β. */
  householders: number;
  /** Key width K = expandK · d (the reference's head_dim = d/H gives K = d). */
  expandK: number;
  /**
   * Chunk length C of the chunked training form, in micro-steps of the interleaved sequence of length n·T (§3.5,
   * §6.2); the UT transform's tape grows as n·T·C².
   */
  chunkSize: number;
  /** β ∈ (0, 2) (fla allow_neg_eigval, on by default here): each factor may reflect. */
  allowNegativeEigenvalues: boolean;
  /** Decay the state by α_t = exp(−exp(A_log)·softplus(x W_a + dt_bias)) once per token. */
  useForgetGate: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj. */
  useOutputGate: boolean;
}

export const gatedDeltaProductSchema: ConfigSchema = {
  householders: { type: "int", min: 1, max: 16, description: "Householder factors (micro-steps) per token" },
  ...flaSkeletonSchema("silu"),
  // In place of the skeleton's chunkSize (an object literal keeps the key's first position).
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length (in micro-steps) of the chunked training form" },
  allowNegativeEigenvalues: allowNegativeEigenvaluesSpec,
  useForgetGate: { type: "boolean", description: "scalar per-head decay α_t applied once per token" },
  useOutputGate: useOutputGateSpec,
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
