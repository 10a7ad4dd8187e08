// The wasm backend's Identity shares the input's buffer (backend.ts, shareIdentityBuffers) instead of copying it.
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./backend.js";
import { tf } from "./tf.js";

describe("Identity on wasm shares buffers", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("a clone keeps its values after the original is disposed, and both free their buffer", () => {
    expect(tf.getBackend()).toBe("wasm");
    const dataIds = () => tf.engine().backend.numDataIds();
    const before = dataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    expect(dataIds()).toBe(before + 1); // one buffer, two tensors
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
    expect(dataIds()).toBe(before);
  });

  it("a variable assigned from a clone does not change the clone", () => {
    const x = tf.tensor1d([4, 5]);
    const v = tf.variable(tf.clone(x));
    v.assign(tf.tensor1d([7, 8]));
    expect(Array.from(x.dataSync())).toEqual([4, 5]);
    expect(Array.from(v.dataSync())).toEqual([7, 8]);
    tf.dispose([x, v]);
  });

  it("gradients through ops that save their inputs equal the cpu backend's", async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor2d([0.3, -1.2, 2, 0.5, 1.5, -0.7], [2, 3]);
        const w = tf.tensor2d([0.1, 0.2, -0.3, 0.4, 0.5, -0.6], [3, 2]);
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.exp(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)), tf.tanh(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D))));
        return tf
          .grads(f)([x, w])
          .map((g) => Array.from(g.dataSync()));
      });
    const onWasm = run();
    await initBackend("cpu");
    const onCpu = run();
    await initBackend("wasm");
    for (let i = 0; i < onCpu.length; i++) for (let j = 0; j < onCpu[i]!.length; j++) expect(onWasm[i]![j]).toBeCloseTo(onCpu[i]![j]!, 5);
  });
});
