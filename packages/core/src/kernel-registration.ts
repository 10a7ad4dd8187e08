import type { WgslProgram } from "./recurrence/linear/scan-webgpu.js";
import { tf } from "./tf.js";

/**
 * What the registered kernels (optim-kernel.ts, metric-kernel.ts, nn/*-kernel.ts) need of the backends, and their
 * registration: each kernel name gets a plain-loop oracle on cpu and wasm and a WGSL program on webgpu.
 */

/** cpu and wasm: synchronous reads and writes of backend memory. */
export interface ArrayBackend {
  readSync(dataId: tf.DataId): unknown;
  write(values: Float32Array, shape: number[], dtype: tf.DataType): tf.DataId;
}

/** TF.js 4.22's webgpu backend: runs one WGSL program (into `output` when given) and frees intermediates. */
export interface WebgpuBackend {
  runWebGPUProgram(
    program: WgslProgram,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniforms?: { type: string; data: number[] }[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  disposeData(dataId: tf.DataId): void;
}

/** A float32 tensor written into cpu/wasm backend memory. */
export function floatOutput(backend: ArrayBackend, values: Float32Array, shape: number[]): tf.TensorInfo {
  return { dataId: backend.write(values, shape, "float32"), shape, dtype: "float32" };
}

/**
 * Returns a function that registers the kernels once: `cpu(backendName)` for cpu and wasm, `webgpu()` for webgpu
 * (a backend that is never started costs nothing; a name already registered is kept).
 */
export function registerOnce(cpu: (backendName: "cpu" | "wasm") => tf.KernelConfig[], webgpu: () => tf.KernelConfig[]): () => void {
  let registered = false;
  return () => {
    if (registered) return;
    registered = true;
    for (const config of [...cpu("cpu"), ...cpu("wasm"), ...webgpu()]) {
      if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
    }
  };
}
