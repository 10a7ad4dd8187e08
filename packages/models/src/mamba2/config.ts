import { SelectivError, type ConfigSchema } from "@selectiv/core";
import { dtInitSchema } from "../shared/dt-init.js";

/** Mamba2 settings; the defaults are the reference's arguments and mamba_ssm's defaults (docs/spec/MODELS.md §4.2). */
export interface Mamba2Config {
  [key: string]: number | boolean | string;
  /** N, the state size per head row (the sweeps' 128; §7.3 discusses 64). */
  dState: number;
  /** Inner width E = expand · d; with headdim P = d/H there are E/P heads. */
  expand: number;
  /** Taps of the depthwise causal conv on the x, B, C channels. */
  convSize: number;
  /** Chunk length C of the SSD training form (§6.1; scalar decays need no factorisation, so 64 is safe, §9.3). */
  chunkSize: number;
  /** A = exp(A_log) at init is uniform in [aInitMin, aInitMax] per head. */
  aInitMin: number;
  aInitMax: number;
  dtMin: number;
  dtMax: number;
  dtInitFloor: number;
}

export const mamba2Schema: ConfigSchema = {
  dState: { type: "int", min: 1, max: 4096, description: "state size N per head row" },
  expand: { type: "number", min: 0, exclusiveMin: true, description: "inner width E as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "depthwise causal conv taps on x, B and C" },
  chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the SSD training form" },
  aInitMin: { type: "number", min: 0, exclusiveMin: true, description: "lower end of the uniform A = exp(A_log) at init" },
  aInitMax: { type: "number", min: 0, exclusiveMin: true, description: "upper end of the uniform A = exp(A_log) at init" },
  ...dtInitSchema,
};

export const mamba2Defaults: Mamba2Config = {
  dState: 128,
  expand: 2,
  convSize: 4,
  chunkSize: 64,
  aInitMin: 1,
  aInitMax: 16,
  dtMin: 1e-3,
  dtMax: 0.1,
  dtInitFloor: 1e-4,
};

/** Inner width E, headdim P = d/H and head count n_h = E/P (= 2H at expand 2). Throws if they are not whole. */
export function mamba2Widths(d: number, heads: number, config: Mamba2Config): { inner: number; headDim: number; ssmHeads: number } {
  const inner = d * config.expand;
  const headDim = d / heads;
  if (!Number.isInteger(headDim)) throw new SelectivError(`mamba2: d = ${d} must be divisible by heads = ${heads}`);
  if (!Number.isInteger(inner) || inner % headDim !== 0) {
    throw new SelectivError(`mamba2: inner width d·expand = ${inner} must be an integer multiple of headdim d/H = ${headDim}`);
  }
  return { inner, headDim, ssmHeads: inner / headDim };
}
