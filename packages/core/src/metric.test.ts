import { describe, expect, it } from "vitest";
import { KL_TARGET_EPSILON, maskedCrossEntropySum, maskedKlDivergenceSum, smoothedDistributions, windowAccuracyCounts } from "./metric.js";
import type { Batch } from "./task.js";
import { tf } from "./tf.js";

/** One sample, 2 classes: symbol 0 holds steps 0–2 (a 2-step gap), symbol 1 holds step 3, step 4 is padding. */
function handBatch(): Batch {
  return {
    size: 1,
    steps: 5,
    inputSize: 1,
    maxSymbols: 2,
    inputs: new Float32Array(5),
    targets: Int32Array.from([1, 1, 1, 0, 0]),
    mask: Float32Array.from([1, 1, 1, 1, 0]),
    windows: Int32Array.from([0, 0, 0, 1, -1]),
    symbolTargets: Int32Array.from([1, 0]),
  };
}

describe("window accuracy (docs/spec/TASKS.md §4)", () => {
  it("sums probabilities over the window before the argmax", async () => {
    // Step 0 is confidently right, steps 1 and 2 mildly wrong: a per-step vote says class 0, but summed
    // probabilities say class 1 (0.95 + 0.45 + 0.45 = 1.85 > 1.15).
    const p = [
      [0.05, 0.95],
      [0.55, 0.45],
      [0.55, 0.45],
      [0.8, 0.2],
      [0.01, 0.99],
    ];
    const logits = tf.tensor3d([p.map((r) => r.map(Math.log))]);
    expect(await windowAccuracyCounts(logits, handBatch())).toEqual({ correct: 2, total: 2 });
  });

  it("counts a wrong window and ignores padding", async () => {
    const p = [
      [0.9, 0.1],
      [0.9, 0.1],
      [0.4, 0.6],
      [0.3, 0.7],
      [0.99, 0.01],
    ];
    const logits = tf.tensor3d([p.map((r) => r.map(Math.log))]);
    // Symbol 0: class 0 sums 2.2 vs 0.8 → wrong; symbol 1: class 1 → wrong (target 0).
    expect(await windowAccuracyCounts(logits, handBatch())).toEqual({ correct: 0, total: 2 });
  });
});

describe("masked cross-entropy", () => {
  it("is −Σ log p(target) over valid steps", () => {
    const p = [
      [0.25, 0.75],
      [0.5, 0.5],
      [0.1, 0.9],
      [0.6, 0.4],
      [0.5, 0.5],
    ];
    const logits = tf.tensor3d([p.map((r) => r.map(Math.log))]);
    const b = handBatch();
    const sum = maskedCrossEntropySum(logits, tf.tensor2d(b.targets, [1, 5], "int32"), tf.tensor2d(b.mask, [1, 5])).dataSync()[0]!;
    const expected = -(Math.log(0.75) + Math.log(0.5) + Math.log(0.9) + Math.log(0.6));
    expect(sum).toBeCloseTo(expected, 5);
  });
});

describe("KL divergence of prediction mode (docs/spec/TASKS.md §4)", () => {
  // Two target rows over 3 classes: a branching row and the one-hot row of "#".
  const rows = Float32Array.from([0, 0.5, 0.5, 1, 0, 0]);
  const eps = KL_TARGET_EPSILON;
  /** The reference's smoothing, by hand: (p + ε) / Σ(p + ε). */
  const smooth = (p: number[]) => p.map((x) => (x + eps) / (1 + 3 * eps));
  function predictionBatch(): Batch {
    // Steps 0–1 hold row 0, step 2 row 1, step 3 is padding.
    return {
      ...handBatch(),
      steps: 4,
      targets: Int32Array.from([1, 2, 0, 0]),
      mask: Float32Array.from([1, 1, 1, 0]),
      windows: Int32Array.from([0, 0, 1, -1]),
      targetDistributions: { rows, index: Int32Array.from([0, 0, 1, -1]) },
    };
  }

  it("is ≈ 0 for a model whose log-probabilities are the (smoothed) targets", async () => {
    const p = [smooth([0, 0.5, 0.5]), smooth([0, 0.5, 0.5]), smooth([1, 0, 0]), [1 / 3, 1 / 3, 1 / 3]];
    const logits = tf.tensor3d([p.map((r) => r.map(Math.log))]);
    const { sum, steps } = await maskedKlDivergenceSum(logits, predictionBatch());
    expect(steps).toBe(3);
    expect(Math.abs(sum)).toBeLessThan(1e-5);
  });

  it("is Σ p̃ log p̃ + log C per step for a uniform model, and ignores padding", async () => {
    const logits = tf.tensor3d([[0, 0, 0].map(() => [5, 5, 5]).concat([[9, -9, 0]])]);
    const klOf = (p: number[]) => smooth(p).reduce((a, q) => a + q * Math.log(q), 0) + Math.log(3);
    const branching = klOf([0, 0.5, 0.5]); // ≈ log 3 − log 2
    const end = klOf([1, 0, 0]); // ≈ log 3
    expect(branching).toBeCloseTo(Math.log(3 / 2), 4);
    expect(end).toBeCloseTo(Math.log(3), 4);
    const { sum, steps } = await maskedKlDivergenceSum(logits, predictionBatch());
    expect(steps).toBe(3);
    expect(sum / steps).toBeCloseTo((2 * branching + end) / 3, 5);
  });

  it("smooths each row as the reference does", () => {
    const s = smoothedDistributions(rows, 3);
    expect(Array.from(s.rows)).toEqual(
      smooth([0, 0.5, 0.5])
        .concat(smooth([1, 0, 0]))
        .map(Math.fround),
    );
    expect(s.negativeEntropy[1]).toBeCloseTo(
      smooth([1, 0, 0]).reduce((a, q) => a + q * Math.log(q), 0),
      12,
    );
  });

  it("refuses a masked-in step without a target row", async () => {
    const b = predictionBatch();
    const broken = { ...b, targetDistributions: { rows, index: Int32Array.from([0, -1, 1, -1]) } };
    await expect(maskedKlDivergenceSum(tf.zeros([1, 4, 3]) as tf.Tensor3D, broken)).rejects.toThrow(/step 1/);
  });
});
