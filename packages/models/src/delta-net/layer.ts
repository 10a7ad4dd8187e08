import {
  Linear,
  deltaRule,
  deltaRuleStep,
  tf,
  zeroState,
  type DeltaRuleInputs,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { deltaNetWidths, type DeltaNetConfig } from "./config.js";
import { ConvProjection, NormedOutput, l2Normalize } from "./parts.js";

/**
 * DeltaNet (fla `DeltaNet`, models.md §3.3). Per head, with L2-normalised keys and queries:
 *   S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  q̂ = q/√d_k,
 * then a per-head RMSNorm (no output gate by default) and o_proj. Parameter names follow fla's module names.
 */
export class DeltaNet implements SequenceLayer {
  readonly heads: number;
  readonly headKeyDim: number;
  readonly headValueDim: number;

  private readonly q: ConvProjection;
  private readonly k: ConvProjection;
  private readonly v: ConvProjection;
  private readonly bProj?: Linear;
  private readonly output: NormedOutput;

  constructor(
    context: LayerBuildContext,
    private readonly config: DeltaNetConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.heads = context.heads;
    const widths = deltaNetWidths(d, this.heads, config);
    this.headKeyDim = widths.headKeyDim;
    this.headValueDim = widths.headValueDim;
    this.q = new ConvProjection(scope, "q", d, widths.keyDim, config.convSize, config.useShortConv);
    this.k = new ConvProjection(scope, "k", d, widths.keyDim, config.convSize, config.useShortConv);
    this.v = new ConvProjection(scope, "v", d, widths.valueDim, config.convSize, config.useShortConv);
    if (config.useBeta) this.bProj = new Linear(scope, "b_proj", d, this.heads, { bias: false });
    this.output = new NormedOutput(scope, d, this.heads, this.headValueDim, config.useOutputGate);
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const { output } = deltaRule(this.recurrenceInputs(x), options.form ?? "chunked", { chunkSize: this.config.chunkSize });
      return this.output.sequence(output, x);
    });
  }

  /** The delta rule's inputs for a whole sequence: q̂, k (L2-normalised, [B, H, T, d_k]), v, β [B, H, T]. */
  recurrenceInputs(x: tf.Tensor3D): DeltaRuleInputs {
    const [b, t] = x.shape;
    const perHead = (y: tf.Tensor3D) =>
      tf.transpose(tf.reshape(y, [b, t, this.heads, y.shape[2] / this.heads]), [0, 2, 1, 3]) as tf.Tensor4D;
    return {
      query: this.scaleQuery(l2Normalize(perHead(this.q.apply(x)))),
      key: l2Normalize(perHead(this.k.apply(x))),
      value: perHead(this.v.apply(x)),
      beta: tf.transpose(this.beta(x), [0, 2, 1]) as tf.Tensor3D,
    };
  }

  /** Conv windows of q, k, v (when short convs are on) and S ∈ [B, H, d_k, d_v]. */
  initialState(batch: number): LayerState {
    return [
      ...this.q.initialWindows(batch),
      ...this.k.initialWindows(batch),
      ...this.v.initialWindows(batch),
      zeroState(batch, this.heads, this.headKeyDim, this.headValueDim),
    ];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const b = x.shape[0];
      const w = this.config.useShortConv ? 1 : 0;
      const q = this.q.step(x, state.slice(0, w));
      const k = this.k.step(x, state.slice(w, 2 * w));
      const v = this.v.step(x, state.slice(2 * w, 3 * w));
      const perHead = (y: tf.Tensor2D) => tf.reshape(y, [b, this.heads, y.shape[1] / this.heads]) as tf.Tensor3D;
      const r = deltaRuleStep(
        state[3 * w] as tf.Tensor4D,
        this.scaleQuery(l2Normalize(perHead(q.y))),
        l2Normalize(perHead(k.y)),
        perHead(v.y),
        this.beta(x),
      );
      return { y: this.output.step(r.output, x), state: [...q.windows, ...k.windows, ...v.windows, r.state] };
    });
  }

  /** q̂ = q/√d_k (fla's default kernel scale). */
  private scaleQuery<T extends tf.Tensor>(q: T): T {
    return tf.mul(q, 1 / Math.sqrt(this.headKeyDim));
  }

  /** β = σ(x W_b) per head, doubled when negative eigenvalues are allowed; 1 without b_proj. [..., H]. */
  private beta<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
    if (!this.bProj) return tf.ones<tf.Rank>(x.shape.slice(0, -1).concat(this.heads)) as T;
    const beta = tf.sigmoid(this.bProj.apply(x));
    return this.config.allowNegativeEigenvalues ? tf.mul(beta, 2) : beta;
  }
}
