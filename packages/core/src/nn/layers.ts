import { tf } from "../tf.js";
import { prefersRegisteredKernels } from "../recurrence/kernels.js";
import { activationKernel } from "./activation-kernel.js";
import { hashedDropout } from "./dropout-kernel.js";
import { swigluKernel, swigluPackedKernel } from "./swiglu-kernel.js";
import { init, type ParameterScope } from "./parameters.js";
import { normKernel } from "./norm-kernel.js";
import { shortConvKernel } from "./short-conv-kernel.js";

/**
 * a ⊙ σ(β a) ⊙ b, the reference Transformer's gated feed-forward activation with a learnable scalar β ([1]); one
 * registered kernel forward and three backward where those are preferred (./swiglu-kernel.ts).
 */
export function swishGate<T extends tf.Tensor>(a: T, b: T, beta: tf.Tensor): T {
  if (prefersRegisteredKernels()) return swigluKernel(a, b, beta);
  return tf.mul(tf.mul(a, tf.sigmoid(tf.mul(beta, a))), b) as T;
}

/**
 * swishGate of the two halves of ab [.., 2F] along its last axis (a projection that makes both): on the registered
 * kernels one packed dispatch each way, with no split and no concat of its gradient; else split and the TF-op form.
 */
export function swishGatePacked<T extends tf.Tensor>(ab: T, beta: tf.Tensor): T {
  if (prefersRegisteredKernels()) return swigluPackedKernel(ab, beta);
  const [a, b] = tf.split(ab, 2, ab.rank - 1);
  return swishGate(a! as T, b! as T, beta);
}

/** x σ(x); one registered kernel each way where those are preferred (./activation-kernel.ts). */
export function silu<T extends tf.Tensor>(x: T): T {
  if (prefersRegisteredKernels()) return activationKernel(x, "silu");
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * log σ(x) as −softplus(−x) (tf.logSigmoid of an intermediate fails inside variableGrads on cpu); one registered
 * kernel each way where those are preferred.
 */
export function logSigmoid<T extends tf.Tensor>(x: T): T {
  if (prefersRegisteredKernels()) return activationKernel(x, "logsigmoid");
  return tf.neg(tf.softplus(tf.neg(x)));
}

/**
 * y = x W + b over the last axis, as one 2-D matMul (batched and rank-3×rank-2 matMuls are slow or have wrong
 * gradients in TF.js 4.22). W is stored [in, out].
 */
export class Linear {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(
    scope: ParameterScope,
    name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias: boolean; weightInit?: ReturnType<typeof init.uniform>; biasInit?: ReturnType<typeof init.uniform> },
  ) {
    const s = scope.child(name);
    this.weight = s.variable("weight", [inFeatures, outFeatures], options.weightInit ?? init.fanIn(inFeatures));
    if (options.bias) this.bias = s.variable("bias", [outFeatures], options.biasInit ?? init.fanIn(inFeatures));
  }

  apply<T extends tf.Tensor>(x: T): T {
    const lead = x.shape.slice(0, -1);
    const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
    const w = this.weight as tf.Tensor2D;
    // On webgpu the bias rides in the matMul's own program: one dispatch, where an add is a second.
    const y = !this.bias
      ? matMul2d(x2, w)
      : prefersRegisteredKernels()
        ? tf.fused.matMul({ a: x2, b: w, bias: this.bias })
        : tf.add(matMul2d(x2, w), this.bias);
    return tf.reshape(y, [...lead, this.outFeatures]) as T;
  }
}

/** a b with a gradient made of explicit transposes and plain matMuls (see matMul2d). */
const matMulExplicitTransposes = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * 2-D a b. On wasm, XNNPACK serves only non-transposed 2-D matMuls, and TF.js's own matMul gradient uses
 * transposed ones (the slow path: 10–20× slower), so there the gradient transposes explicitly.
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.getBackend() === "wasm" ? matMulExplicitTransposes(a, b) : tf.matMul(a, b);
}

/**
 * Depthwise causal convolution over time (docs/spec/MODELS.md §2): y_t[c] = act(Σ_j w[j, c] x_{t−K+1+j}[c] + b[c]),
 * built from K shifted slices (wasm cannot train conv1d). Tap K−1 multiplies the current step.
 */
export class ShortConv {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(
    scope: ParameterScope,
    name: string,
    readonly channels: number,
    readonly kernelSize: number,
    options: { bias: boolean; activation: "silu" | "none" },
  ) {
    const s = scope.child(name);
    this.activation = options.activation;
    this.weight = s.variable("weight", [kernelSize, channels], init.fanIn(kernelSize));
    if (options.bias) this.bias = s.variable("bias", [channels], init.fanIn(kernelSize));
  }

