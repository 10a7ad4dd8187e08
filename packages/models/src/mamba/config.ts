import { SelectivError, type ConfigSchema } from "@selectiv/core";
import { dtInitSchema } from "../shared/dt-init.js";

/** Mamba-1 settings; the defaults are the reference's arguments and mamba_ssm's defaults (docs/spec/MODELS.md §4.1). */
export interface MambaConfig {
  [key: string]: number | boolean | string;
  /** N, the state size per channel (the sweeps' 128; §7.3 finds the paper's count implies 64). */
  dState: number;
  /** Inner width E = expand · d. */
  expand: number;
  /** Taps of the depthwise causal conv on x. */
  convSize: number;
  /** R, the inner width of the Δ projection; 0 means "auto" = ⌈d/16⌉. */
  dtRank: number;
  /** Δ at init is log-uniform in [dtMin, dtMax], floored at dtInitFloor. */
  dtMin: number;
  dtMax: number;
  dtInitFloor: number;
}

export const mambaSchema: ConfigSchema = {
  dState: { type: "int", min: 1, max: 4096, description: "state size N per channel" },
  expand: { type: "number", min: 0, exclusiveMin: true, description: "inner width E as a multiple of d_model" },
  convSize: { type: "int", min: 1, max: 64, description: "depthwise causal conv taps" },
  dtRank: { type: "int", min: 0, description: "rank R of the Δ projection; 0 = auto ⌈d/16⌉" },
  ...dtInitSchema,
};

export const mambaDefaults: MambaConfig = {
  dState: 128,
  expand: 2,
  convSize: 4,
  dtRank: 0,
  dtMin: 1e-3,
  dtMax: 0.1,
  dtInitFloor: 1e-4,
};

/** Inner width E and Δ rank R. Throws if E is not a whole number. */
export function mambaWidths(d: number, config: MambaConfig): { inner: number; dtRank: number } {
  const inner = d * config.expand;
  if (!Number.isInteger(inner)) throw new SelectivError(`mamba: inner width d·expand = ${inner} must be an integer`);
  return { inner, dtRank: config.dtRank === 0 ? Math.ceil(d / 16) : config.dtRank };
}
