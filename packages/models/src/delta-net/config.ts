import type { ConfigSchema } from "@selectiv/core";
import { allowNegativeEigenvaluesSpec, flaSkeletonSchema, useOutputGateSpec, type FlaSkeletonConfig } from "../shared/fla-parts.js";

/** DeltaNet settings; the defaults are the reference's constructor arguments and fla's defaults (docs/spec/MODELS.md §3.3). */
export interface DeltaNetConfig extends FlaSkeletonConfig {
  /** Chunk length C of the chunked training form (§6.2); the UT transform's tape grows as T·C². */
  chunkSize: number;
  /** β_t = σ(x W_b) per head; without it β ≡ 1 and there is no b_proj. */
  useBeta: boolean;
  /** β ∈ (0, 2) instead of (0, 1): the Householder factor may reflect. */
  allowNegativeEigenvalues: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj (fla use_gate). */
  useOutputGate: boolean;
}

export const deltaNetSchema: ConfigSchema = {
  ...flaSkeletonSchema("silu"),
  useBeta: { type: "boolean", description: "learn the write strength β = σ(x W_b) (else β = 1)" },
  allowNegativeEigenvalues: allowNegativeEigenvaluesSpec,
  useOutputGate: useOutputGateSpec,
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
