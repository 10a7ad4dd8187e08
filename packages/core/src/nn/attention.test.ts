import { describe, expect, it } from "vitest";
import { tf } from "../tf.js";
import { attentionStep, causalAttention, causalAttentionOps } from "./attention.js";

describe("causal attention", () => {
  it("query blocks, the full matrix and step-by-step decoding agree (values and gradients)", () => {
    const [b, h, t, d] = [2, 2, 11, 4];
    const q = tf.randomNormal([b, h, t, d], 0, 1, "float32", 1) as tf.Tensor4D;
    const k = tf.randomNormal([b, h, t, d], 0, 1, "float32", 2) as tf.Tensor4D;
    const v = tf.randomNormal([b, h, t, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const full = causalAttention(q, k, v, 0.5, 1000);
    for (const block of [1, 3, 4, 11]) {
      expect(tf.max(tf.abs(tf.sub(causalAttention(q, k, v, 0.5, block), full))).dataSync()[0]).toBeLessThan(1e-5);
      expect(tf.max(tf.abs(tf.sub(causalAttention(q, k, v, 0.5, block, true), full))).dataSync()[0]).toBeLessThan(1e-5);
      const f = (block2: number) => (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) =>
        tf.sum(tf.sin(causalAttention(a as tf.Tensor4D, c as tf.Tensor4D, e as tf.Tensor4D, 0.5, block2))) as tf.Scalar;
      const g1 = tf.grads(f(block))([q, k, v]);
      const g2 = tf.grads(f(1000))([q, k, v]);
      for (let i = 0; i < 3; i++) expect(tf.max(tf.abs(tf.sub(g1[i]!, g2[i]!))).dataSync()[0]).toBeLessThan(1e-5);
    }
    let cache: { keys?: tf.Tensor4D; values?: tf.Tensor4D } = {};
    for (let i = 0; i < t; i++) {
      const at = (x: tf.Tensor4D) => tf.reshape(tf.slice(x, [0, 0, i, 0], [b, h, 1, x.shape[3]]), [b, h, x.shape[3]]) as tf.Tensor3D;
      const r = attentionStep(at(q), at(k), at(v), cache, 0.5);
      cache = r;
      expect(tf.max(tf.abs(tf.sub(r.output, at(full)))).dataSync()[0]).toBeLessThan(1e-5);
    }
    // The first position attends only to itself.
    expect(
      tf.max(tf.abs(tf.sub(tf.slice(full, [0, 0, 0, 0], [b, h, 1, 3]), tf.slice(v, [0, 0, 0, 0], [b, h, 1, 3])))).dataSync()[0],
    ).toBeLessThan(1e-6);
  });

  // The TF-op form's property (the registered kernels of ./attention-kernel.ts store no scores at all).
  it("inference frees each query block's scores: peak memory grows linearly in T, not quadratically", async () => {
    const peakOf = async (t: number, inference: boolean): Promise<number> => {
      const q = tf.randomNormal([1, 2, t, 8], 0, 1, "float32", 1) as tf.Tensor4D;
      const info = await tf.profile(() => tf.tidy(() => causalAttentionOps(q, q, q, 0.5, 32, inference)));
      q.dispose();
      return info.peakBytes;
    };
    const [a, b, full] = [await peakOf(512, true), await peakOf(1024, true), await peakOf(1024, false)];
    expect(b / a).toBeLessThan(2.5); // kept: all blocks' scores, ~T²/2 floats per head
    expect(full / b).toBeGreaterThan(4);
  });
});
