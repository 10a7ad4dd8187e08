import {
  Linear,
  dropout,
  dropoutActive,
  init,
  prefersFusedKernels,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { s4dModes, type S4dConfig } from "./config.js";
import { fusedConvolutionKernel } from "./fused-convolution.js";
import { causalConvolution, complexPowers } from "./toeplitz.js";

/** The ZOH-discretised system, per channel and mode [d, N/2]: z = exp(Δ·A) and C' = C (z − 1)/A, as real parts. */
interface Discretised {
  zRe: tf.Tensor2D;
  zIm: tf.Tensor2D;
  cRe: tf.Tensor2D;
  cIm: tf.Tensor2D;
}

/**
 * S4D (the reference's `S4D` + `S4DKernel`, docs/spec/MODELS.md §5.2), one LTI system per channel h with N/2 complex modes:
 *   A_n = −exp(log_A_real) + i·A_imag,  z_n = exp(Δ A_n),  C'_n = C_n (z_n − 1)/A_n,
 *   s_t[n] = z_n s_{t−1}[n] + u_t,  y_t = 2 Re Σ_n C'_n s_t[n] + D u_t
 * (equivalently y = K ∗ u + D u with K[l] = 2 Re Σ_n C'_n z_n^l); then GELU (exact), DropoutNd (one mask per
 * (batch, channel), tied across time, only when training) and the output 1×1 conv d → 2d followed by a GLU.
 * The training form is the causal convolution y = K ∗ u + D u (fused kernels for K and the convolution on CPU
 * backends, TF ops and block-Toeplitz matmuls elsewhere; toeplitz.ts); "stepwise" is the complex recurrence.
 * Complex numbers are carried as real and imaginary parts. Parameter names follow the reference's modules.
 */
export class S4d implements SequenceLayer {
  readonly channels: number;
  readonly modes: number;

  private readonly skip: tf.Variable;
  private readonly logDt: tf.Variable;
  private readonly c: tf.Variable;
  private readonly logAReal: tf.Variable;
  private readonly aImag: tf.Variable;
  private readonly outputLinear: Linear;
  private readonly dropoutRate: number;

  constructor(
    context: LayerBuildContext,
    private readonly config: S4dConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.channels = d;
    this.modes = s4dModes(config);
    const m = this.modes;
    this.dropoutRate = context.dropout;

    // §5.2 init: D ~ N(0, 1); log Δ ~ U(log dtMin, log dtMax); C complex normal (parts N(0, ½)), stored as real
    // pairs [d, N/2, 2]; log_A_real = log ½; A_imag[h, n] = π n.
    this.skip = scope.variable("D", [d], init.normal(1));
    const kernel = scope.child("kernel");
    this.logDt = kernel.variable("log_dt", [d], init.uniform(Math.log(config.dtMin), Math.log(config.dtMax)));
    this.c = kernel.variable("C", [d, m, 2], init.normal(Math.SQRT1_2));
    this.logAReal = kernel.variable("log_A_real", [d, m], init.constant(Math.log(0.5)));
    this.aImag = kernel.variable(
      "A_imag",
      [d, m],
      init.byIndex((i) => Math.PI * (i % m)),
    );
    // Conv1d(d, 2d, kernel_size 1) with bias = a Linear d → 2d; PyTorch default init (fan_in = d).
    this.outputLinear = new Linear(scope, "output_linear.0", d, 2 * d, { bias: true });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = x.shape;
      const system = this.discretise();
      const y: tf.Tensor3D =
        (options.form ?? "chunked") === "stepwise"
          ? this.recurrence(x, system)
          : tf.add(causalConvolution(x, this.convolutionKernel(system, t), this.config.convBlock), tf.mul(x, this.skip));
      const activated = gelu(y);
      // DropoutNd: one mask per (batch, channel), the same at every step (spread over time by a matmul).
      const dropped: tf.Tensor3D =
        dropoutActive(options) && this.dropoutRate > 0
          ? tf.mul(activated, tf.matMul(tf.ones([b, t, 1]), dropout(tf.ones([b, 1, d]), this.dropoutRate, options.dropoutSeed ?? 0)))
          : activated;
      return this.glu(dropped);
    });
  }

  /** s_t per channel and mode, real and imaginary parts, each [B, d, N/2]. */
  initialState(batch: number): LayerState {
    return [tf.zeros([batch, this.channels, this.modes]), tf.zeros([batch, this.channels, this.modes])];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const r = this.advance(this.discretise(), state[0] as tf.Tensor3D, state[1] as tf.Tensor3D, x);
      return { y: this.glu(gelu(r.y)), state: [r.re, r.im] };
    });
  }

  /** z = exp(ΔA) and C' = C (z − 1)/A with A = −exp(log_A_real) + i A_imag, Δ = exp(log_dt) (§5.2, ZOH). */
  private discretise(): Discretised {
    const [d, m] = [this.channels, this.modes];
    const dt = tf.reshape(tf.exp(this.logDt), [d, 1]);
    const aRe = tf.neg(tf.exp(this.logAReal));
    const aIm = this.aImag;
    const magnitude = tf.exp(tf.mul(dt, aRe));
    const angle = tf.mul(dt, aIm);
    const zRe = tf.mul(magnitude, tf.cos(angle)) as tf.Tensor2D;
    const zIm = tf.mul(magnitude, tf.sin(angle)) as tf.Tensor2D;
    // (z − 1)/A = (z − 1)·conj(A)/|A|².
    const nRe = tf.sub(zRe, 1);
    const norm = tf.add(tf.square(aRe), tf.square(aIm));
    const qRe = tf.div(tf.add(tf.mul(nRe, aRe), tf.mul(zIm, aIm)), norm);
    const qIm = tf.div(tf.sub(tf.mul(zIm, aRe), tf.mul(nRe, aIm)), norm);
    const cRe = tf.reshape(tf.slice(this.c, [0, 0, 0], [d, m, 1]), [d, m]);
    const cIm = tf.reshape(tf.slice(this.c, [0, 0, 1], [d, m, 1]), [d, m]);
    return {
      zRe,
      zIm,
      cRe: tf.sub(tf.mul(cRe, qRe), tf.mul(cIm, qIm)) as tf.Tensor2D,
      cIm: tf.add(tf.mul(cRe, qIm), tf.mul(cIm, qRe)) as tf.Tensor2D,
    };
  }

  /** K[l, h] = 2 Re Σ_n C'_n z_n^l for l = 0..T−1: [T, d]. */
  private convolutionKernel(system: Discretised, length: number): tf.Tensor2D {
    if (prefersFusedKernels()) return fusedConvolutionKernel(system.zRe, system.zIm, system.cRe, system.cIm, length);
    const powers = complexPowers(system.zRe, system.zIm, length);
    const perMode = tf.sub(tf.mul(system.cRe, powers.re), tf.mul(system.cIm, powers.im));
    return tf.mul(tf.sum(perMode, 2), 2) as tf.Tensor2D;
  }

  /** The oracle: s_t = z ⊙ s_{t−1} + u_t, y_t = 2 Re Σ_n C'_n s_t[n] + D u_t, step by step. */
  private recurrence(x: tf.Tensor3D, system: Discretised): tf.Tensor3D {
    const [b, t, d] = x.shape;
    let [re, im] = this.initialState(b) as [tf.Tensor3D, tf.Tensor3D];
    const outputs: tf.Tensor2D[] = [];
    for (let i = 0; i < t; i++) {
      const r = this.advance(system, re, im, tf.reshape(tf.slice(x, [0, i, 0], [b, 1, d]), [b, d]) as tf.Tensor2D);
      [re, im] = [r.re, r.im];
      outputs.push(r.y);
    }
    // tf.stack rejects a single tensor inside gradient tapes: expand instead.
    return (t === 1 ? tf.expandDims(outputs[0]!, 1) : tf.stack(outputs, 1)) as tf.Tensor3D;
  }

  /** One step of the complex diagonal recurrence; returns the new state and y_t before the activation. */
  private advance(
    system: Discretised,
    re: tf.Tensor3D,
    im: tf.Tensor3D,
    u: tf.Tensor2D,
  ): { re: tf.Tensor3D; im: tf.Tensor3D; y: tf.Tensor2D } {
    const [b, d] = u.shape;
    // u_t enters every mode: [B·d, 1] × [1, N/2] (a matmul, not a size-1 broadcast).
    const input = tf.reshape(tf.matMul(tf.reshape(u, [b * d, 1]), tf.ones([1, this.modes])), [b, d, this.modes]);
    const nextRe = tf.add(tf.sub(tf.mul(system.zRe, re), tf.mul(system.zIm, im)), input) as tf.Tensor3D;
    const nextIm = tf.add(tf.mul(system.zRe, im), tf.mul(system.zIm, re)) as tf.Tensor3D;
    const readout = tf.sum(tf.sub(tf.mul(system.cRe, nextRe), tf.mul(system.cIm, nextIm)), 2);
    const y = tf.add(tf.mul(readout, 2), tf.mul(u, this.skip)) as tf.Tensor2D;
    return { re: nextRe, im: nextIm, y };
  }

  /** Output 1×1 conv d → 2d, then GLU over channels: first half ⊙ σ(second half). */
  private glu<T extends tf.Tensor2D | tf.Tensor3D>(y: T): T {
    const d = this.channels;
    const shape: number[] = y.shape;
    const rows = tf.reshape(y, [-1, d]) as tf.Tensor2D;
    // The two halves of the conv's output channels, from the halves of its weight and bias (slicing the [d, 2d]
    // weight is cheaper than slicing the [N, 2d] output).
    const half = (i: number) =>
      tf.add(
        tf.matMul(rows, tf.slice(this.outputLinear.weight, [0, i * d], [d, d]) as tf.Tensor2D),
        tf.slice(this.outputLinear.bias!, [i * d], [d]),
      );
    return tf.reshape(tf.mul(half(0), tf.sigmoid(half(1))) as tf.Tensor, shape) as unknown as T;
  }
}

/** Exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)) (the reference's act 'none' gives nn.GELU()). */
function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T;
}
