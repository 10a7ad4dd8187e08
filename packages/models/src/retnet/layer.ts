import {
  Rotary,
  linearRecurrenceOutput,
  recurrenceStep,
  splitHeads,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { FlaLayerBase, NormedOutput, QkvPaths, outputGateProjection, qkvProjections, scaleQuery, stepHeads } from "../shared/fla-parts.js";
import { retentionLogDecays, type RetNetConfig } from "./config.js";

/**
 * Multi-scale retention (fla `MultiScaleRetention`, docs/spec/MODELS.md §3.2). Per head h, with a fixed decay
 * γ_h = 1 − 2^{−5−h}:  S_t = γ_h S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q̂_t, where q and k carry RoPE (fla convention,
 * base 10000) and q̂ = q/√d_k; then a per-head RMSNorm gated by SiLU(x W_g) and o_proj.
 * Streaming state: the conv windows, S ∈ [B, H, d_k, d_v] and the position counter [1] (for RoPE).
 */
export class MultiScaleRetention extends FlaLayerBase implements SequenceLayer {
  protected readonly inputs: QkvPaths;
  private readonly output: NormedOutput;
  private readonly rotary: Rotary;
  private readonly logDecays: Float32Array;

  constructor(
    context: LayerBuildContext,
    private readonly config: RetNetConfig,
  ) {
    super("retnet", context, config);
    const d = context.dModel;
    const scope = context.params;
    this.rotary = new Rotary("retnet", this.headKeyDim, config.ropeBase, 1);
    this.logDecays = retentionLogDecays(this.heads);

    // Parameter order (it fixes the order of the variables): q, k, v, g projections, then the convs.
    const projections = qkvProjections(scope, d, { q: this.keyDim, k: this.keyDim, v: this.valueDim });
    const gate = config.useOutputGate ? outputGateProjection(scope, d, this.valueDim) : undefined;
    // Without the short conv, q, k, v are the plain projections (the SiLU comes with the conv).
    this.inputs = QkvPaths.withShortConvs(scope, projections, config, "identity");
    // One weight of size d_v shared by all heads (§2, gated RMSNorm).
    this.output = new NormedOutput(scope, d, this.heads, this.headValueDim, { gate, normName: "g_norm_swish_gate" });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const { q, k, v } = this.inputs.apply(x);
      const query = scaleQuery(this.rotary.applySequence(splitHeads(q, this.heads)), this.headKeyDim);
      const key = this.rotary.applySequence(splitHeads(k, this.heads));
      // The same log γ_h at every step: [B, H, T].
      const logAlpha = tf.mul(tf.ones([b, 1, t]), tf.tensor3d(this.logDecays, [1, this.heads, 1])) as tf.Tensor3D;
      const output = linearRecurrenceOutput(
        { query, key, value: splitHeads(v, this.heads), decay: { kind: "scalar", logAlpha } },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      return this.output.sequence(output, x);
    });
  }

  /** [q, k, v conv windows (with short convs)], S [B, H, d_k, d_v], position [1] (float32, for RoPE). */
  override initialState(batch: number): LayerState {
    return [...super.initialState(batch), tf.zeros([1])];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const b = x.shape[0];
      const recurrent = this.recurrentState(state);
      const position = state[this.inputs.windowCount + 1] as tf.Tensor1D;
      const { q, k, v, windows } = this.inputs.step(x, state);
      const perHead = (y: tf.Tensor2D) => stepHeads(y, this.heads);
      const query = scaleQuery(this.rotary.applyStep(perHead(q), position), this.headKeyDim);
      const key = this.rotary.applyStep(perHead(k), position);
      const logAlpha = tf.mul(tf.ones([b, 1]), tf.tensor2d(this.logDecays, [1, this.heads]));
      const r = recurrenceStep(recurrent, query, key, perHead(v), "scalar", logAlpha);
      return { y: this.output.step(r.output, x), state: [...windows, r.state, tf.add(position, 1)] };
    });
  }
}
