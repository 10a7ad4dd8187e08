import { prefersRegisteredKernels } from "../recurrence/kernels.js";
import { tf } from "../tf.js";
import { causalAttentionKernel } from "./attention-kernel.js";

/**
 * Causal softmax attention per head: softmax(q kᵀ · scale + causal mask) v, for q, k [B, H, T, D] and
 * v [B, H, T, Dv]. Queries are processed in blocks of `queryBlock` rows so the score matrix is at most
 * [B, H, queryBlock, T] (docs/spec/MODELS.md §9.3: the full [B,H,T,T] is ~1.2G floats at T ≈ 2.2k). With `inference`
 * (no gradient wanted) each block's scores are freed once its output exists, so memory stays at one block's
 * scores whatever T; a gradient needs them all. Where registered kernels are preferred (webgpu) it runs as
 * ./attention-kernel.ts instead (1 dispatch forward, 4 backward, no score matrix stored, so no blocks needed).
 */
export function causalAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  queryBlock = 256,
  inference = false,
): tf.Tensor4D {
  if (prefersRegisteredKernels() && q.shape[2] > 0) return causalAttentionKernel(q, k, v, scale);
  return causalAttentionOps(q, k, v, scale, queryBlock, inference);
}

/**
 * causalAttention with time before heads: q, k [B, T, H, D], v [B, T, H, Dv] (a layer's projections reshaped into
 * heads); output [B, T, H, Dv]. The registered kernels read and write this layout (no transposes around them); the
 * TF-op form gets the [B, H, T, ·] it takes and its output transposed back.
 */
export function causalAttentionByTime(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  queryBlock = 256,
  inference = false,
): tf.Tensor4D {
  if (prefersRegisteredKernels() && q.shape[1] > 0) return causalAttentionKernel(q, k, v, scale, true);
  const swap = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]);
  return swap(causalAttentionOps(swap(q), swap(k), swap(v), scale, queryBlock, inference));
}

/** The TF-op form (cpu and wasm train with it; the oracle of ./attention-kernel.ts). */
export function causalAttentionOps(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  queryBlock = 256,
  inference = false,
): tf.Tensor4D {
  const [b, h, t, d] = q.shape;
  const blocks: tf.Tensor4D[] = [];
  for (let start = 0; start < t; start += queryBlock) {
    const block = (): tf.Tensor4D => {
      const rows = Math.min(queryBlock, t - start);
      const keys = start + rows; // keys after the block's last query are masked anyway
      const qb = start === 0 && rows === t ? q : tf.slice(q, [0, 0, start, 0], [b, h, rows, d]);
      const kb = keys === t ? k : tf.slice(k, [0, 0, 0, 0], [b, h, keys, d]);
      const vb = keys === t ? v : tf.slice(v, [0, 0, 0, 0], [b, h, keys, v.shape[3]]);
      // Row i (absolute position start + i) sees keys 0 .. start + i.
      const mask = tf.linalg.bandPart(tf.ones([rows, keys]), -1, start).cast("bool");
      const scores = tf.where(mask, tf.mul(tf.matMul(qb, kb, false, true), scale), -1e30);
      return tf.matMul(tf.softmax(scores), vb) as tf.Tensor4D;
    };
    blocks.push(inference ? tf.tidy(block) : block());
  }
  return blocks.length === 1 ? blocks[0]! : (tf.concat(blocks, 2) as tf.Tensor4D);
}

/** Streaming attention step with a growing key/value cache: q_t, k_t [B, H, D], v_t [B, H, Dv]. */
export function attentionStep(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  cache: { keys?: tf.Tensor4D; values?: tf.Tensor4D },
  scale: number,
): { output: tf.Tensor3D; keys: tf.Tensor4D; values: tf.Tensor4D } {
  const [b, h, d] = q.shape;
  const k4 = tf.reshape(k, [b, h, 1, d]) as tf.Tensor4D;
  const v4 = tf.reshape(v, [b, h, 1, v.shape[2]]) as tf.Tensor4D;
  const keys = cache.keys ? (tf.concat([cache.keys, k4], 2) as tf.Tensor4D) : k4;
  const values = cache.values ? (tf.concat([cache.values, v4], 2) as tf.Tensor4D) : v4;
  const scores = tf.mul(tf.matMul(tf.reshape(q, [b, h, 1, d]), keys, false, true), scale);
  const output = tf.reshape(tf.matMul(tf.softmax(scores), values), [b, h, v.shape[2]]) as tf.Tensor3D;
  return { output, keys, values };
}
