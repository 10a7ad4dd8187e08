import type { ConfigSchema } from "@selectiv/core";
import { allowNegativeEigenvaluesSpec, flaSkeletonSchema, useOutputGateSpec, type FlaSkeletonConfig } from "../shared/fla-parts.js";

/** Gated DeltaNet settings; the defaults are the reference's constructor arguments and fla's defaults (docs/spec/MODELS.md §3.4). */
export interface GatedDeltaNetConfig extends FlaSkeletonConfig {
  /** Key width K = expandK · d (the reference's head_dim = d/H gives K = d). */
  expandK: number;
  /** Chunk length C of the chunked training form (§6.2); the UT transform's tape grows as T·C². */
  chunkSize: number;
  /** β ∈ (0, 2) instead of (0, 1): the Householder factor may reflect. */
  allowNegativeEigenvalues: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj (fla use_gate). */
  useOutputGate: boolean;
}

export const gatedDeltaNetSchema: ConfigSchema = {
  ...flaSkeletonSchema("silu"),
  allowNegativeEigenvalues: allowNegativeEigenvaluesSpec,
  useOutputGate: useOutputGateSpec,
};

export const gatedDeltaNetDefaults: GatedDeltaNetConfig = {
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 16,
  useShortConv: true,
  allowNegativeEigenvalues: false,
  useOutputGate: true,
};
