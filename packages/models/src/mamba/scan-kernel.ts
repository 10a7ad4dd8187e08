import { kernelScanOutput, tf, type SelectiveScanInputs } from "@selectiv/core";

/**
 * Mamba's selective scan as the decayed linear scan (docs/spec/MODELS.md §4.1 in the terms of §6.1), run by its
 * registered kernels (WGSL on webgpu): each channel e is a head whose state is h[e, :] (d_k = N, d_v = 1), with
 * query C_t (one head shared by every channel), key Δ_t[e] B_t, value x_t[e] and diagonal decay
 * log α_t[e, n] = Δ_t[e] A[e, n]. The broadcasts are TF ops, so autodiff sums their gradients back onto Δ, A, B, C
 * and x. A few dozen dispatches per layer instead of the step-by-step form's ~40 per time step; it holds
 * [B, E, T, N] tensors (key, decay, the broadcast C and their gradients), so callers check
 * fitsSelectiveScanKernel first.
 */
export function selectiveScanByLinearScan(inputs: SelectiveScanInputs): tf.Tensor3D {
  const { x, delta, a, b, c } = inputs;
  const [B, T, E] = x.shape;
  const N = a.shape[1];
  const deltaLanes = tf.reshape(tf.transpose(delta, [0, 2, 1]), [B, E, T, 1]);
  const query = tf.reshape(c, [B, 1, T, N]) as tf.Tensor4D;
  const key = tf.mul(deltaLanes, tf.reshape(b, [B, 1, T, N])) as tf.Tensor4D;
  const value = tf.reshape(tf.transpose(x, [0, 2, 1]), [B, E, T, 1]) as tf.Tensor4D;
  const logAlpha = tf.mul(deltaLanes, tf.reshape(a, [1, E, 1, N])) as tf.Tensor4D;
  const output = kernelScanOutput({ query, key, value, decay: { kind: "diagonal", logAlpha } });
  return tf.transpose(tf.reshape(output, [B, E, T]), [0, 2, 1]) as tf.Tensor3D;
}

/** Floats in one [B, E, T, N] tensor of the kernel form that stay affordable (256 MiB each). */
export const SELECTIVE_SCAN_KERNEL_FLOATS = 64 * 1024 * 1024;

/** Samples per call of the kernel form whose [B, E, T, N] tensors fit `maxFloats` (0: not even one). */
export function selectiveScanKernelSamples(inputs: SelectiveScanInputs, maxFloats = SELECTIVE_SCAN_KERNEL_FLOATS): number {
  const [B, T, E] = inputs.x.shape;
  return Math.min(B, Math.floor(maxFloats / (E * T * inputs.a.shape[1])));
}

/** Whether the kernel form fits SELECTIVE_SCAN_KERNEL_FLOATS one sample at a time (selectiveScanInSampleGroups). */
export function fitsSelectiveScanKernel(inputs: SelectiveScanInputs, maxFloats = SELECTIVE_SCAN_KERNEL_FLOATS): boolean {
  return selectiveScanKernelSamples(inputs, maxFloats) > 0;
}

/**
 * selectiveScanByLinearScan over groups of samples small enough for `maxFloats`, joined along the batch: samples are
 * independent, so the result is the same as one call's. An evaluation batch of long Task-4 sequences (tens of
 * thousands of steps) otherwise fell to the step-by-step form, whose per-step tensors all live until the layer ends
 * (GPU memory ran out with four runs sharing an H100).
 */
export function selectiveScanInSampleGroups(inputs: SelectiveScanInputs, maxFloats = SELECTIVE_SCAN_KERNEL_FLOATS): tf.Tensor3D {
  const B = inputs.x.shape[0];
  const per = selectiveScanKernelSamples(inputs, maxFloats);
  if (per >= B) return selectiveScanByLinearScan(inputs);
  const sizes = Array.from({ length: Math.ceil(B / per) }, (_, g) => Math.min(per, B - g * per));
  const split = (t: tf.Tensor3D) => tf.split(t, sizes, 0) as tf.Tensor3D[];
  const [xs, deltas, bs, cs] = [split(inputs.x), split(inputs.delta), split(inputs.b), split(inputs.c)];
  const parts = sizes.map((_, g) => selectiveScanByLinearScan({ x: xs[g]!, delta: deltas[g]!, a: inputs.a, b: bs[g]!, c: cs[g]! }));
  return tf.concat(parts, 0) as tf.Tensor3D;
}
