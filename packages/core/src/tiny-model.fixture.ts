import type { LayerBuildContext, LayerState, ModelDefinition, SequenceLayer } from "./model.js";
import { Linear, mergeHeads, splitHeads } from "./nn/layers.js";
import { linearRecurrence, recurrenceStep } from "./recurrence/linear/index.js";
import { zeroState } from "./recurrence/tensor-ops.js";
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

export const tiny: ModelDefinition = {
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
