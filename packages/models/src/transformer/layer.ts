import {
  Linear,
  RMSNorm,
  Rotary,
  attentionStep,
  causalAttentionByTime,
  init,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
  dropout,
  dropoutActive,
  swishGatePacked,
} from "@selectiv/core";
import { transformerHeadDim, type TransformerConfig } from "./config.js";

/**
 * The reference's TransformerDecoderLayer (docs/spec/MODELS.md §5.1):
 *   q, k, v = x W + b per head; q, k ← RoPE_ref(RMSNorm_ref(·)); a = causal softmax attention (scale 1/√D_h);
 *   x₁ = x + RMSNorm_ref(a W_out + b_out);  [f₁, f₂] = x₁ W₁ + b₁;  f = (f₁ ⊙ σ(β f₁)) ⊙ f₂;  x₂ = x₁ + f W₂ + b₂.
 * It returns x₂, so with RecNet's own residual the identity enters twice. Dropout(p) on f W₂ + b₂ is the wrapper's
 * rate, applied only when training, with the mask seeded from ForwardOptions.dropoutSeed.
 * Streaming state: the KV cache [B, H, n, D_h] twice; its length n is the position of the next step's RoPE.
 */
export class TransformerDecoderLayer implements SequenceLayer {
  readonly heads: number;
  readonly headDim: number;
  readonly ffnDim: number;

  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly outProj: Linear;
  private readonly qNorm: RMSNorm;
  private readonly kNorm: RMSNorm;
  private readonly outNorm: RMSNorm;
  private readonly linear1: Linear;
  private readonly linear2: Linear;
  private readonly swishBeta: tf.Variable;
  private readonly rotary: Rotary;
  private readonly dropoutRate: number;

  constructor(
    context: LayerBuildContext,
    private readonly config: TransformerConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.heads = context.heads;
    this.headDim = transformerHeadDim(d, this.heads);
    this.ffnDim = config.ffnExpand * d;
    this.rotary = new Rotary("transformer", this.headDim, config.ropeBase, -1);
    this.dropoutRate = context.dropout ?? 0;

    this.qProj = new Linear(scope, "q_proj", d, d, { bias: true });
    this.kProj = new Linear(scope, "k_proj", d, d, { bias: true });
    this.vProj = new Linear(scope, "v_proj", d, d, { bias: true });
    this.outProj = new Linear(scope, "out_proj", d, d, { bias: true });
    // The reference's RMSNorm: eps 1e-8 added to the RMS outside the root (docs/spec/MODELS.md §2).
    this.qNorm = new RMSNorm(scope, "q_norm", this.headDim, 1e-8, true);
    this.kNorm = new RMSNorm(scope, "k_norm", this.headDim, 1e-8, true);
    this.outNorm = new RMSNorm(scope, "out_norm", d, 1e-8, true);
    this.linear1 = new Linear(scope, "linear1", d, 2 * this.ffnDim, { bias: true });
    this.linear2 = new Linear(scope, "linear2", this.ffnDim, d, { bias: true });
    this.swishBeta = scope.variable("beta_swish", [1], init.constant(1));
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = x.shape;
      // [B, T, d] → [B, T, H, D_h] (normed per head for q, k; q, k then rotated), time before heads throughout:
      // attention reads that layout, so no transposes run around it where its kernels do.
      const split = (y: tf.Tensor3D) => tf.reshape(y, [b, t, this.heads, this.headDim]) as tf.Tensor4D;
      const q = this.rotary.applySequenceByTime(this.qNorm.apply(split(this.qProj.apply(x))));
      const k = this.rotary.applySequenceByTime(this.kNorm.apply(split(this.kProj.apply(x))));
      const v = split(this.vProj.apply(x));
      const scale = 1 / Math.sqrt(this.headDim);
      const headsFirst = (y: tf.Tensor4D) => tf.transpose(y, [0, 2, 1, 3]);
      const attention =
        (options.form ?? "chunked") === "stepwise"
          ? headsFirst(this.attentionByCache(headsFirst(q), headsFirst(k), headsFirst(v), scale))
          : causalAttentionByTime(q, k, v, scale, this.config.queryBlock, !options.training);
      const dropout = dropoutActive(options) ? { rate: this.dropoutRate, seed: options.dropoutSeed ?? 0 } : undefined;
      return this.finish(x, tf.reshape(attention, [b, t, d]), dropout);
    });
  }

  /** The oracle: attentionStep over time, growing the KV cache one token at a time. */
  private attentionByCache(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
    const [b, h, t, dh] = q.shape;
    const at = (y: tf.Tensor4D, i: number) => tf.reshape(tf.slice(y, [0, 0, i, 0], [b, h, 1, dh]), [b, h, dh]) as tf.Tensor3D;
    let cache: { keys?: tf.Tensor4D; values?: tf.Tensor4D } = {};
    const outputs: tf.Tensor3D[] = [];
    for (let i = 0; i < t; i++) {
      const r = attentionStep(at(q, i), at(k, i), at(v, i), cache, scale);
      cache = { keys: r.keys, values: r.values };
      outputs.push(r.output);
    }
    // tf.stack rejects a single tensor inside gradient tapes: expand instead.
    return (t === 1 ? tf.expandDims(outputs[0]!, 2) : tf.stack(outputs, 2)) as tf.Tensor4D;
  }

  /** The empty KV cache: keys and values [B, H, 0, D_h]. */
  initialState(batch: number): LayerState {
    return [tf.zeros([batch, this.heads, 0, this.headDim]), tf.zeros([batch, this.heads, 0, this.headDim])];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const [b, d] = x.shape;
      const [keys, values] = state as [tf.Tensor4D, tf.Tensor4D];
      const position = tf.tensor1d([keys.shape[2]], "float32");
      const heads = (y: tf.Tensor2D) => tf.reshape(y, [b, this.heads, this.headDim]) as tf.Tensor3D;
      const q = this.rotary.applyStep(this.qNorm.apply(heads(this.qProj.apply(x))), position);
      const k = this.rotary.applyStep(this.kNorm.apply(heads(this.kProj.apply(x))), position);
      const r = attentionStep(q, k, heads(this.vProj.apply(x)), { keys, values }, 1 / Math.sqrt(this.headDim));
      const y = this.finish(x, tf.reshape(r.output, [b, d]) as tf.Tensor2D);
      return { y, state: [r.keys, r.values] };
    });
  }

  /** x₁ = x + RMSNorm_ref(a W_out + b_out); x₂ = x₁ + SwiGLU(x₁) W₂ + b₂ (§5.1 steps 5–7). */
  private finish<T extends tf.Tensor2D | tf.Tensor3D>(x: T, attention: T, drop?: { rate: number; seed: number }): T {
    const x1 = tf.add(x, this.outNorm.apply(this.outProj.apply(attention))) as T;
    const f = swishGatePacked(this.linear1.apply(x1), this.swishBeta);
    const ffn = this.linear2.apply(f);
    return tf.add(x1, drop ? dropout(ffn, drop.rate, drop.seed) : ffn) as T;
  }
}
