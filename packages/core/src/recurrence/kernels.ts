import { tf } from "../tf.js";

/**
 * Whether the fused Float32Array kernels should replace chunked TF-op forms: true on backends that keep tensors
 * in CPU memory (cpu, wasm, tensorflow), false on GPU backends, where reading data back would cost more.
 * SELECTIV_KERNELS=ops|fused forces a choice (benchmarks compare both).
 */
export function prefersFusedKernels(): boolean {
  const forced = process.env.SELECTIV_KERNELS;
  if (forced === "ops") return false;
  if (forced === "fused") return true;
  return ["cpu", "wasm", "tensorflow"].includes(tf.getBackend());
}
