import type { ConfigSchema } from "@selectiv/core";

/** Gated DeltaNet settings; the defaults are the reference's constructor arguments and fla's defaults (models.md §3.4). */
export interface GatedDeltaNetConfig {
  [key: string]: number | boolean | string;
  /** Key width K = expandK · d (the reference's head_dim = d/H gives K = d). */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /** Chunk length C of the chunked training form (§6.2); the UT transform's tape grows as T·C². */
  chunkSize: number;
  useShortConv: boolean;
  /** β ∈ (0, 2) instead of (0, 1): the Householder factor may reflect. */
  allowNegativeEigenvalues: boolean;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj (fla use_gate). */
  useOutputGate: boolean;
}

export const gatedDeltaNetSchema: ConfigSchema = {
  expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
  expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the chunked training form" },
  useShortConv: { type: "boolean", description: "apply a causal depthwise conv before the SiLU on q, k and v" },
  allowNegativeEigenvalues: { type: "boolean", description: "β ∈ (0, 2) instead of (0, 1)" },
  useOutputGate: { type: "boolean", description: "gate the normed readout with SiLU(x W_g)" },
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
