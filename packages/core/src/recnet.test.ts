import { describe, expect, it } from "vitest";
import type { LayerBuildContext, LayerState, ModelDefinition, SequenceLayer } from "./model.js";
import { Linear, mergeHeads, splitHeads } from "./nn/layers.js";
import { RecNet, headsForWidth } from "./recnet.js";
import { linearRecurrence, recurrenceStep, zeroState } from "./recurrence/linear-recurrence.js";
import { tf } from "./tf.js";

/** A minimal scalar-decay layer composed from the engine, to test the wrapper independently of any model. */
class TinyRetention implements SequenceLayer {
  private readonly qkv: Linear;
  private readonly gate: Linear;
  private readonly dk: number;

  constructor(private readonly ctx: LayerBuildContext) {
    this.qkv = new Linear(ctx.params, "qkv", ctx.dModel, 3 * ctx.dModel, { bias: false });
    this.gate = new Linear(ctx.params, "gate", ctx.dModel, ctx.heads, { bias: true });
    this.dk = ctx.dModel / ctx.heads;
  }

  forward(x: tf.Tensor3D, o: { training: boolean; form?: "chunked" | "stepwise" }): tf.Tensor3D {
    const [q, k, v] = tf.split(this.qkv.apply(x), 3, 2) as tf.Tensor3D[];
    const logAlpha = tf.transpose(tf.neg(tf.softplus(tf.neg(this.gate.apply(x)))), [0, 2, 1]) as tf.Tensor3D;
    const h = (t: tf.Tensor3D) => splitHeads(t, this.ctx.heads);
    return mergeHeads(
      linearRecurrence({ query: h(q!), key: h(k!), value: h(v!), decay: { kind: "scalar", logAlpha } }, o.form ?? "chunked", {
        chunkSize: 4,
      }).output,
    );
  }

  initialState(batch: number): LayerState {
    return [zeroState(batch, this.ctx.heads, this.dk, this.dk)];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    const [b, d] = x.shape;
    const [q, k, v] = tf.split(this.qkv.apply(x), 3, 1) as tf.Tensor2D[];
    const h = (t: tf.Tensor2D) => tf.reshape(t, [b, this.ctx.heads, this.dk]) as tf.Tensor3D;
    const logAlpha = tf.neg(tf.softplus(tf.neg(this.gate.apply(x))));
    const r = recurrenceStep(state[0] as tf.Tensor4D, h(q!), h(k!), h(v!), "scalar", logAlpha);
    return { y: tf.reshape(r.output, [b, d]) as tf.Tensor2D, state: [r.state] };
  }
}

const tiny: ModelDefinition = {
  id: "tiny",
  description: "test layer",
  schema: {},
  defaults: {},
  taxonomy: {
    transition: "scalar",
    transitionDetail: "",
    write: "",
    readout: "",
    outputGate: false,
    complementaryGating: false,
    channelMixing: false,
    stateSize: (d, h) => (d * d) / h,
  },
  createLayer: (ctx) => new TinyRetention(ctx),
  parametersPerLayer: (d, h) => 3 * d * d + d * h + h,
};

describe("RecNet wrapper (models.md §1)", () => {
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

  it("picks heads like the reference (models.md §0)", () => {
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
