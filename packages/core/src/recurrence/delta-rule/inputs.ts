import type { tf } from "../../tf.js";

/**
 * The (gated) delta rule, a Householder-type transition (docs/spec/MODELS.md §3.3–§3.5, §8), per head:
 *   S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,   o_t = S_tᵀ q_t.
 * Written as steps: S ← α_t S; e = v_t − Sᵀ k_t; S ← S + β_t k_t eᵀ.
 * Shapes: query, key [B, H, T, d_k] (normalised and scaled by the layer); value [B, H, T, d_v]; beta [B, H, T];
 * logAlpha [B, H, T] (log α_t ≤ 0) or absent for DeltaNet (α ≡ 1).
 */
export interface DeltaRuleInputs {
  readonly query: tf.Tensor4D;
  readonly key: tf.Tensor4D;
  readonly value: tf.Tensor4D;
  readonly beta: tf.Tensor3D;
  readonly logAlpha?: tf.Tensor3D;
}
