// The Δ (dt) initialisation of the selective SSMs, shared by Mamba and Mamba2: its config fields and the dt bias.
import { SelectivError, init, type ConfigSchema, type Initializer } from "@selectiv/core";

/** The Δ-initialisation fields of Mamba and Mamba2 (§4.1, §4.2). */
export const dtInitSchema: ConfigSchema = {
  dtMin: { type: "number", min: 0, exclusiveMin: true, description: "lower end of the log-uniform Δ at init" },
  dtMax: { type: "number", min: 0, exclusiveMin: true, description: "upper end of the log-uniform Δ at init" },
  dtInitFloor: { type: "number", min: 0, exclusiveMin: true, description: "floor of the Δ drawn at init" },
};

/**
 * The dt bias at init (§4.1, §9.3): softplus⁻¹(Δ₀) with Δ₀ log-uniform in [dtMin, dtMax], floored at dtInitFloor,
 * one draw per element. softplus⁻¹(Δ) = log(expm1(Δ)) stays accurate for tiny Δ.
 */
export function dtBiasInit(config: { dtMin: number; dtMax: number; dtInitFloor: number }, what: string): Initializer {
  if (!(config.dtMin <= config.dtMax)) {
    throw new SelectivError(`${what}: dtMin = ${config.dtMin} must not exceed dtMax = ${config.dtMax}`);
  }
  const [lo, hi] = [Math.log(config.dtMin), Math.log(config.dtMax)];
  return init.byIndex((_, rng) => {
    const dt = Math.max(Math.exp(lo + (hi - lo) * rng.next()), config.dtInitFloor);
    return Math.log(Math.expm1(dt));
  });
}
