import {
  Linear,
  RMSNorm,
  ShortConv,
  linearRecurrence,
  logSigmoid,
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
import { glaWidths, type GlaConfig } from "./config.js";

/** q̂, k, v and the log-decays of one or more steps, in the layout the caller asked for. */
interface RecurrenceParts<T extends tf.Tensor> {
  query: T;
  key: T;
  value: T;
  logAlpha: T;
}

/**
 * Gated Linear Attention (fla `GatedLinearAttention`, models.md §3.1). Per head, with a data-dependent decay per
 * key channel:  S_t = Diag(α_t) S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  then a per-head RMSNorm gated by SiLU(x W_g)
 * and o_proj. Parameter names follow fla's module names.
 */
export class GatedLinearAttention implements SequenceLayer {
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly headKeyDim: number;
  readonly headValueDim: number;

  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly gProj?: Linear;
  private readonly gateDown: Linear;
  private readonly gateUp: Linear;
  private readonly qConv?: ShortConv;
  private readonly kConv?: ShortConv;
  private readonly vConv?: ShortConv;
  private readonly outNorm: RMSNorm;
  private readonly oProj: Linear;

  constructor(
    context: LayerBuildContext,
    private readonly config: GlaConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.heads = context.heads;
    const widths = glaWidths(d, this.heads, config);
    this.keyDim = widths.keyDim;
    this.valueDim = widths.valueDim;
    this.headKeyDim = widths.headKeyDim;
    this.headValueDim = widths.headValueDim;

    this.qProj = new Linear(scope, "q_proj", d, this.keyDim, { bias: false });
    this.kProj = new Linear(scope, "k_proj", d, this.keyDim, { bias: false });
    this.vProj = new Linear(scope, "v_proj", d, this.valueDim, { bias: false });
    if (config.useOutputGate) this.gProj = new Linear(scope, "g_proj", d, this.valueDim, { bias: false });
    // Low-rank gate projection gk_proj = Linear(d → r, no bias) then Linear(r → K, bias) (§3.1).
    this.gateDown = new Linear(scope, "gk_proj.0", d, config.gateLowRank, { bias: false });
    this.gateUp = new Linear(scope, "gk_proj.1", config.gateLowRank, this.keyDim, { bias: true });
    if (config.useShortConv) {
      const conv = (name: string, channels: number) =>
        new ShortConv(scope, name, channels, config.convSize, { bias: false, activation: "silu" });
      this.qConv = conv("q_conv1d", this.keyDim);
      this.kConv = conv("k_conv1d", this.keyDim);
      this.vConv = conv("v_conv1d", this.valueDim);
    }
    // One weight of size d_v shared by all heads (§2, RMSNorm / gated RMSNorm).
    this.outNorm = new RMSNorm(scope, "g_norm_swish_gate", this.headValueDim, 1e-5);
    this.oProj = new Linear(scope, "o_proj", this.valueDim, d, { bias: false });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const q = this.qConv ? this.qConv.apply(this.qProj.apply(x)) : this.qProj.apply(x);
      const k = this.kConv ? this.kConv.apply(this.kProj.apply(x)) : this.kProj.apply(x);
      const v = this.vConv ? this.vConv.apply(this.vProj.apply(x)) : this.vProj.apply(x);
      const parts = this.recurrenceParts(q, k, v, x);
      const split = (y: tf.Tensor3D) => splitHeads(y, this.heads);
      const { output } = linearRecurrence(
        {
          query: split(parts.query),
          key: split(parts.key),
          value: split(parts.value),
          decay: { kind: "diagonal", logAlpha: split(parts.logAlpha) },
        },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      const readout = tf.reshape(mergeHeads(output), [b, t, this.heads, this.headValueDim]);
      return this.finish(readout, x, [b, t, this.valueDim]);
    });
  }

  /** Conv windows of q, k, v (the last K−1 projected inputs, when short convs are on) and S ∈ [B, H, d_k, d_v]. */
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
      const parts = this.recurrenceParts(q, k, v, x);
      const perHead = (y: tf.Tensor2D) => tf.reshape(y, [b, this.heads, y.shape[1] / this.heads]) as tf.Tensor3D;
      const r = recurrenceStep(
        recurrent,
        perHead(parts.query),
        perHead(parts.key),
        perHead(parts.value),
        "diagonal",
        perHead(parts.logAlpha),
      );
      const y = this.finish(r.output, x, [b, this.valueDim]);
      return { y, state: [...windows, r.state] };
    });
  }

  /** q̂ = q/√d_k; log α = logsigmoid(gk_proj(x)) / normalizer, one per key channel (§3.1). */
  private recurrenceParts<T extends tf.Tensor>(q: T, k: T, v: T, x: T): RecurrenceParts<T> {
    const gateLogits = this.gateUp.apply(this.gateDown.apply(x));
    return {
      query: tf.mul(q, 1 / Math.sqrt(this.headKeyDim)),
      key: k,
      value: v,
      logAlpha: tf.div(logSigmoid(gateLogits), this.config.gateLogitNormalizer),
    };
  }

  /**
   * readout [..., H, d_v] → RMSNorm per head ⊙ SiLU(x W_g) → concatenated heads [..., V] → o_proj (§3.1, §2
   * gated RMSNorm: norm first, then the gate).
   */
  private finish<T extends tf.Tensor2D | tf.Tensor3D>(readout: tf.Tensor, x: T, mergedShape: number[]): T {
    const normed: tf.Tensor = tf.reshape(this.outNorm.apply(readout), mergedShape);
    const gated = this.gProj ? tf.mul(normed, silu(this.gProj.apply(x))) : normed;
    return this.oProj.apply(gated as T);
  }
}
