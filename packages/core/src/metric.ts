import { maskedCrossEntropySumKernel } from "./metric-kernel.js";
import { prefersRegisteredKernels } from "./recurrence/kernels.js";
import type { Batch } from "./task.js";
import { tf } from "./tf.js";

/**
 * Cross-entropy of per-step logits against per-step targets, summed over valid steps (docs/spec/TASKS.md §4).
 * Divide by the valid-step count for the mean. The target log-probability is picked with a one-hot product
 * (gather has no gradient on wasm).
 */
export function maskedCrossEntropySum(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  // On webgpu: the registered kernels (./metric-kernel.ts), 2–3 dispatches instead of ~20 with the gradient.
  if (prefersRegisteredKernels()) return maskedCrossEntropySumKernel(logits, targets, mask);
  return maskedCrossEntropySumOps(logits, targets, mask);
}

/** The TF-op form (cpu and wasm train with it; the oracle of ./metric-kernel.ts). */
export function maskedCrossEntropySumOps(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
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
 * Symbol accuracy (docs/spec/TASKS.md §4): sum the softmax probabilities over each symbol's evaluation window, take the
 * argmax, compare with the symbol's class. Returns counts so batches can be pooled.
 */
export async function windowAccuracyCounts(logits: tf.Tensor3D, batch: Batch): Promise<{ correct: number; total: number }> {
  const argmax = tf.tidy(() => tf.argMax(tf.matMul(windowMatrix(batch), tf.softmax(logits)), 2));
  const predicted = await argmax.data();
  argmax.dispose();
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

/** The reference's smoothing of a target distribution before the KL divergence: p ← (p + ε) / Σ(p + ε). */
export const KL_TARGET_EPSILON = 1e-6;

/** Target rows after smoothing, with Σ_c p̃_c log p̃_c of each row (float64). */
export interface SmoothedDistributions {
  readonly rows: Float32Array;
  readonly negativeEntropy: Float64Array;
}

const smoothedCache = new WeakMap<Float32Array, SmoothedDistributions>();

/** Smooths each C-wide row of `rows` as the reference does (KL_TARGET_EPSILON); cached per rows array. */
export function smoothedDistributions(rows: Float32Array, numClasses: number): SmoothedDistributions {
  const cached = smoothedCache.get(rows);
  if (cached && cached.rows.length === rows.length) return cached;
  if (rows.length % numClasses !== 0) {
    throw new RangeError(`target distributions: ${rows.length} numbers are not rows of ${numClasses} classes`);
  }
  const count = rows.length / numClasses;
  const smoothed = new Float32Array(rows.length);
  const negativeEntropy = new Float64Array(count);
  for (let r = 0; r < count; r++) {
    const base = r * numClasses;
    let total = 0;
    for (let c = 0; c < numClasses; c++) total += rows[base + c]! + KL_TARGET_EPSILON;
    let h = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = (rows[base + c]! + KL_TARGET_EPSILON) / total;
      smoothed[base + c] = p;
      h += p * Math.log(p);
    }
    negativeEntropy[r] = h;
  }
  const result = { rows: smoothed, negativeEntropy };
  smoothedCache.set(rows, result);
  return result;
}

/**
 * KL divergence of prediction mode (docs/spec/TASKS.md §4): Σ over the batch's masked steps of KL(p̃_t ‖ softmax(logits_t)),
 * where p̃_t is step t's target distribution smoothed as the reference does. Returns the sum and the (mask-weighted)
 * step count, so batches can be pooled into a mean per step (the reference's `batchmean` over masked steps).
 */
export async function maskedKlDivergenceSum(logits: tf.Tensor3D, batch: Batch): Promise<{ sum: number; steps: number }> {
  const distributions = batch.targetDistributions;
  if (!distributions) throw new Error("KL divergence: the batch has no target distributions (not a prediction task)");
  const [b, t, c] = logits.shape;
  const { rows, negativeEntropy } = smoothedDistributions(distributions.rows, c);
  const index = distributions.index;
  const rowIds = new Int32Array(b * t);
  for (let k = 0; k < rowIds.length; k++) {
    const r = index[k]!;
    if (batch.mask[k]! !== 0 && !(r >= 0 && r < negativeEntropy.length)) {
      throw new Error(`KL divergence: step ${k} is masked in but has target row ${r} of ${negativeEntropy.length}`);
    }
    rowIds[k] = Math.max(0, r);
  }
  // Σ_c p̃_c log q_c per step; the rows are gathered per step (inference only: gather needs no gradient here).
  const crossTensor = tf.tidy(() => {
    const logq = tf.logSoftmax(tf.reshape(logits, [b * t, c]));
    const p = tf.gather(tf.tensor2d(rows, [negativeEntropy.length, c]), tf.tensor1d(rowIds, "int32"));
    return tf.sum(tf.mul(p, logq), 1);
  });
  const cross = await crossTensor.data();
  crossTensor.dispose();
  let sum = 0;
  let steps = 0;
  for (let k = 0; k < rowIds.length; k++) {
    const m = batch.mask[k]!;
    if (m === 0) continue;
    sum += m * (negativeEntropy[rowIds[k]!]! - cross[k]!);
    steps += m;
  }
  return { sum, steps };
}
