import type { ConfigSchema } from "@selectiv/core";
import { flaSkeletonSchema, type FlaSkeletonConfig } from "../shared/fla-parts.js";

/**
 * Plain linear attention settings: the fla skeleton of docs/spec/MODELS.md §3 with the identity transition, sized like its
 * siblings (d_k = d/H, d_v = 2d/H).
 */
export interface LinearAttentionConfig extends FlaSkeletonConfig {
  /** Chunk length C of the chunked training form (§6.1 with Γ = the all-ones lower triangle). */
  chunkSize: number;
}

export const linearAttentionSchema: ConfigSchema = flaSkeletonSchema("identity");

export const linearAttentionDefaults: LinearAttentionConfig = {
  expandK: 1,
  expandV: 2,
  convSize: 4,
  chunkSize: 64,
  useShortConv: true,
};
