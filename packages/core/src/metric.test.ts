import { describe, expect, it } from "vitest";
import { maskedCrossEntropySum, windowAccuracyCounts } from "./metric.js";
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

describe("window accuracy (tasks.md §4)", () => {
  it("sums probabilities over the window before the argmax", () => {
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
    expect(windowAccuracyCounts(logits, handBatch())).toEqual({ correct: 2, total: 2 });
  });

  it("counts a wrong window and ignores padding", () => {
    const p = [
      [0.9, 0.1],
      [0.9, 0.1],
      [0.4, 0.6],
      [0.3, 0.7],
      [0.99, 0.01],
    ];
    const logits = tf.tensor3d([p.map((r) => r.map(Math.log))]);
    // Symbol 0: class 0 sums 2.2 vs 0.8 → wrong; symbol 1: class 1 → wrong (target 0).
    expect(windowAccuracyCounts(logits, handBatch())).toEqual({ correct: 0, total: 2 });
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
