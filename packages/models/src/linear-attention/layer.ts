import {
  Linear,
  RMSNorm,
  ShortConv,
  linearRecurrence,
  mergeHeads,
  recurrenceStep,
  splitHeads,
  tf,
  zeroState,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { linearAttentionWidths, type LinearAttentionConfig } from "./config.js";

/**
 * Plain (causal) linear attention in the fla skeleton of models.md §3, with no decay: per head
 * S_t = S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  q̂ = q/√d_k, where q, k, v come from projections and short
 * convs with SiLU; then a per-head RMSNorm (weight shared by heads, no gate) and o_proj.
 */
export class LinearAttention implements SequenceLayer {
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly headKeyDim: number;
  readonly headValueDim: number;

  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly qConv?: ShortConv;
  private readonly kConv?: ShortConv;
  private readonly vConv?: ShortConv;
  private readonly outNorm: RMSNorm;
  private readonly oProj: Linear;

  constructor(
    context: LayerBuildContext,
    private readonly config: LinearAttentionConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.heads = context.heads;
    const widths = linearAttentionWidths(d, this.heads, config);
    this.keyDim = widths.keyDim;
    this.valueDim = widths.valueDim;
    this.headKeyDim = widths.headKeyDim;
    this.headValueDim = widths.headValueDim;

    this.qProj = new Linear(scope, "q_proj", d, this.keyDim, { bias: false });
    this.kProj = new Linear(scope, "k_proj", d, this.keyDim, { bias: false });
    this.vProj = new Linear(scope, "v_proj", d, this.valueDim, { bias: false });
    if (config.useShortConv) {
      const conv = (name: string, channels: number) =>
        new ShortConv(scope, name, channels, config.convSize, { bias: false, activation: "silu" });
      this.qConv = conv("q_conv1d", this.keyDim);
      this.kConv = conv("k_conv1d", this.keyDim);
      this.vConv = conv("v_conv1d", this.valueDim);
    }
    this.outNorm = new RMSNorm(scope, "o_norm", this.headValueDim, 1e-5);
    this.oProj = new Linear(scope, "o_proj", this.valueDim, d, { bias: false });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const q = this.qConv ? this.qConv.apply(this.qProj.apply(x)) : this.qProj.apply(x);
      const k = this.kConv ? this.kConv.apply(this.kProj.apply(x)) : this.kProj.apply(x);
      const v = this.vConv ? this.vConv.apply(this.vProj.apply(x)) : this.vProj.apply(x);
      const { output } = linearRecurrence(
        {
          query: splitHeads(tf.mul(q, 1 / Math.sqrt(this.headKeyDim)), this.heads),
          key: splitHeads(k, this.heads),
          value: splitHeads(v, this.heads),
          decay: { kind: "none" },
        },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      const readout = tf.reshape(mergeHeads(output), [b, t, this.heads, this.headValueDim]);
      return this.oProj.apply(tf.reshape(this.outNorm.apply(readout), [b, t, this.valueDim]) as tf.Tensor3D);
    });
  }

  /** Conv windows of q, k, v (with short convs) and S ∈ [B, H, d_k, d_v]. */
  initialState(batch: number): LayerState {
    const windows = [this.qConv, this.kConv, this.vConv].flatMap((conv) => (conv ? [conv.initialWindow(batch)] : []));
    return [...windows, zeroState(batch, this.heads, this.headKeyDim, this.headValueDim)];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const b = x.shape[0];
      const recurrent = state[state.length - 1] as tf.Tensor4D;
      let q: tf.Tensor2D = this.qProj.apply(x);
      let k: tf.Tensor2D = this.kProj.apply(x);
      let v: tf.Tensor2D = this.vProj.apply(x);
      const windows: tf.Tensor3D[] = [];
      if (this.qConv && this.kConv && this.vConv) {
        const convolved = [
          this.qConv.step(q, state[0] as tf.Tensor3D),
          this.kConv.step(k, state[1] as tf.Tensor3D),
          this.vConv.step(v, state[2] as tf.Tensor3D),
        ];
        [q, k, v] = convolved.map((c) => c.y);
        windows.push(...convolved.map((c) => c.window));
      }
      const perHead = (y: tf.Tensor2D) => tf.reshape(y, [b, this.heads, y.shape[1] / this.heads]) as tf.Tensor3D;
      const r = recurrenceStep(recurrent, perHead(tf.mul(q, 1 / Math.sqrt(this.headKeyDim))), perHead(k), perHead(v), "none");
      const y = this.oProj.apply(tf.reshape(this.outNorm.apply(r.output), [b, this.valueDim]) as tf.Tensor2D);
      return { y, state: [...windows, r.state] };
    });
  }
}
