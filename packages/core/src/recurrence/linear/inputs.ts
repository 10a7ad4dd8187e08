import type { tf } from "../../tf.js";

/**
 * The transition A_t of a decayed linear recurrence, as log-decays (docs/spec/MODELS.md §8):
 * "none" A_t = I; "scalar" A_t = α_t I per head; "diagonal" A_t = Diag(α_t), one decay per key channel.
 * log α ≤ 0 always: decays stay in log space until masked differences are exponentiated (§9.3).
 */
export type Decay =
  | { readonly kind: "none" }
  | { readonly kind: "scalar"; readonly logAlpha: tf.Tensor3D }
  | { readonly kind: "diagonal"; readonly logAlpha: tf.Tensor4D };

/**
 * A linear recurrence per head with key-major state S_t ∈ ℝ^{d_k×d_v}:
 *   S_t = A_t S_{t−1} + k_t v_tᵀ   (the write B_t),   o_t = S_tᵀ q_t   (the readout C_t, after the update).
 * Shapes: query, key [B, H, T, d_k]; value [B, H, T, d_v]. The query carries any scale (e.g. 1/√d_k).
 * Query and key may instead have one head ([B, 1, T, d_k]) shared by every head, as Mamba2's C and B.
 */
export interface RecurrenceInputs {
  readonly query: tf.Tensor4D;
  readonly key: tf.Tensor4D;
  readonly value: tf.Tensor4D;
  readonly decay: Decay;
}