  private readonly activation: "silu" | "none";

  /** x: [B, T, D]. As registered kernels where they are preferred (webgpu: 5 dispatches instead of ~60). */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    if (prefersRegisteredKernels())
      return shortConvKernel(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | undefined, this.activation === "silu");
    return this.applyOps(x);
  }

  /** The TF-op form (cpu and wasm train with it; the oracle of ./short-conv-kernel.ts). */
  applyOps(x: tf.Tensor3D): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const k = this.kernelSize;
    const padded = tf.concat([tf.zeros([b, k - 1, d]), x], 1);
    let y: tf.Tensor3D | undefined;
    for (let j = 0; j < k; j++) {
      const tap = tf.mul(tf.slice(padded, [0, j, 0], [b, t, d]), tf.slice(this.weight, [j, 0], [1, d]).reshape([d]));
      y = (y ? tf.add(y, tap) : tap) as tf.Tensor3D;
    }
    return this.finish(y!);
  }

  /** Streaming: x_t [B, D] and the last K−1 inputs [B, K−1, D] → y_t and the new window. */
  step(x: tf.Tensor2D, window: tf.Tensor3D): { y: tf.Tensor2D; window: tf.Tensor3D } {
    const [b, d] = x.shape;
    const full = tf.concat([window, tf.reshape(x, [b, 1, d])], 1) as tf.Tensor3D;
    const y = tf.sum(tf.mul(full, tf.reshape(this.weight, [1, this.kernelSize, d])), 1) as tf.Tensor2D;
    return { y: this.finish(y), window: tf.slice(full, [0, 1, 0], [b, this.kernelSize - 1, d]) };
  }

  initialWindow(batch: number): tf.Tensor3D {
    return tf.zeros([batch, this.kernelSize - 1, this.channels]);
  }

  private finish<T extends tf.Tensor>(y: T): T {
    const biased = this.bias ? (tf.add(y, this.bias) as T) : y;
    return this.activation === "silu" ? silu(biased) : biased;
  }
}

/**
 * RMSNorm over the last axis (fla, docs/spec/MODELS.md §2): x / sqrt(mean(x²) + eps) ⊙ w; with `epsOutside`, the
 * reference Transformer's form x / (sqrt(mean(x²)) + eps) ⊙ w (§5.1).
 */
export class RMSNorm {
  readonly weight: tf.Variable;

  constructor(
    scope: ParameterScope,
    name: string,
    readonly size: number,
    readonly eps = 1e-5,
    readonly epsOutside = false,
  ) {
    this.weight = scope.child(name).variable("weight", [size], init.constant(1));
  }

  /** As registered kernels where they are preferred (webgpu: 5 dispatches instead of ~15). */
  apply<T extends tf.Tensor>(x: T): T {
    if (prefersRegisteredKernels())
      return normKernel(x, this.weight as tf.Tensor1D, undefined, false, this.eps, { epsOutside: this.epsOutside });
    return this.applyOps(x);
  }

  /** The TF-op form (cpu and wasm train with it; the oracle of ./norm-kernel.ts). */
  applyOps<T extends tf.Tensor>(x: T): T {
    if (this.epsOutside) {
      const rms = tf.sqrt(tf.mean(tf.square(x), x.rank - 1, true));
      return tf.mul(tf.div(x, tf.add(rms, this.eps)), this.weight) as T;
    }
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.eps))), this.weight) as T;
  }
}

/**
 * fla's L2 norm over the last axis: x / √(Σ x² + eps) (docs/spec/MODELS.md §2). Where registered kernels are
 * preferred it is the norm kernel (RMSNorm with Σ for mean and no γ: 4 dispatches instead of ~13).
 */
export function l2NormalizeLastAxis<T extends tf.Tensor>(x: T, eps: number): T {
  if (prefersRegisteredKernels()) return normKernel(x, undefined, undefined, false, eps, { sumSquares: true });
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), eps))) as T;
}

/** LayerNorm over the last axis with affine weight and bias, eps 1e-5. */
export class LayerNorm {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    scope: ParameterScope,
    name: string,
    readonly size: number,
    readonly eps = 1e-5,
  ) {
    const s = scope.child(name);
    this.weight = s.variable("weight", [size], init.constant(1));
    this.bias = s.variable("bias", [size], init.constant(0));
  }

  /** As registered kernels where they are preferred (webgpu: 5 dispatches instead of ~25). */
  apply<T extends tf.Tensor>(x: T): T {
    if (prefersRegisteredKernels()) return normKernel(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, true, this.eps);
    return this.applyOps(x);
  }

  /** The TF-op form (cpu and wasm train with it; the oracle of ./norm-kernel.ts). */
  applyOps<T extends tf.Tensor>(x: T): T {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps))), this.weight), this.bias) as T;
  }
}

