// Random inputs and a difference measure shared by the operators' oracle tests.
import type { Rng } from "../rng.js";
import { tf } from "../tf.js";

/** A tensor of normal draws: offset + scale · N(0, 1), in row-major order from `rng`. */
export function randn(rng: Rng, shape: number[], scale = 1, offset = 0): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => offset + scale * rng.normal()),
    shape,
  );
}

export const maxAbs = (a: tf.Tensor): number => tf.max(tf.abs(a)).dataSync()[0]!;
export const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => maxAbs(tf.sub(a, b));
