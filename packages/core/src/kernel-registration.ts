import type { WgslProgram } from "./recurrence/linear/scan-webgpu.js";
import { tf } from "./tf.js";

/**
 * What the registered kernels (optim-kernel.ts, metric-kernel.ts, nn/*-kernel.ts) need of the backends, and their
 * registration: each kernel name gets a plain-loop oracle on cpu and wasm and a WGSL program on webgpu.
 */

/** WGSL: the flat workgroup index (TF.js folds a dispatch over 65,535 workgroups into two or three dimensions). */
export const FLAT_WORKGROUP = "i32(workgroupId.x + workgroupId.y * numWorkgroups.x + workgroupId.z * numWorkgroups.x * numWorkgroups.y)";

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

const ELEMENTWISE_WORKGROUP = 64;

/**
 * A WGSL program with one invocation per element of `shape` (TF.js's flat `index`), returning early past the uniform
 * `n`, which `uniforms` must declare first (default "n : i32,"). `header` holds helper functions; `body` the
 * statements for one index. Sizes are uniforms, so `key` names the program alone (backend.ts adds no shapes after "|").
 */
export function elementwiseProgram(p: {
  readonly key: string;
  readonly variableNames: string[];
  readonly shape: number[];
  readonly body: string;
  readonly uniforms?: string;
  readonly header?: string;
}): WgslProgram {
  const n = p.shape.reduce((a, b) => a * b, 1);
  return {
    variableNames: p.variableNames,
    outputShape: p.shape,
    shaderKey: `${p.key}|`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(n / ELEMENTWISE_WORKGROUP), 1, 1],
    workgroupSize: [ELEMENTWISE_WORKGROUP, 1, 1],
    uniforms: p.uniforms ?? "n : i32,",
    getUserCode: () => `
      ${p.header ?? ""}
      fn main(index : i32) {
        if (index >= uniforms.n) { return; }
        ${p.body}
      }
    `,
  };
}

const routedKernels = new Set<string>();

/**
 * Puts `route` in front of TF.js's own webgpu kernel `kernelName` (once): `route` returns its result, or undefined to
 * let the original kernel run. Call once the webgpu backend is registered.
 */
export function routeWebgpuKernel(kernelName: string, route: (args: Parameters<tf.KernelFunc>[0]) => tf.TensorInfo | undefined): void {
  const original = tf.getKernel(kernelName, "webgpu");
  if (!original || routedKernels.has(kernelName)) return;
  routedKernels.add(kernelName);
  tf.unregisterKernel(kernelName, "webgpu");
  tf.registerKernel({ ...original, kernelFunc: (args) => route(args) ?? original.kernelFunc(args) });
}
