import { tf } from "../tf.js";

/** What every recurrence form returns. */
export interface RecurrenceResult {
  /** [B, H, T, d_v] */
  readonly output: tf.Tensor4D;
  /** [B, H, d_k, d_v], the state after the last step. */
  readonly state: tf.Tensor4D;
}

export function zeroState(batch: number, heads: number, dk: number, dv: number): tf.Tensor4D {
  return tf.zeros([batch, heads, dk, dv]);
}

/** Zero-pads axis 2 (time) of x to `padded` steps. */
export function padTime<T extends tf.Tensor>(x: T, padded: number): T {
  const t = x.shape[2]!;
  if (padded === t) return x;
  const pad: [number, number][] = x.shape.map(() => [0, 0] as [number, number]);
  pad[2] = [0, padded - t];
  return tf.pad(x, pad);
}

/**
 * tf.slice of a rank-5 [B, H, …] tensor that keeps axes 0 and 1 whole, done at rank 4 (B·H merged): the
 * gradient of a slice is a pad, and the webgpu backend's rank-5 pad shader does not compile.
 */
export function sliceInner(x: tf.Tensor, begin: number[], size: number[]): tf.Tensor {
  if (x.rank < 5) return tf.slice(x, begin, size);
  const [s0, s1, ...rest] = x.shape as number[];
  const merged = tf.reshape(x, [s0! * s1!, ...rest]);
  const inner = tf.slice(merged, [0, ...begin.slice(2)], [s0! * s1!, ...size.slice(2)]);
  return tf.reshape(inner, [s0!, s1!, ...inner.shape.slice(1)]);
}

/**
 * Inclusive cumulative sum over the last axis, as a rank-2 cumsum: the webgpu backend has no cumsum above
 * rank 4, and a positive last axis keeps the gradient right (§9.2).
 */
export function cumsumLastAxis(x: tf.Tensor): tf.Tensor {
  const n = x.shape[x.rank - 1]!;
  return tf.reshape(tf.cumsum(tf.reshape(x, [-1, n]), 1), x.shape);
}

/**
 * x where `keep` (a [C, C] bool mask over the last two axes), else `fill`. Done at rank 3: tf.where broadcasts
 * through Tile, which the webgpu backend runs on the CPU above rank 4 (a synchronous read Node cannot do).
 */
export function maskLastTwo(x: tf.Tensor, keep: tf.Tensor2D, fill: number): tf.Tensor {
  const [r, c] = keep.shape;
  return tf.reshape(tf.where(keep, tf.reshape(x, [-1, r, c]), fill), x.shape);
}

/**
 * Segment sums of per-step log-decays x [..., C]: M[i, j] = Σ_{l=j+1..i} x_l for i ≥ j, −∞ above the diagonal.
 * Summing only the terms between j and i (instead of subtracting two long cumulative sums) keeps strong decays
 * exact in fp32, values and gradients (the ssd_minimal "segsum" idea). Returns [..., C, C].
 */
export function segmentSums(x: tf.Tensor): tf.Tensor {
  const c = x.shape[x.rank - 1]!;
  const lead = x.shape.slice(0, -1);
  // X[j, l] = x_l where l > j; a cumulative sum over l gives Σ_{j < l ≤ i} x_l at [j, i].
  // A multiply broadcasts (tile has no gradient at rank 5).
  const later = tf.linalg.bandPart(tf.ones([c, c]), 0, -1).sub(tf.eye(c));
  const spread = tf.mul(tf.reshape(x, [...lead, 1, c]), later);
  const sums = cumsumLastAxis(spread);
  const perm = [...lead.map((_, i) => i), x.rank, x.rank - 1];
  const causal = tf.linalg.bandPart(tf.ones([c, c]), -1, 0).cast("bool");
  // A large finite fill, not −∞: exp gives 0 all the same, and no backend has to carry an infinity.
  return maskLastTwo(tf.transpose(sums, perm), causal as tf.Tensor2D, -1e30);
}

/** Splits a fused kernel's packed [B, H, T·d_v + d_k·d_v] value into the outputs and the final state. */
export function unpack(packed: tf.Tensor3D, T: number, dk: number, dv: number): RecurrenceResult {
  const [B, H] = packed.shape;
  const output = tf.reshape(tf.slice(packed, [0, 0, 0], [B, H, T * dv]), [B, H, T, dv]) as tf.Tensor4D;
  const state = tf.reshape(tf.slice(packed, [0, 0, T * dv], [B, H, dk * dv]), [B, H, dk, dv]) as tf.Tensor4D;
  return { output, state };
}

/** [B, A, C, d] → [B, C, A, d] of a flat array (time-major ↔ lane-major). */
export function swapMiddleAxes(x: Float32Array, B: number, A: number, C: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let a = 0; a < A; a++)
      for (let c = 0; c < C; c++) out.set(x.subarray(((b * A + a) * C + c) * d, ((b * A + a) * C + c + 1) * d), ((b * C + c) * A + a) * d);
  return out;
}
