import {
  Linear,
  deltaRuleOutputByTime,
  deltaRuleStep,
  splitHeadsByTime,
  tf,
  type DeltaRuleInputs,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import {
  FlaLayerBase,
  NormedOutput,
  QkvPaths,
  deltaBeta,
  l2Normalize,
  outputGateProjection,
  scaleQuery,
  stepHeads,
} from "../shared/fla-parts.js";
import type { DeltaNetConfig } from "./config.js";

/**
 * DeltaNet (fla `DeltaNet`, docs/spec/MODELS.md §3.3). Per head, with L2-normalised keys and queries:
 *   S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  q̂ = q/√d_k,
 * then a per-head RMSNorm (no output gate by default) and o_proj. Parameter names follow fla's module names.
 */
export class DeltaNet extends FlaLayerBase implements SequenceLayer {
  protected readonly inputs: QkvPaths;
  private readonly bProj?: Linear;
  private readonly output: NormedOutput;

  constructor(
    context: LayerBuildContext,
    private readonly config: DeltaNetConfig,
  ) {
    super("delta-net", context, config);
    const d = context.dModel;
    const scope = context.params;
    this.inputs = QkvPaths.interleaved(scope, d, { q: this.keyDim, k: this.keyDim, v: this.valueDim }, config, "silu");
    if (config.useBeta) this.bProj = new Linear(scope, "b_proj", d, this.heads, { bias: false });
    const gate = config.useOutputGate ? outputGateProjection(scope, d, this.valueDim) : undefined;
    this.output = new NormedOutput(scope, d, this.heads, this.headValueDim, { gate });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const output = deltaRuleOutputByTime(this.recurrenceInputsByTime(x), options.form ?? "chunked", { chunkSize: this.config.chunkSize });
      return this.output.sequenceByTime(output, x);
    });
  }

  /**
   * The delta rule's inputs for a whole sequence, time-major (projections reshaped into heads, no transposes): q̂, k
   * (L2-normalised, [B, T, H, d_k]), v, β [B, T, H].
   */
  recurrenceInputsByTime(x: tf.Tensor3D): DeltaRuleInputs {
    const { q, k, v } = this.inputs.apply(x);
    return {
      query: scaleQuery(l2Normalize(splitHeadsByTime(q, this.heads)), this.headKeyDim),
      key: l2Normalize(splitHeadsByTime(k, this.heads)),
      value: splitHeadsByTime(v, this.heads),
      beta: this.beta(x),
    };
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const { q, k, v, windows } = this.inputs.step(x, state);
      const r = deltaRuleStep(
        this.recurrentState(state),
        scaleQuery(l2Normalize(stepHeads(q, this.heads)), this.headKeyDim),
        l2Normalize(stepHeads(k, this.heads)),
        stepHeads(v, this.heads),
        this.beta(x),
      );
      return { y: this.output.step(r.output, x), state: [...windows, r.state] };
    });
  }

  /** β = σ(x W_b) per head, doubled when negative eigenvalues are allowed; 1 without b_proj. [..., H]. */
  private beta<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
    if (!this.bProj) return tf.ones<tf.Rank>(x.shape.slice(0, -1).concat(this.heads)) as T;
    return deltaBeta(this.bProj, x, this.config.allowNegativeEigenvalues);
  }
}
