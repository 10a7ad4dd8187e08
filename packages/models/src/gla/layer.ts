import {
  Linear,
  linearRecurrenceOutputByTime,
  logSigmoid,
  recurrenceStep,
  splitHeadsByTime,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { FlaLayerBase, NormedOutput, QkvPaths, outputGateProjection, qkvProjections, scaleQuery, stepHeads } from "../shared/fla-parts.js";
import type { GlaConfig } from "./config.js";

/** q̂, k, v and the log-decays of one or more steps, in the layout the caller asked for. */
interface RecurrenceParts<T extends tf.Tensor> {
  query: T;
  key: T;
  value: T;
  logAlpha: T;
}

/**
 * Gated Linear Attention (fla `GatedLinearAttention`, docs/spec/MODELS.md §3.1). Per head, with a data-dependent decay per
 * key channel:  S_t = Diag(α_t) S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q̂_t,  then a per-head RMSNorm gated by SiLU(x W_g)
 * and o_proj. Parameter names follow fla's module names.
 */
export class GatedLinearAttention extends FlaLayerBase implements SequenceLayer {
  protected readonly inputs: QkvPaths;
  private readonly gateDown: Linear;
  private readonly gateUp: Linear;
  private readonly output: NormedOutput;

  constructor(
    context: LayerBuildContext,
    private readonly config: GlaConfig,
  ) {
    super("gla", context, config);
    const d = context.dModel;
    const scope = context.params;

    // Parameter order (it fixes the order of the variables): q, k, v, g, gk projections, then the convs.
    const projections = qkvProjections(scope, d, { q: this.keyDim, k: this.keyDim, v: this.valueDim });
    const gate = config.useOutputGate ? outputGateProjection(scope, d, this.valueDim) : undefined;
    // Low-rank gate projection gk_proj = Linear(d → r, no bias) then Linear(r → K, bias) (§3.1).
    this.gateDown = new Linear(scope, "gk_proj.0", d, config.gateLowRank, { bias: false });
    this.gateUp = new Linear(scope, "gk_proj.1", config.gateLowRank, this.keyDim, { bias: true });
    // Without the short conv, q, k, v are the plain projections (the SiLU comes with the conv).
    this.inputs = QkvPaths.withShortConvs(scope, projections, config, "identity");
    // One weight of size d_v shared by all heads (§2, RMSNorm / gated RMSNorm).
    this.output = new NormedOutput(scope, d, this.heads, this.headValueDim, { gate, normName: "g_norm_swish_gate" });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const { q, k, v } = this.inputs.apply(x);
      const parts = this.recurrenceParts(q, k, v, x);
      // Time before heads: reshapes only, no transposes around the scan.
      const split = (y: tf.Tensor3D) => splitHeadsByTime(y, this.heads);
      const output = linearRecurrenceOutputByTime(
        {
          query: split(parts.query),
          key: split(parts.key),
          value: split(parts.value),
          decay: { kind: "diagonal", logAlpha: split(parts.logAlpha) },
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
      const parts = this.recurrenceParts(q, k, v, x);
      const perHead = (y: tf.Tensor2D) => stepHeads(y, this.heads);
      const r = recurrenceStep(
        this.recurrentState(state),
        perHead(parts.query),
        perHead(parts.key),
        perHead(parts.value),
        "diagonal",
        perHead(parts.logAlpha),
      );
      return { y: this.output.step(r.output, x), state: [...windows, r.state] };
    });
  }

  /** q̂ = q/√d_k; log α = logsigmoid(gk_proj(x)) / normalizer, one per key channel (§3.1). */
  private recurrenceParts<T extends tf.Tensor>(q: T, k: T, v: T, x: T): RecurrenceParts<T> {
    const gateLogits = this.gateUp.apply(this.gateDown.apply(x));
    return {
      query: scaleQuery(q, this.headKeyDim),
      key: k,
      value: v,
      logAlpha: tf.div(logSigmoid(gateLogits), this.config.gateLogitNormalizer),
    };
  }
}
