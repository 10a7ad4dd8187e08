import { Linear, RMSNorm, SelectivError, ShortConv, silu, tf, type ParameterScope } from "@selectiv/core";

/**
 * The q/k/v input path of the fla delta-rule layers (models.md §3.3–§3.5): x W → causal depthwise short conv →
 * SiLU. Without the short conv it is SiLU(x W).
 */
export class ConvProjection {
  readonly proj: Linear;
  readonly conv?: ShortConv;

  constructor(scope: ParameterScope, name: string, dModel: number, width: number, convSize: number, useShortConv: boolean) {
    this.proj = new Linear(scope, `${name}_proj`, dModel, width, { bias: false });
    if (useShortConv) this.conv = new ShortConv(scope, `${name}_conv1d`, width, convSize, { bias: false, activation: "silu" });
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    const projected = this.proj.apply(x);
    return this.conv ? this.conv.apply(projected) : silu(projected);
  }

  /** The conv window (the last K−1 projected inputs), or nothing without a short conv. */
  initialWindows(batch: number): tf.Tensor3D[] {
    return this.conv ? [this.conv.initialWindow(batch)] : [];
  }

  /** Streaming: x_t [B, d] and this path's window(s) from initialWindows → y_t [B, width] and the new window(s). */
  step(x: tf.Tensor2D, windows: readonly tf.Tensor[]): { y: tf.Tensor2D; windows: tf.Tensor3D[] } {
    const projected = this.proj.apply(x);
    if (!this.conv) return { y: silu(projected), windows: [] };
    const r = this.conv.step(projected, windows[0] as tf.Tensor3D);
    return { y: r.y, windows: [r.window] };
  }
}

/** fla's in-kernel L2 norm over the last (head) axis: x / sqrt(Σ x² + 1e-6) (models.md §2). */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-6))) as T;
}

/**
 * The readout path: per-head RMSNorm with one weight of size d_v shared by the heads, optionally times SiLU(x W_g)
 * (fla FusedRMSNormGated: norm first, then the gate; models.md §2), heads concatenated, then o_proj.
 */
export class NormedOutput {
  private readonly norm: RMSNorm;
  private readonly gProj?: Linear;
  private readonly oProj: Linear;

  constructor(
    scope: ParameterScope,
    dModel: number,
    private readonly heads: number,
    private readonly headValueDim: number,
    outputGate: boolean,
  ) {
    const valueDim = heads * headValueDim;
    if (outputGate) this.gProj = new Linear(scope, "g_proj", dModel, valueDim, { bias: false });
    this.norm = new RMSNorm(scope, "o_norm", headValueDim, 1e-5);
    this.oProj = new Linear(scope, "o_proj", valueDim, dModel, { bias: false });
  }

  /** readout [B, H, T, d_v] (from the delta rule) and x [B, T, d] → [B, T, d]. */
  sequence(readout: tf.Tensor4D, x: tf.Tensor3D): tf.Tensor3D {
    const [b, , t] = readout.shape;
    return this.finish(tf.transpose(readout, [0, 2, 1, 3]), x, [b, t, this.heads * this.headValueDim]);
  }

  /** readout [B, H, d_v] (one streaming step) and x_t [B, d] → [B, d]. */
  step(readout: tf.Tensor3D, x: tf.Tensor2D): tf.Tensor2D {
    return this.finish(readout, x, [readout.shape[0], this.heads * this.headValueDim]);
  }

  private finish<T extends tf.Tensor2D | tf.Tensor3D>(perHead: tf.Tensor, x: T, mergedShape: number[]): T {
    const normed: tf.Tensor = tf.reshape(this.norm.apply(perHead), mergedShape);
    return this.oProj.apply((this.gProj ? tf.mul(normed, silu(this.gProj.apply(x))) : normed) as T);
  }
}

/** Checks that a projection width splits into whole heads and returns the per-head width. */
export function perHeadWidth(model: string, what: string, width: number, heads: number): number {
  if (!Number.isInteger(width) || width % heads !== 0) {
    throw new SelectivError(`${model}: ${what} = ${width} must be an integer divisible by heads = ${heads}`);
  }
  return width / heads;
}
