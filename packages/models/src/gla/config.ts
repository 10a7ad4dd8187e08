import type { ConfigSchema } from "@selectiv/core";
import { flaSkeletonSchema, useOutputGateSpec, type FlaSkeletonConfig } from "../shared/fla-parts.js";

/** GLA settings; the defaults are the reference's constructor arguments and fla's defaults (docs/spec/MODELS.md §3.1). */
export interface GlaConfig extends FlaSkeletonConfig {
  /** log α = logsigmoid(γ) / gateLogitNormalizer. */
  gateLogitNormalizer: number;
  /** Inner width of the low-rank gate projection gk_proj (d → r → K). */
  gateLowRank: number;
  /** Chunk length C of the chunked training form (§6.1, §9.3: 16 keeps the diagonal-decay factors finite). */
  chunkSize: number;
  /** Multiply the normed readout by SiLU(x W_g) before o_proj. */
  useOutputGate: boolean;
}

export const glaSchema: ConfigSchema = {
  gateLogitNormalizer: { type: "number", min: 0, exclusiveMin: true, description: "divisor of logsigmoid(gate logits)" },
  gateLowRank: { type: "int", min: 1, description: "inner width of the low-rank gate projection" },
  ...flaSkeletonSchema("identity"),
  useOutputGate: useOutputGateSpec,
};

export const glaDefaults: GlaConfig = {
  gateLogitNormalizer: 16,
  gateLowRank: 16,
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 16,
  useShortConv: true,
  useOutputGate: true,
};
