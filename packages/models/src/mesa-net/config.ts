import { SelectivError, type ConfigSchema } from "@selectiv/core";

/** MesaNet settings; the defaults are fla's with the reference's arguments (docs/spec/MODELS.md §3.6). */
export interface MesaNetConfig {
  [key: string]: number | boolean | string;
  /** Taps of the short convolutions on q and k (v has none). */
  convSize: number;
  /** λ = softplus(lambda_params) + lambdaLowerBound. */
  lambdaLowerBound: number;
  /** λ at init: lambda_params starts at softplus⁻¹(lambdaInit − lambdaLowerBound). */
  lambdaInit: number;
  /** Conjugate-gradient steps per position for q* = (G_t + Diag(λ))⁻¹ q_t (fla's max_cg_step_training). */
  cgSteps: number;
}

export const mesaNetSchema: ConfigSchema = {
  convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q and k" },
  lambdaLowerBound: { type: "number", min: 0, description: "lower bound of the diagonal regulariser λ" },
  lambdaInit: { type: "number", min: 0, exclusiveMin: true, description: "λ at init (must exceed the lower bound)" },
  cgSteps: { type: "int", min: 1, max: 1000, description: "conjugate-gradient steps per position" },
};

export const mesaNetDefaults: MesaNetConfig = {
  convSize: 4,
  lambdaLowerBound: 0.25,
  lambdaInit: 1,
  cgSteps: 30,
};

/** Per-head width d/H (keys and values alike: fla ignores expand_v here). Throws if it is not whole. */
export function mesaNetHeadDim(d: number, heads: number, config: MesaNetConfig): number {
  if (d % heads !== 0) throw new SelectivError(`mesa-net: d = ${d} must be divisible by heads = ${heads}`);
  if (!(config.lambdaInit > config.lambdaLowerBound)) {
    throw new SelectivError(`mesa-net: lambdaInit = ${config.lambdaInit} must exceed lambdaLowerBound = ${config.lambdaLowerBound}`);
  }
  return d / heads;
}
