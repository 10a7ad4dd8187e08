import {
  Linear,
  RMSNorm,
  SelectivError,
  ShortConv,
  init,
  linearRecurrenceOutputByTime,
  recurrenceStep,
  sharedHead,
  silu,
  splitHeadsByTime,
  tf,
  zeroState,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { dtBiasInit } from "../shared/dt-init.js";
import { mamba2Widths, type Mamba2Config } from "./config.js";

/**
 * Mamba2 (mamba_ssm `mamba2.Mamba2`, docs/spec/MODELS.md §4.2). Per head h, with state h_t ∈ ℝ^{P×N}:
 *   h_t = exp(Δ_t a_h) h_{t−1} + Δ_t x_t B_tᵀ,   y_t = h_t C_t + D_h x_t,
 * then RMSNorm over all of E of (y ⊙ SiLU(z)) (gate before the norm) and out_proj. It is the scalar-decay
 * linear recurrence of §6.1 with q = C_t, k = B_t (one group: shared by every head), v = Δ_t x_t, log α = Δ_t a_h.
 * Parameter names follow mamba_ssm's module names.
 */
export class Mamba2 implements SequenceLayer {
  readonly inner: number;
  readonly headDim: number;
  readonly ssmHeads: number;
  readonly dState: number;

  private readonly inProj: Linear;
  private readonly conv: ShortConv;
  private readonly dtBias: tf.Variable;
  private readonly aLog: tf.Variable;
  private readonly skip: tf.Variable;
  private readonly norm: RMSNorm;
  private readonly outProj: Linear;

  constructor(
    context: LayerBuildContext,
    private readonly config: Mamba2Config,
  ) {
    const d = context.dModel;
    const scope = context.params;
    const widths = mamba2Widths(d, context.heads, config);
    this.inner = widths.inner;
    this.headDim = widths.headDim;
    this.ssmHeads = widths.ssmHeads;
    this.dState = config.dState;
    const [e, n, nh] = [this.inner, this.dState, this.ssmHeads];
    if (!(config.aInitMin <= config.aInitMax)) {
      throw new SelectivError(`mamba2: aInitMin = ${config.aInitMin} must not exceed aInitMax = ${config.aInitMax}`);
    }

    // Split as [z (E), xBC (E + 2N), δ (n_h)].
    this.inProj = new Linear(scope, "in_proj", d, 2 * e + 2 * n + nh, { bias: false });
    this.conv = new ShortConv(scope, "conv1d", e + 2 * n, config.convSize, { bias: true, activation: "silu" });
    this.dtBias = scope.variable("dt_bias", [nh], dtBiasInit(config, "mamba2"));
    // §4.2 init: A = exp(A_log) ~ U(aInitMin, aInitMax) per head.
    this.aLog = scope.variable(
      "A_log",
      [nh],
      init.byIndex((_, rng) => Math.log(config.aInitMin + (config.aInitMax - config.aInitMin) * rng.next())),
    );
    this.skip = scope.variable("D", [nh], init.constant(1));
    // One group over the whole E (§2, Mamba2 gated RMSNorm).
    this.norm = new RMSNorm(scope, "norm", e, 1e-5);
    this.outProj = new Linear(scope, "out_proj", e, d, { bias: false });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [e, n, nh] = [this.inner, this.dState, this.ssmHeads];
      // tf.split, not slices: its gradient is one concat, where each slice's is a pad and an add.
      const [z, xbcIn, dtIn] = tf.split(this.inProj.apply(x), [e, e + 2 * n, nh], 2) as tf.Tensor3D[];
      const [xs, bs, cs] = tf.split(this.conv.apply(xbcIn!), [e, n, n], 2) as tf.Tensor3D[];
      // Time before heads ([B, T, n_h, ·]): reshapes only, no transposes around the scan.
      const delta = this.delta(dtIn!); // [B, T, n_h]
      const u = splitHeadsByTime(xs!, nh); // [B, T, n_h, P]
      // B and C: one head read by every head (§6.1).
      const shared = (m: tf.Tensor3D) => sharedHead<tf.Tensor4D>(m, 2, nh);
      const output = linearRecurrenceOutputByTime(
        {
          query: shared(cs!),
          key: shared(bs!),
          value: tf.mul(u, tf.expandDims(delta, 3)),
          decay: { kind: "scalar", logAlpha: tf.mul(delta, tf.reshape(this.transition(), [1, 1, nh])) },
        },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      const y = tf.add(output, tf.mul(u, tf.reshape(this.skip, [1, 1, nh, 1]))) as tf.Tensor4D;
      const [b, t] = x.shape;
      return this.finish(tf.reshape(y, [b, t, e]) as tf.Tensor3D, z!);
    });
  }

  /** The conv window over the xBC channels ([B, K−1, E + 2N]) and the key-major state S = hᵀ ∈ [B, n_h, N, P]. */
  initialState(batch: number): LayerState {
    return [this.conv.initialWindow(batch), zeroState(batch, this.ssmHeads, this.dState, this.headDim)];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const b = x.shape[0];
      const [e, n, nh, p] = [this.inner, this.dState, this.ssmHeads, this.headDim];
      const projected = this.inProj.apply(x);
      const z = tf.slice(projected, [0, 0], [b, e]);
      const convolved = this.conv.step(tf.slice(projected, [0, e], [b, e + 2 * n]), state[0] as tf.Tensor3D);
      const xbc = convolved.y;
      const delta = this.delta(tf.slice(projected, [0, 2 * e + 2 * n], [b, nh])); // [B, n_h]
      const u = tf.reshape(tf.slice(xbc, [0, 0], [b, e]), [b, nh, p]);
      const perHead = (m: tf.Tensor2D) => tf.tile(tf.expandDims(m, 1), [1, nh, 1]) as tf.Tensor3D;
      const r = recurrenceStep(
        state[1] as tf.Tensor4D,
        perHead(tf.slice(xbc, [0, e + n], [b, n])),
        perHead(tf.slice(xbc, [0, e], [b, n])),
        tf.mul(u, tf.expandDims(delta, 2)),
        "scalar",
        tf.mul(delta, tf.reshape(this.transition(), [1, nh])),
      );
      const y = tf.add(r.output, tf.mul(u, tf.reshape(this.skip, [1, nh, 1])));
      return { y: this.finish(tf.reshape(y, [b, e]) as tf.Tensor2D, z), state: [convolved.window, r.state] };
    });
  }

  /** a_h = −exp(A_log_h). */
  private transition(): tf.Tensor1D {
    return tf.neg(tf.exp(this.aLog)) as tf.Tensor1D;
  }

  /** Δ = softplus(δ + dt_bias), no clamp (dt_limit (0, ∞)). */
  private delta<T extends tf.Tensor>(raw: T): T {
    return tf.softplus(tf.add(raw, this.dtBias)) as T;
  }

  /** RMSNorm_E(y ⊙ SiLU(z)) ⊙ w → out_proj (§2: gate before the norm, one group). */
  private finish<T extends tf.Tensor2D | tf.Tensor3D>(y: T, z: T): T {
    return this.outProj.apply(this.norm.apply(tf.mul(y, silu(z)) as T));
  }
}
