import { describe, expect, it } from "vitest";
import { RecNet, headsForWidth } from "./recnet.js";
import { tf } from "./tf.js";
import { tiny } from "./tiny-model.fixture.js";

describe("RecNet wrapper (docs/spec/MODELS.md §1)", () => {
  const shape = { inputSize: 5, numClasses: 7, width: 8, layers: 2, heads: 2, dropout: 0.2 };

  it("has encoder + layers + LayerNorms + decoder parameters, initialised from the seed", () => {
    const a = new RecNet(tiny, {}, shape, 11);
    const b = new RecNet(tiny, {}, shape, 11);
    const c = new RecNet(tiny, {}, shape, 12);
    const d = 8;
    expect(a.parameterCount).toBe(5 * d + d + 2 * (tiny.parametersPerLayer(d, 2, {}) + 2 * d) + d * 7 + 7);
    const x = tf.randomUniform([2, 6, 5], 0, 1, "float32", 3) as tf.Tensor3D;
    const la = a.logits(x, { training: false }).arraySync();
    expect(b.logits(x, { training: false }).arraySync()).toEqual(la);
    expect(c.logits(x, { training: false }).arraySync()).not.toEqual(la);
    for (const n of [a, b, c]) n.dispose();
  });

  it("streaming step by step equals the full forward pass; dropout is seeded", () => {
    const net = new RecNet(tiny, {}, shape, 5);
    const x = tf.randomUniform([2, 9, 5], 0, 1, "float32", 4) as tf.Tensor3D;
    const full = net.logits(x, { training: false });
    let states = net.initialState(2);
    const steps: tf.Tensor2D[] = [];
    for (let t = 0; t < 9; t++) {
      const r = net.step(tf.reshape(tf.slice(x, [0, t, 0], [2, 1, 5]), [2, 5]) as tf.Tensor2D, states);
      states = r.states;
      steps.push(r.logits);
    }
    const streamed = tf.stack(steps, 1);
    expect(tf.max(tf.abs(tf.sub(full, streamed))).dataSync()[0]).toBeLessThan(1e-5);
    const d1 = net.logits(x, { training: true, dropoutSeed: 9 }).arraySync();
    expect(net.logits(x, { training: true, dropoutSeed: 9 }).arraySync()).toEqual(d1);
    expect(net.logits(x, { training: true, dropoutSeed: 10 }).arraySync()).not.toEqual(d1);
    net.dispose();
  });

  it("picks heads like the reference (docs/spec/MODELS.md §0)", () => {
    const table: [number, number][] = [
      [64, 4],
      [256, 4],
      [512, 4],
      [648, 8],
      [768, 8],
      [1024, 8],
      [1152, 16],
      [1296, 16],
    ];
    for (const [d, h] of table) expect(headsForWidth(d), `d=${d}`).toBe(h);
  });
});
