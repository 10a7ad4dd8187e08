import {
  Linear,
  deltaRule,
  deltaRuleStep,
  splitHeads,
  tf,
  zeroState,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { FlaLayerBase, NormedOutput, QkvPaths, deltaBeta, l2Normalize, outputGateProjection, scaleQuery } from "../shared/fla-parts.js";
import { ForgetGate } from "../shared/forget-gate.js";
import type { GatedDeltaProductConfig } from "./config.js";

/**
 * Per-token inputs of the product recurrence; n = householders, j the micro-step. Micro-step (t, j) sits at
 * index t·n + j of the T·n axis (rank 4 throughout: WebGPU's shaders for rank-5 tensors do not all compile).
 */
export interface MicroStepInputs {
  /** q̂ = l2(q)/√d_k, [B, H, T, d_k]. */
  readonly query: tf.Tensor4D;
  /** l2-normalised k_{t,j}, [B, H, T·n, d_k]. */
  readonly keys: tf.Tensor4D;
  /** v_{t,j}, [B, H, T·n, d_v]. */
  readonly values: tf.Tensor4D;
  /** β_{t,j}, [B, H, T·n]. */
  readonly betas: tf.Tensor3D;
  /** log α_t, [B, H, T]; absent without the forget gate. */
  readonly logAlpha?: tf.Tensor3D;
}

/**
 * Gated DeltaProduct (fla `GatedDeltaProduct`, docs/spec/MODELS.md §3.5). Per head and token, n delta-rule micro-steps:
 *   S ← α_t S_{t−1};  for j = 1..n: S ← S + β_{t,j} k_{t,j} (v_{t,j} − Sᵀ k_{t,j})ᵀ;  S_t = S;  o_t = S_tᵀ q̂_t,
 * i.e. α_t times a product of n generalised Householders, β ∈ (0, 2). Then a per-head RMSNorm ⊙ SiLU(x W_g) and
 * o_proj. Parameter names follow fla's module names.
 */
export class GatedDeltaProduct extends FlaLayerBase implements SequenceLayer {
  readonly householders: number;

  protected readonly inputs: QkvPaths;
  private readonly bProj: Linear;
  private readonly forgetGate?: ForgetGate;
  private readonly output: NormedOutput;

  constructor(
    context: LayerBuildContext,
    private readonly config: GatedDeltaProductConfig,
  ) {
    super("gated-delta-product", context, config);
    const d = context.dModel;
    const scope = context.params;
    const n = config.householders;
    this.householders = n;
    this.inputs = QkvPaths.interleaved(scope, d, { q: this.keyDim, k: n * this.keyDim, v: n * this.valueDim }, config, "silu");
    this.bProj = new Linear(scope, "b_proj", d, n * this.heads, { bias: false });
    if (config.useForgetGate) this.forgetGate = new ForgetGate(scope, d, this.heads);
    const gate = config.useOutputGate ? outputGateProjection(scope, d, this.valueDim) : undefined;
    this.output = new NormedOutput(scope, d, this.heads, this.headValueDim, { gate });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const inputs = this.microStepInputs(x);
      const readout = (options.form ?? "chunked") === "chunked" ? this.interleavedReadout(inputs) : this.stepwiseReadout(inputs);
      return this.output.sequence(readout, x);
    });
  }

  /**
   * Projections, convs and gates for a whole sequence. The k, v and b projections are laid out (j, h, i): the
   * micro-step index is outermost (§3.5).
   */
  microStepInputs(x: tf.Tensor3D): MicroStepInputs {
    const [b, t] = x.shape;
    const [n, h] = [this.householders, this.heads];
    // [B, T, n·H·X] = [B, T·n, H, X] in memory → [B, H, T·n, X].
    const perMicroStep = (y: tf.Tensor3D) => tf.transpose(tf.reshape(y, [b, t * n, h, y.shape[2] / (n * h)]), [0, 2, 1, 3]) as tf.Tensor4D;
    const { q, k, v } = this.inputs.apply(x);
    return {
      query: scaleQuery(l2Normalize(splitHeads(q, h)), this.headKeyDim),
      keys: l2Normalize(perMicroStep(k)),
      values: perMicroStep(v),
      betas: tf.transpose(tf.reshape(this.beta(x), [b, t * n, h]), [0, 2, 1]) as tf.Tensor3D,
      logAlpha: this.forgetGate ? (tf.transpose(this.forgetGate.logAlpha(x), [0, 2, 1]) as tf.Tensor3D) : undefined,
    };
  }

  /**
   * The training form (§3.5, §6.2): the gated delta rule on the interleaved sequence of length n·T, where micro-step
   * (t, j) has key k_{t,j}, value v_{t,j}, beta β_{t,j}, log-decay log α_t at j = 1 (else 0) and query q̂_t at j = n
   * (else 0); the outputs at j = n are the readouts. [B, H, T, d_v].
   */
  private interleavedReadout(inputs: MicroStepInputs): tf.Tensor4D {
    const [b, h, t] = inputs.query.shape;
    const n = this.householders;
    const dv = this.headValueDim;
    const micro = t * n;
    // x [B, H, T, ...] → [B, H, T·n, ...] with x_t at micro-step j = 0 ("first") or n − 1 ("last"), zeros elsewhere.
    const padMicroSteps = (x: tf.Tensor, at: "first" | "last"): tf.Tensor => {
      if (n === 1) return x;
      const width = x.shape[3] ?? 1;
      const slot = tf.reshape(x, [b * h, t, 1, width]);
      const zeros = tf.zeros([b * h, t, n - 1, width]);
      return tf.reshape(tf.concat(at === "first" ? [slot, zeros] : [zeros, slot], 2), x.rank === 4 ? [b, h, micro, width] : [b, h, micro]);
    };
    const { output } = deltaRule(
      {
        query: padMicroSteps(inputs.query, "last") as tf.Tensor4D,
        key: inputs.keys,
        value: inputs.values,
        beta: inputs.betas,
        logAlpha: inputs.logAlpha ? (padMicroSteps(inputs.logAlpha, "first") as tf.Tensor3D) : undefined,
      },
      "chunked",
      { chunkSize: this.config.chunkSize },
    );
    const last = tf.slice(tf.reshape(output, [b * h, t, n, dv]), [0, 0, n - 1, 0], [b * h, t, 1, dv]);
    return tf.reshape(last, [b, h, t, dv]);
  }

  /** The oracle: token by token, n deltaRuleSteps each (§3.5 as written). [B, H, T, d_v]. */
  private stepwiseReadout(inputs: MicroStepInputs): tf.Tensor4D {
    const [b, h, t, dk] = inputs.query.shape;
    const n = this.householders;
    const dv = this.headValueDim;
    const at = (x: tf.Tensor, i: number, j: number, width: number): tf.Tensor3D =>
      tf.reshape(tf.slice(x, [0, 0, i * n + j, 0], [b, h, 1, width]), [b, h, width]);
    const scalarAt = (x: tf.Tensor, i: number, j: number): tf.Tensor2D => tf.reshape(tf.slice(x, [0, 0, i * n + j], [b, h, 1]), [b, h]);
    let state = zeroState(b, h, dk, dv);
    const outputs: tf.Tensor4D[] = [];
    for (let i = 0; i < t; i++) {
      const r = this.tokenStep(
        state,
        tf.reshape(tf.slice(inputs.query, [0, 0, i, 0], [b, h, 1, dk]), [b, h, dk]),
        Array.from({ length: n }, (_, j) => at(inputs.keys, i, j, dk)),
        Array.from({ length: n }, (_, j) => at(inputs.values, i, j, dv)),
        Array.from({ length: n }, (_, j) => scalarAt(inputs.betas, i, j)),
        inputs.logAlpha ? tf.reshape(tf.slice(inputs.logAlpha, [0, 0, i], [b, h, 1]), [b, h]) : undefined,
      );
      state = r.state;
      outputs.push(tf.expandDims<tf.Tensor4D>(r.output, 2));
    }
    return outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 2);
  }

  /** One token: decay once, then the n micro-steps; the readout after the last one. q, k_j: [B, H, d_k]. */
  private tokenStep(
    state: tf.Tensor4D,
    query: tf.Tensor3D,
    keys: tf.Tensor3D[],
    values: tf.Tensor3D[],
    betas: tf.Tensor2D[],
    logAlpha?: tf.Tensor2D,
  ): { state: tf.Tensor4D; output: tf.Tensor3D } {
    let r = deltaRuleStep(state, query, keys[0]!, values[0]!, betas[0]!, logAlpha);
    for (let j = 1; j < keys.length; j++) r = deltaRuleStep(r.state, query, keys[j]!, values[j]!, betas[j]!);
    return r;
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const b = x.shape[0];
      const [n, h] = [this.householders, this.heads];
      const { q, k, v, windows } = this.inputs.step(x, state);
      // [B, n·H·X] → n tensors [B, H, X], micro-step j outermost (§3.5).
      const microSteps = (y: tf.Tensor2D, width: number): tf.Tensor3D[] =>
        Array.from({ length: n }, (_, j) => tf.reshape(tf.slice(y, [0, j * h * width], [b, h * width]), [b, h, width]));
      const betas = microSteps(this.beta(x), 1).map((beta) => tf.reshape<tf.Rank.R2>(beta, [b, h]));
      const r = this.tokenStep(
        this.recurrentState(state),
        scaleQuery(l2Normalize(tf.reshape(q, [b, h, this.headKeyDim]) as tf.Tensor3D), this.headKeyDim),
        microSteps(k, this.headKeyDim).map((key) => l2Normalize(key)),
        microSteps(v, this.headValueDim),
        betas,
        this.forgetGate?.logAlpha(x),
      );
      return { y: this.output.step(r.output, x), state: [...windows, r.state] };
    });
  }

  /** β_{t,j} = σ(x W_b), doubled when negative eigenvalues are allowed. [..., n·H], laid out (j, h). */
  private beta<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
    return deltaBeta(this.bProj, x, this.config.allowNegativeEigenvalues);
  }
}