/**
 * Inverted dropout with a seeded mask: same seed → same mask on every backend, made where the tensor lives
 * (./dropout-kernel.ts).
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (rate <= 0) return x;
  return hashedDropout(x, rate, seed);
}

/** [B, T, H·D] → [B, H, T, D] (head h is features h·D .. h·D + D − 1). */
export function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [b, t, f] = x.shape;
  return tf.transpose(tf.reshape(x, [b, t, heads, f / heads]), [0, 2, 1, 3]);
}

/** [B, T, H·D] → [B, T, H, D], a reshape (the layout of linearRecurrenceOutputByTime). */
export function splitHeadsByTime(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [b, t, f] = x.shape;
  return tf.reshape(x, [b, t, heads, f / heads]);
}

/**
 * tf.broadcastTo(x, shape) (x of the same rank, its axes of size 1 broadcast) with the gradient one sum over the
 * broadcast axes: TF.js runs broadcastTo as Tile, whose gradient is one slice and one add per repetition
 * (2·repetitions dispatches on webgpu). Same values; the gradient sums in another order than tf.tile's. On webgpu a
 * middle run of broadcast axes (heads shared by every head) sums in one program (./axis-sum.ts).
 */
export function broadcastSummingGradient<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  const axes = shape.flatMap((n, i) => (x.shape[i] === n ? [] : [i]));
  if (axes.length === 0) return x as T;
  const broadcast = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.broadcastTo(args[0] as tf.Tensor, shape),
    gradFunc: (dy: tf.Tensor) => tf.sum(dy, axes, true),
  }));
  return broadcast(x) as T;
}

/**
 * x repeated `times` along a new axis 1 ([B, …] → [B, times, …]), e.g. one B/C projection shared by every head.
 * Where registered kernels are preferred its gradient is one sum (broadcastSummingGradient); cpu and wasm keep
 * tf.tile's gradient, so their results stay bit for bit.
 */
export function repeatAlongNewAxis1<T extends tf.Tensor>(x: tf.Tensor, times: number): T {
  return repeatAlongNewAxis<T>(x, 1, times);
}

/** x repeated `times` along a new axis at `axis` (repeatAlongNewAxis1's rules; axis 2 gives [B, T, times, …]). */
export function repeatAlongNewAxis<T extends tf.Tensor>(x: tf.Tensor, axis: number, times: number): T {
  const expanded = tf.expandDims(x, axis);
  const shape = [...x.shape.slice(0, axis), times, ...x.shape.slice(axis)];
  if (!prefersRegisteredKernels())
    return tf.tile(
      expanded,
      shape.map((n, i) => (i === axis ? n : 1)),
    ) as T;
  return broadcastSummingGradient<T>(expanded, shape);
}

/**
 * x as one head shared by `heads` heads, on a new axis (Mamba2's B and C: [B, T, N] → [B, T, 1, N] at axis 2), the
 * form the recurrences take (docs/spec/MODELS.md §6.1). Where registered kernels are preferred the scan reads the
 * shared head in place (no broadcast forward, no sum backward); elsewhere it is repeated to every head
 * (repeatAlongNewAxis), so cpu and wasm results stay bit for bit what they were.
 */
export function sharedHead<T extends tf.Tensor>(x: tf.Tensor, axis: number, heads: number): T {
  return prefersRegisteredKernels() ? (tf.expandDims(x, axis) as T) : repeatAlongNewAxis<T>(x, axis, heads);
}

/** [B, H, T, D] → [B, T, H·D]. */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [b, h, t, d] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d]);
}

/**
 * Σ of equally shaped tensors, added in pairs. tf.addN binds every input to one program: past the device's
 * storage-buffer limit (8 per stage on many WebGPU adapters) that program is rejected and the sum reads as zero.
 */
export function sumOfTensors<T extends tf.Tensor>(tensors: readonly T[]): T {
  if (tensors.length === 0) throw new Error("sumOfTensors: no tensors");
  return tf.tidy(() => {
    let level: tf.Tensor[] = [...tensors];
    while (level.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? tf.add(level[i]!, level[i + 1]!) : level[i]!);
      level = next;
    }
    return level[0] as T;
  });
}
