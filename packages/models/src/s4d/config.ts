import { SelectivError, type ConfigSchema } from "@selectiv/core";

/** S4D settings; the defaults are the reference's `S4D` arguments (docs/spec/MODELS.md §5.2). */
export interface S4dConfig {
  [key: string]: number | boolean | string;
  /** N, the state size per channel: N/2 complex modes (their conjugates are implied by 2·Re). */
  dState: number;
  /** log Δ at init is uniform in [log dtMin, log dtMax], one per channel. */
  dtMin: number;
  dtMax: number;
  /** Block length of the training form's block-Toeplitz convolution (memory d·T·block instead of d·T²). */
  convBlock: number;
}

export const s4dSchema: ConfigSchema = {
  dState: { type: "int", min: 2, max: 4096, description: "state size N per channel (N/2 complex modes); even" },
  dtMin: { type: "number", min: 0, exclusiveMin: true, description: "lower end of the log-uniform Δ at init" },
  dtMax: { type: "number", min: 0, exclusiveMin: true, description: "upper end of the log-uniform Δ at init" },
  convBlock: { type: "int", min: 1, max: 4096, description: "block length of the Toeplitz convolution in the training form" },
};

export const s4dDefaults: S4dConfig = {
  dState: 128,
  dtMin: 1e-3,
  dtMax: 0.1,
  convBlock: 64,
};

/** The number of complex modes N/2. Throws if N is odd or the Δ range is reversed. */
export function s4dModes(config: S4dConfig): number {
  if (config.dState % 2 !== 0) throw new SelectivError(`s4d: dState = ${config.dState} must be even (N/2 complex modes)`);
  if (!(config.dtMin <= config.dtMax)) throw new SelectivError(`s4d: dtMin = ${config.dtMin} must not exceed dtMax = ${config.dtMax}`);
  return config.dState / 2;
}
