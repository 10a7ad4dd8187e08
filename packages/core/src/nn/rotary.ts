import { SelectivError } from "../errors.js";
import { prefersRegisteredKernels } from "../recurrence/kernels.js";
import { tf } from "../tf.js";
import { rotaryKernel } from "./rotary-kernel.js";

/**
 * Rotary position embeddings over the whole head dim, halves (GPT-NeoX) layout (docs/spec/MODELS.md §2).
 * direction +1 is fla's rotation by +θ:  x¹cosθ − x²sinθ ‖ x²cosθ + x¹sinθ;
 * direction −1 is the reference Transformer's rotation by −θ:  x¹cosθ + x²sinθ ‖ −x¹sinθ + x²cosθ.
 * θ_{t,j} = t · base^(−2j/D), j = 0..D/2−1. Angles are formed as one fp32 product position · inv_freq on both the
 * training and the streaming path, so the two agree bit for bit.
 */
export class Rotary {
  private readonly inverseFrequencies: Float32Array;

  constructor(
    readonly model: string,
    readonly headDim: number,
    readonly base: number,
    readonly direction: 1 | -1,
  ) {
    if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
      throw new SelectivError(`${model}: RoPE needs an even head dim; got ${headDim}`);
    }
    const half = headDim / 2;
    this.inverseFrequencies = Float32Array.from({ length: half }, (_, j) => Math.pow(base, (-2 * j) / headDim));
  }

  /** Angles [P, D/2] for float32 positions [P]. */
  angles(positions: tf.Tensor1D): tf.Tensor2D {
    const half = this.headDim / 2;
    return tf.mul(tf.reshape(positions, [-1, 1]), tf.tensor2d(this.inverseFrequencies, [1, half]));
  }

  /** x [..., T, D] at positions 0..T−1 (the training form); one registered kernel where those are preferred. */
  applySequence<T extends tf.Tensor>(x: T): T {
    if (prefersRegisteredKernels()) return rotaryKernel(x, tf.tensor1d(this.inverseFrequencies), this.direction);
    const t = x.shape[x.rank - 2]!;
    return this.rotate(x, this.angles(tf.range(0, t, 1, "float32") as tf.Tensor1D));
  }

  /**
   * x [B, T, H, D] (time before heads: a projection reshaped into heads) at positions 0..T−1; the same values as
   * applySequence on [B, H, T, D], with no transposes: the registered kernel reads the layout, the TF-op form
   * broadcasts the angles [T, 1, D/2] over the heads.
   */
  applySequenceByTime(x: tf.Tensor4D): tf.Tensor4D {
    const [, t, heads] = x.shape;
    if (prefersRegisteredKernels()) return rotaryKernel(x, tf.tensor1d(this.inverseFrequencies), this.direction, heads);
    const angles = this.angles(tf.range(0, t, 1, "float32") as tf.Tensor1D);
    return this.rotate(x, tf.reshape(angles, [t, 1, this.headDim / 2]));
  }

  /** x [..., D] of a single step at the position held in `position` ([1], float32). */
  applyStep<T extends tf.Tensor>(x: T, position: tf.Tensor1D): T {
    return this.rotate(x, tf.reshape(this.angles(position), [this.headDim / 2]));
  }

  /** Rotates the last axis by `angles`, which broadcast against x's leading axes. */
  private rotate<T extends tf.Tensor>(x: T, angles: tf.Tensor): T {
    const half = this.headDim / 2;
    const [first, second] = tf.split(x, [half, half], x.rank - 1);
    const cos = tf.cos(angles);
    const sin = tf.mul(tf.sin(angles), this.direction);
    return tf.concat(
      [tf.sub(tf.mul(first!, cos), tf.mul(second!, sin)), tf.add(tf.mul(second!, cos), tf.mul(first!, sin))],
      x.rank - 1,
    ) as T;
  }
}
