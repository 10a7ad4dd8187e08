import type { tf } from "../../tf.js";

/**
 * Mamba-1's selective scan (docs/spec/MODELS.md §4.1, §6.5): per channel e and state index n,
 *   h_t[e,n] = exp(Δ_t[e] A[e,n]) h_{t−1}[e,n] + Δ_t[e] B_t[n] x_t[e],   y_t[e] = Σ_n C_t[n] h_t[e,n].
 * The decay differs per (e, n), so there is no compact matmul form. Shapes: x, delta [B, T, E]; A [E, N];
 * B, C [B, T, N] (shared by all channels); y [B, T, E]. The D skip and the output gate belong to the layer.
 */
export interface SelectiveScanInputs {
  readonly x: tf.Tensor3D;
  readonly delta: tf.Tensor3D;
  readonly a: tf.Tensor2D;
  readonly b: tf.Tensor3D;
  readonly c: tf.Tensor3D;
}
