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
import { ForgetGate } from "../shared/forget-gate.js";
import type { GatedDeltaNetConfig } from "./config.js";

/**
 * Gated DeltaNet (fla `GatedDeltaNet`, docs/spec/MODELS.md §3.4). Per head, with L2-normalised keys and queries:
 *   S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  q̂ = q/√d_k,
 * α_t = exp(−exp(A_log)·softplus(x_t W_a + dt_bias)), β_t = σ(x_t W_b); then a per-head RMSNorm ⊙ SiLU(x W_g) and
 * o_proj. Parameter names follow fla's module names.
 */
export class GatedDeltaNet extends FlaLayerBase implements SequenceLayer {
  protected readonly inputs: QkvPaths;
  private readonly bProj: Linear;
  private readonly forgetGate: ForgetGate;
  private readonly output: NormedOutput;

  constructor(
    context: LayerBuildContext,
    private readonly config: GatedDeltaNetConfig,
  ) {
    super("gated-delta-net", context, config);
    const d = context.dModel;
    const scope = context.params;
    this.inputs = QkvPaths.interleaved(scope, d, { q: this.keyDim, k: this.keyDim, v: this.valueDim }, config, "silu");
    this.forgetGate = new ForgetGate(scope, d, this.heads);
    this.bProj = new Linear(scope, "b_proj", d, this.heads, { bias: false });
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
   * The gated delta rule's inputs, time-major (projections reshaped into heads, no transposes): q̂, k (L2-normalised,
   * [B, T, H, d_k]), v, β and log α ([B, T, H]).
   */
  recurrenceInputsByTime(x: tf.Tensor3D): Required<DeltaRuleInputs> {
    const { q, k, v } = this.inputs.apply(x);
    return {
      query: scaleQuery(l2Normalize(splitHeadsByTime(q, this.heads)), this.headKeyDim),
      key: l2Normalize(splitHeadsByTime(k, this.heads)),
      value: splitHeadsByTime(v, this.heads),
      beta: deltaBeta(this.bProj, x, this.config.allowNegativeEigenvalues),
      logAlpha: this.forgetGate.logAlpha(x),
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
        deltaBeta(this.bProj, x, this.config.allowNegativeEigenvalues),
        this.forgetGate.logAlpha(x),
      );
      return { y: this.output.step(r.output, x), state: [...windows, r.state] };
    });
  }
}
