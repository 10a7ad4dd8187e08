import type { Batch } from "./task.js";
import { tf } from "./tf.js";

/** Tensors of a batch that the loss and the metric need. */
export interface BatchTensors {
  readonly inputs: tf.Tensor3D;
  readonly targets: tf.Tensor2D;
  readonly mask: tf.Tensor2D;
}

export function batchTensors(batch: Batch): BatchTensors {
  const { size: b, steps: t, inputSize: f } = batch;
  return {
    inputs: tf.tensor3d(batch.inputs, [b, t, f]),
    targets: tf.tensor2d(batch.targets, [b, t], "int32"),
    mask: tf.tensor2d(batch.mask, [b, t]),
  };
}

/**
 * Cross-entropy of per-step logits against per-step targets, summed over valid steps (tasks.md §4).
 * Divide by the valid-step count for the mean. The target log-probability is picked with a one-hot product
 * (gather has no gradient on wasm).
 */
export function maskedCrossEntropySum(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  const [b, t, c] = logits.shape;
  const logp = tf.logSoftmax(tf.reshape(logits, [b * t, c]));
  const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(targets, [b * t]), c)), 1);
  return tf.neg(tf.sum(tf.mul(picked, tf.reshape(mask, [b * t])))) as tf.Scalar;
}

/** [B, S, T] 0/1 matrix: entry (b, s, t) = 1 when step t lies in symbol s's evaluation window. */
export function windowMatrix(batch: Batch): tf.Tensor3D {
  const { size: b, steps: t, maxSymbols: s } = batch;
  const m = new Float32Array(b * s * t);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < t; j++) {
      const w = batch.windows[i * t + j]!;
      if (w >= 0) m[(i * s + w) * t + j] = 1;
    }
  }
  return tf.tensor3d(m, [b, s, t]);
}

/**
 * Symbol accuracy (tasks.md §4): sum the softmax probabilities over each symbol's evaluation window, take the
 * argmax, compare with the symbol's class. Returns counts so batches can be pooled.
 */
export function windowAccuracyCounts(logits: tf.Tensor3D, batch: Batch): { correct: number; total: number } {
  const predicted = tf.tidy(() => tf.argMax(tf.matMul(windowMatrix(batch), tf.softmax(logits)), 2).dataSync());
  let correct = 0;
  let total = 0;
  for (let i = 0; i < batch.symbolTargets.length; i++) {
    const target = batch.symbolTargets[i]!;
    if (target < 0) continue;
    total++;
    if (predicted[i] === target) correct++;
  }
  return { correct, total };
}

/** Class counts over the symbols of a batch (for the majority-class baseline). */
export function addSymbolClassCounts(batch: Batch, counts: Map<number, number>): void {
  for (const c of batch.symbolTargets) if (c >= 0) counts.set(c, (counts.get(c) ?? 0) + 1);
}
