import {
  Linear,
  RMSNorm,
  ShortConv,
  linearRecurrence,
  mergeHeads,
  recurrenceStep,
  silu,
  splitHeads,
  tf,
  zeroState,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { retNetWidths, retentionLogDecays, type RetNetConfig } from "./config.js";
import { Rotary } from "./rotary.js";

/**
 * Multi-scale retention (fla `MultiScaleRetention`, models.md §3.2). Per head h, with a fixed decay
 * γ_h = 1 − 2^{−5−h}:  S_t = γ_h S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q̂_t, where q and k carry RoPE (fla convention,
 * base 10000) and q̂ = q/√d_k; then a per-head RMSNorm gated by SiLU(x W_g) and o_proj.
 * Streaming state: the conv windows, S ∈ [B, H, d_k, d_v] and the position counter [1] (for RoPE).
 */
export class MultiScaleRetention implements SequenceLayer {
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly headKeyDim: number;
  readonly headValueDim: number;

  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly gProj?: Linear;
  private readonly qConv?: ShortConv;
  private readonly kConv?: ShortConv;
  private readonly vConv?: ShortConv;
  private readonly outNorm: RMSNorm;
  private readonly oProj: Linear;
  private readonly rotary: Rotary;
  private readonly logDecays: Float32Array;

  constructor(
    context: LayerBuildContext,
    private readonly config: RetNetConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.heads = context.heads;
    const widths = retNetWidths(d, this.heads, config);
    this.keyDim = widths.keyDim;
    this.valueDim = widths.valueDim;
    this.headKeyDim = widths.headKeyDim;
    this.headValueDim = widths.headValueDim;
    this.rotary = new Rotary("retnet", this.headKeyDim, config.ropeBase, 1);
    this.logDecays = retentionLogDecays(this.heads);

    this.qProj = new Linear(scope, "q_proj", d, this.keyDim, { bias: false });
    this.kProj = new Linear(scope, "k_proj", d, this.keyDim, { bias: false });
    this.vProj = new Linear(scope, "v_proj", d, this.valueDim, { bias: false });
    if (config.useOutputGate) this.gProj = new Linear(scope, "g_proj", d, this.valueDim, { bias: false });
    if (config.useShortConv) {
      const conv = (name: string, channels: number) =>
        new ShortConv(scope, name, channels, config.convSize, { bias: false, activation: "silu" });
      this.qConv = conv("q_conv1d", this.keyDim);
      this.kConv = conv("k_conv1d", this.keyDim);
      this.vConv = conv("v_conv1d", this.valueDim);
    }
    // One weight of size d_v shared by all heads (§2, gated RMSNorm).
    this.outNorm = new RMSNorm(scope, "g_norm_swish_gate", this.headValueDim, 1e-5);
    this.oProj = new Linear(scope, "o_proj", this.valueDim, d, { bias: false });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const q = this.qConv ? this.qConv.apply(this.qProj.apply(x)) : this.qProj.apply(x);
      const k = this.kConv ? this.kConv.apply(this.kProj.apply(x)) : this.kProj.apply(x);
      const v = this.vConv ? this.vConv.apply(this.vProj.apply(x)) : this.vProj.apply(x);
      const query = tf.mul(this.rotary.applySequence(splitHeads(q, this.heads)), 1 / Math.sqrt(this.headKeyDim)) as tf.Tensor4D;
      const key = this.rotary.applySequence(splitHeads(k, this.heads));
      // The same log γ_h at every step: [B, H, T].
      const logAlpha = tf.mul(tf.ones([b, 1, t]), tf.tensor3d(this.logDecays, [1, this.heads, 1])) as tf.Tensor3D;
      const { output } = linearRecurrence(
        { query, key, value: splitHeads(v, this.heads), decay: { kind: "scalar", logAlpha } },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      const readout = tf.reshape(mergeHeads(output), [b, t, this.heads, this.headValueDim]);
      return this.finish(readout, x, [b, t, this.valueDim]);
    });
  }

  /** [q, k, v conv windows (with short convs)], S [B, H, d_k, d_v], position [1] (float32, for RoPE). */
  initialState(batch: number): LayerState {
    const windows = [this.qConv, this.kConv, this.vConv].flatMap((conv) => (conv ? [conv.initialWindow(batch)] : []));
    return [...windows, zeroState(batch, this.heads, this.headKeyDim, this.headValueDim), tf.zeros([1])];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const b = x.shape[0];
      const recurrent = state[state.length - 2] as tf.Tensor4D;
      const position = state[state.length - 1] as tf.Tensor1D;
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
      const query = tf.mul(this.rotary.applyStep(perHead(q), position), 1 / Math.sqrt(this.headKeyDim)) as tf.Tensor3D;
      const key = this.rotary.applyStep(perHead(k), position);
      const logAlpha = tf.mul(tf.ones([b, 1]), tf.tensor2d(this.logDecays, [1, this.heads]));
      const r = recurrenceStep(recurrent, query, key, perHead(v), "scalar", logAlpha);
      const y = this.finish(r.output, x, [b, this.valueDim]);
      return { y, state: [...windows, r.state, tf.add(position, 1)] };
    });
  }

  /** readout [..., H, d_v] → RMSNorm per head ⊙ SiLU(x W_g) → concatenated heads → o_proj (§2: norm, then gate). */
  private finish<T extends tf.Tensor2D | tf.Tensor3D>(readout: tf.Tensor, x: T, mergedShape: number[]): T {
    const normed: tf.Tensor = tf.reshape(this.outNorm.apply(readout), mergedShape);
    const gated = this.gProj ? tf.mul(normed, silu(this.gProj.apply(x))) : normed;
    return this.oProj.apply(gated as T);
  }
}
