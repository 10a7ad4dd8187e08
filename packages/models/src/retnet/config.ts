import type { ConfigSchema } from "@selectiv/core";
import { flaSkeletonSchema, useOutputGateSpec, type FlaSkeletonConfig } from "../shared/fla-parts.js";

/** RetNet settings; the defaults are the reference's constructor arguments and fla's defaults (docs/spec/MODELS.md §3.2). */
export interface RetNetConfig extends FlaSkeletonConfig {
  /** Chunk length C of the chunked training form (§6.1; scalar decays need no factorisation, §9.3). */
  chunkSize: number;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj. */
  useOutputGate: boolean;
  /** RoPE base of fla's RotaryEmbedding. */
  ropeBase: number;
}

export const retNetSchema: ConfigSchema = {
  ...flaSkeletonSchema("identity"),
  useOutputGate: useOutputGateSpec,
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

/** log γ_h with γ_h = 1 − 2^{−5−h}, h = 0..H−1: RetNet's fixed per-head decays (§3.2). */
export function retentionLogDecays(heads: number): Float32Array {
  return Float32Array.from({ length: heads }, (_, h) => Math.log1p(-Math.pow(2, -5 - h)));
}
