import { describe, expect, it } from "vitest";
import { batchTensors } from "./batch-tensors.js";
import { Adam } from "./optim.js";
import { RecNet } from "./recnet.js";
import { syntheticBatch } from "./testkit/backend-parity.js";
import { tf } from "./tf.js";
import { tiny } from "./tiny-model.fixture.js";
import {
  ACTIVATION_FLOAT_BUDGET,
  type GradientHelper,
  type PassGradients,
  activationFloatsPerStep,
  microBatchSize,
  activationFloatBudget,
  GPU_ACTIVATION_FLOAT_BUDGET,
  passGradients,
  trainingStep,
} from "./optimizer-step.js";

const shape = { inputSize: 5, numClasses: 7, width: 8, layers: 2, heads: 2, dropout: 0 };

/**
 * A helper in this thread with its own copy of the network (another seed: the weights it is sent must count),
 * as a worker thread runs it; it records which passes it was given.
 */
function inThreadHelper(taken: number[]): GradientHelper {
  const net = new RecNet(tiny, {}, shape, 99);
  const variables = new Map(net.store.entries());
  return {
    passes({ weights, batch, wholeBatch, validSteps, passes }) {
      for (const [path, v] of variables) v.assign(tf.tensor(weights[path]!, v.shape));
      const full = batchTensors(batch);
      const valid = tf.scalar(validSteps);
      const out = passes.map((pass): Promise<PassGradients> => {
        taken.push(pass.index);
        const r = passGradients(net, variables, full, pass, wholeBatch, valid);
        const grads: Record<string, Float32Array> = {};
        for (const [path, g] of Object.entries(r.grads)) grads[path] = g.dataSync() as Float32Array;
        const loss = r.loss.dataSync()[0]!;
        tf.dispose([r.loss, ...Object.values(r.grads)]);
        return Promise.resolve({ loss, grads });
      });
      tf.dispose([full.inputs, full.targets, full.mask, valid]);
      return out;
    },
    dispose: async () => net.dispose(),
  };
}

async function trainTwoSteps(
  microBatch: number,
  helpers: readonly GradientHelper[] = [],
): Promise<{ losses: number[]; norms: number[]; weights: Float32Array[] }> {
  const net = new RecNet(tiny, {}, shape, 3);
  const adam = new Adam();
  const variables = new Map(net.store.entries());
  const batch = syntheticBatch(7, 11, 5, 7);
  const losses: number[] = [];
  const norms: number[] = [];
  for (let step = 0; step < 2; step++) {
    const r = await trainingStep(net, adam, variables, batch, { seed: 1, step, lr: 1e-2, clipNorm: 1, microBatch, helpers });
    expect(r.applied).toBe(true);
    losses.push(r.loss);
    norms.push(r.gradNorm);
  }
  const weights = [...variables.values()].map((v) => v.dataSync() as Float32Array);
  adam.dispose();
  net.dispose();
  return { losses, norms, weights };
}

describe("trainingStep (gradient summed over micro-batches)", () => {
  it("equals the whole-batch step for micro-batches of 1, 2, 3 and 7 samples (7 = one pass)", async () => {
    const whole = await trainTwoSteps(7);
    for (const micro of [1, 2, 3]) {
      const split = await trainTwoSteps(micro);
      for (let i = 0; i < 2; i++) {
        expect(split.losses[i]).toBeCloseTo(whole.losses[i]!, 5);
        expect(split.norms[i]).toBeCloseTo(whole.norms[i]!, 5);
      }
      for (let v = 0; v < whole.weights.length; v++) {
        const a = whole.weights[v]!;
        const b = split.weights[v]!;
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        expect(worst, `micro ${micro}, variable ${v}`).toBeLessThan(1e-5);
      }
    }
  });

  it("gives the same losses, norms and weights, bit for bit, when helpers take every other pass", async () => {
    for (const [micro, count] of [
      [2, 1],
      [1, 2],
      [3, 1],
    ] as const) {
      const alone = await trainTwoSteps(micro);
      const taken: number[] = [];
      const helpers = Array.from({ length: count }, () => inThreadHelper(taken));
      const shared = await trainTwoSteps(micro, helpers);
      await Promise.all(helpers.map((h) => h.dispose()));
      expect(shared.losses).toEqual(alone.losses);
      expect(shared.norms).toEqual(alone.norms);
      expect(shared.weights).toEqual(alone.weights);
      // Passes p with p mod (helpers + 1) ≠ 0 went to the helpers, in both steps.
      const parts = Math.ceil(7 / micro);
      const expected = Array.from({ length: parts }, (_, p) => p).filter((p) => p % (count + 1) !== 0);
      expect([...taken].sort((a, b) => a - b)).toEqual([...expected, ...expected].sort((a, b) => a - b));
    }
  });

  it("leaks no tensors", async () => {
    const net = new RecNet(tiny, {}, shape, 3);
    const adam = new Adam();
    const variables = new Map(net.store.entries());
    const batch = syntheticBatch(5, 6, 5, 7);
    await trainingStep(net, adam, variables, batch, { seed: 1, step: 0, lr: 1e-2, clipNorm: 1, microBatch: 2 });
    const before = tf.memory().numTensors;
    await trainingStep(net, adam, variables, batch, { seed: 1, step: 1, lr: 1e-2, clipNorm: 1, microBatch: 2 });
    expect(tf.memory().numTensors).toBe(before);
    adam.dispose();
    net.dispose();
  });

  it("splits automatically only when a pass would exceed the activation budget, in equal parts", () => {
    const small = new RecNet(tiny, {}, shape, 1);
    expect(microBatchSize(syntheticBatch(32, 130, 5, 7), small, 0)).toBe(32);
    expect(microBatchSize(syntheticBatch(32, 130, 5, 7), small, 5)).toBe(5);
    expect(microBatchSize(syntheticBatch(4, 3, 5, 7), small, 9)).toBe(4);
    small.dispose();
    // The paper's shape: 64 samples × 400 steps, width 256, 8 layers, 1601 classes.
    const perSample = 400 * activationFloatsPerStep(256, 8, 1601);
    const parts = Math.ceil((64 * perSample) / ACTIVATION_FLOAT_BUDGET);
    expect(parts).toBeGreaterThan(1);
    const micro = Math.ceil(64 / parts);
    expect(micro * perSample).toBeLessThanOrEqual(ACTIVATION_FLOAT_BUDGET * 1.5);
  });

  it("webgpu's budget (GPU memory) takes the paper's GLA batch as one pass, where cpu and wasm split it", () => {
    const paperShape = { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0 };
    const net = { shape: paperShape, definition: tiny } as unknown as RecNet;
    const batch = { size: 64, steps: 400 } as unknown as Parameters<typeof microBatchSize>[0];
    expect(activationFloatBudget("webgpu")).toBe(GPU_ACTIVATION_FLOAT_BUDGET);
    expect(activationFloatBudget("wasm")).toBe(ACTIVATION_FLOAT_BUDGET);
    expect(microBatchSize(batch, net, 0, activationFloatBudget("webgpu"))).toBe(64);
    expect(microBatchSize(batch, net, 0, activationFloatBudget("cpu"))).toBeLessThan(64);
    expect(microBatchSize(batch, net, 16, activationFloatBudget("webgpu"))).toBe(16);
  });
});
