// The Mamba2-style per-head forget gate of the gated delta-rule layers (Gated DeltaNet, Gated DeltaProduct).
import { Linear, init, tf, type Initializer, type ParameterScope } from "@selectiv/core";

/**
 * A_log init (docs/spec/MODELS.md §3.4): A ~ U(0, 16) per head, A_log = log A. Drawn as 16·(1 − u) with u ∈ [0, 1), i.e.
 * U(0, 16], so log 0 cannot occur.
 */
export const aLogInit: Initializer = init.byIndex((_i, rng) => Math.log(16 * (1 - rng.next())));

/** softplus⁻¹(y) = log(eʸ − 1) = y + log(1 − e^{−y}), written with expm1 so tiny y stays accurate (§9.3). */
export function inverseSoftplus(y: number): number {
  return y + Math.log(-Math.expm1(-y));
}

/**
 * dt_bias init (docs/spec/MODELS.md §3.4): dt₀ = exp(U(log 1e-3, log 1e-1)), floored at 1e-4, dt_bias = softplus⁻¹(dt₀),
 * so softplus(dt_bias) ∈ [1e-3, 0.1].
 */
export const dtBiasInit: Initializer = init.byIndex((_i, rng) => {
  const dt = Math.exp(rng.uniform(Math.log(1e-3), Math.log(1e-1)));
  return inverseSoftplus(Math.max(dt, 1e-4));
});

/**
 * The Mamba2-style forget gate of Gated DeltaNet / DeltaProduct (docs/spec/MODELS.md §3.4), one scalar per head:
 *   log α_t = −exp(A_log) · softplus(x_t W_a + dt_bias).
 */
export class ForgetGate {
  readonly aProj: Linear;
  readonly aLog: tf.Variable;
  readonly dtBias: tf.Variable;

  constructor(scope: ParameterScope, dModel: number, heads: number) {
    this.aProj = new Linear(scope, "a_proj", dModel, heads, { bias: false });
    this.aLog = scope.variable("A_log", [heads], aLogInit);
    this.dtBias = scope.variable("dt_bias", [heads], dtBiasInit);
  }

  /** x [..., d] → log α [..., H] (≤ 0). */
  logAlpha<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
    return tf.mul(tf.neg(tf.exp(this.aLog)), tf.softplus(tf.add(this.aProj.apply(x), this.dtBias))) as T;
  }
}
