import {
  linearRecurrenceOutputByTime,
  recurrenceStep,
  splitHeadsByTime,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { FlaLayerBase, NormedOutput, QkvPaths, qkvProjections, scaleQuery, stepHeads } from "../shared/fla-parts.js";
import type { LinearAttentionConfig } from "./config.js";

/**
 * Plain (causal) linear attention in the fla skeleton of docs/spec/MODELS.md §3, with no decay: per head
 * S_t = S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  q̂ = q/√d_k, where q, k, v come from projections and short
 * convs with SiLU; then a per-head RMSNorm (weight shared by heads, no gate) and o_proj.
 */
export class LinearAttention extends FlaLayerBase implements SequenceLayer {
  protected readonly inputs: QkvPaths;
  private readonly output: NormedOutput;

  constructor(
    context: LayerBuildContext,
    private readonly config: LinearAttentionConfig,
  ) {
    super("linear-attention", context, config);
    const d = context.dModel;
    const scope = context.params;

    const projections = qkvProjections(scope, d, { q: this.keyDim, k: this.keyDim, v: this.valueDim });
    // Without the short conv, q, k, v are the plain projections (the SiLU comes with the conv).
    this.inputs = QkvPaths.withShortConvs(scope, projections, config, "identity");
    this.output = new NormedOutput(scope, d, this.heads, this.headValueDim);
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const { q, k, v } = this.inputs.apply(x);
      // Time before heads: reshapes only, no transposes around the scan.
      const output = linearRecurrenceOutputByTime(
        {
          query: splitHeadsByTime(scaleQuery(q, this.headKeyDim), this.heads),
          key: splitHeadsByTime(k, this.heads),
          value: splitHeadsByTime(v, this.heads),
          decay: { kind: "none" },
        },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      return this.output.sequenceByTime(output, x);
    });
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const { q, k, v, windows } = this.inputs.step(x, state);
      const perHead = (y: tf.Tensor2D) => stepHeads(y, this.heads);
      const recurrent = this.recurrentState(state);
      const r = recurrenceStep(recurrent, perHead(scaleQuery(q, this.headKeyDim)), perHead(k), perHead(v), "none");
      return { y: this.output.step(r.output, x), state: [...windows, r.state] };
    });
  }
}
