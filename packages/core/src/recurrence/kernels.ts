import { tf } from "../tf.js";

/**
 * Whether the fused Float32Array kernels should replace chunked TF-op forms: true on backends that keep tensors
 * in CPU memory (cpu, wasm, tensorflow), false on GPU backends, where reading data back would cost more.
 * SELECTIV_KERNELS=ops|fused|registered forces a choice (benchmarks compare them; see prefersRegisteredKernels).
 */
export function prefersFusedKernels(): boolean {
  const forced = process.env.SELECTIV_KERNELS;
  if (forced === "ops" || forced === "registered") return false;
  if (forced === "fused") return true;
  return ["cpu", "wasm", "tensorflow"].includes(tf.getBackend());
}

/**
 * Whether the recurrences should run as registered TF.js kernels (hand-written WGSL on webgpu): true on webgpu
 * unless SELECTIV_KERNELS=ops forces the TF-op forms; SELECTIV_KERNELS=registered forces them on any backend
 * (on cpu and wasm the registered kernels are the fused Float32Array scans; operators without registered kernels
 * then take their TF-op forms).
 */
export function prefersRegisteredKernels(): boolean {
  const forced = process.env.SELECTIV_KERNELS;
  if (forced === "ops" || forced === "fused") return false;
  if (forced === "registered") return true;
  return tf.getBackend() === "webgpu";
}
