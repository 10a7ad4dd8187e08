// Evaluation memory (docs/spec/TASKS.md §5.1): batches hold about EVAL_TOKEN_BUDGET steps, so long test samples —
// Task 4 at a 60 s gap is 200 × 601 = 120,200 steps per sample — are evaluated one at a time.
import { describe, expect, it } from "vitest";
import { initBackend } from "./backend.js";
import { EVAL_TOKEN_BUDGET, evaluateModel, evaluationBatchSize } from "./evaluation.js";
import { activationFloatBudget } from "./optimizer-step.js";
import { RecNet } from "./recnet.js";
import type { Batch, TaskInstance } from "./task.js";
import { tf } from "./tf.js";
import { tiny } from "./tiny-model.fixture.js";

/** `count` samples of `symbols` symbols, each followed by `gap` blank steps (Task 4's test layout). */
function gappedBatch(count: number, symbols: number, gap: number): Batch {
  const steps = symbols * (1 + gap);
  const [F, C] = [5, 7];
  const inputs = new Float32Array(count * steps * F);
  const targets = new Int32Array(count * steps);
  const windows = new Int32Array(count * steps);
  const symbolTargets = new Int32Array(count * symbols);
  for (let b = 0; b < count; b++) {
    for (let i = 0; i < symbols; i++) {
      const c = (b + 3 * i) % C;
      symbolTargets[b * symbols + i] = c;
      inputs[(b * steps + i * (1 + gap)) * F + (i % F)] = 1;
      for (let k = 0; k <= gap; k++) {
        targets[b * steps + i * (1 + gap) + k] = c;
        windows[b * steps + i * (1 + gap) + k] = i;
      }
    }
  }
  return {
    size: count,
    steps,
    inputSize: F,
    maxSymbols: symbols,
    inputs,
    targets,
    mask: new Float32Array(count * steps).fill(1),
    windows,
    symbolTargets,
  };
}

/** A task whose `testSize` test samples have 200 symbols and `gap`-step gaps; records the batch sizes asked for. */
function longTask(gap: number, testSize: number, asked: number[]): TaskInstance {
  return {
    inputSize: 5,
    numClasses: 7,
    summary: {},
    splitSize: (split) => (split === "train" ? 8 : testSize),
    batch: (_split, _start, count): Batch => {
      asked.push(count);
      return gappedBatch(count, 200, gap);
    },
  };
}

describe("evaluation batches per backend", () => {
  it("the paper's test batches: 50 samples (the configured size) under webgpu's budget, 11 under the CPU one", () => {
    const paper = { shape: { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0 }, definition: tiny };
    const net = paper as unknown as RecNet;
    expect(evaluationBatchSize(net, 400, 50, activationFloatBudget("webgpu"))).toBe(50);
    expect(evaluationBatchSize(net, 400, 50, activationFloatBudget("wasm"))).toBe(11);
  });
});

describe("evaluation of long test samples (bounded memory)", () => {
  it("a 60 s gap (120,200 steps per sample) is evaluated one sample per pass; the peak does not grow with the test split", async () => {
    await initBackend("cpu");
    const net = new RecNet(tiny, {}, { inputSize: 5, numClasses: 7, width: 8, layers: 2, heads: 2, dropout: 0 }, 1);
    const steps = 200 * 601;
    expect(evaluationBatchSize(net, steps, 50)).toBe(1);
    // 10 s (100-step gaps, the paper's longest): 20,200 steps per sample, 3 to a pass.
    expect(evaluationBatchSize(net, 200 * 101, 50)).toBe(Math.floor(EVAL_TOKEN_BUDGET / (200 * 101)));
    const peak = async (testSize: number) => {
      const asked: number[] = [];
      const tensorsBefore = tf.memory().numTensors;
      const profile = await tf.profile(async () => {
        await evaluateModel(net, longTask(600, testSize, asked), 50, 0);
      });
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      return { peakBytes: profile.peakBytes, asked };
    };
    const one = await peak(1);
    const two = await peak(2);
    // The first request is one sample (to learn the length); then one sample per pass.
    expect(two.asked).toEqual([1, 1, 1]);
    expect(two.peakBytes).toBe(one.peakBytes);
    // Per step of the one sample: the window matrix of the accuracy (S = 200 floats a step, metric.ts) and a few
    // width-sized activations and logits (measured 1,112 bytes a step at width 8: 134 MB for the sample).
    expect(one.peakBytes / steps).toBeLessThan(4 * (200 + 16 * 8 + 2 * 7));
    net.dispose();
  });
});
