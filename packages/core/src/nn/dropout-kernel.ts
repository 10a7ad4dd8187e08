import { type ArrayBackend, type WebgpuBackend, elementwiseProgram, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";

/**
 * Inverted dropout whose mask is a counter-based hash of (seed, element index), computed where the tensor lives:
 * one dispatch forward and one backward on webgpu, and the same mask bit for bit on cpu, wasm and webgpu (integer
 * arithmetic only). A mask drawn by tf.randomUniform is made on the CPU by a sequential generator and uploaded: about
 * 55 ms for one [64, 400, 256] mask, 16 of them per step of the paper preset (docs/BENCHMARKS.md).
 *
 *   h = mix(mix(i ⊕ key) + key),  keep element i ⇔ ⌊h / 2⁸⌋ ≥ round(rate · 2²⁴),  y_i = keep ? x_i · s : 0,
 *   s = fl32(1 / (1 − rate)),  key = mix(seed),  mix = the "lowbias32" integer finaliser (C. Wellons).
 *
 * The gradient is the same map applied to dy (the mask is recomputed from the seed, never stored).
 * SelectivDropout — input x; attrs key (u32 as i32), threshold, scale; output y.
 */
export const DROPOUT = "SelectivDropout";

interface DropoutAttrs {
  readonly key: number;
  readonly threshold: number;
  readonly scale: number;
}

type Inputs = Record<string, tf.TensorInfo>;

/** The lowbias32 finaliser on u32 (as a JavaScript number in [0, 2³²)). */
function mix(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Whether element `index` is kept under `key` and `threshold` (the definition above). */
export function dropoutKeeps(index: number, key: number, threshold: number): boolean {
  const h = mix((mix((index ^ key) >>> 0) + key) >>> 0);
  return h >>> 8 >= threshold;
}

/** The kernel's attributes for a rate in [0, 1) and a seed (any number; hashed to 32 bits). */
export function dropoutAttrs(rate: number, seed: number): DropoutAttrs {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: rate ${rate} is not in [0, 1)`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return { key: mix((lo ^ mix(hi)) >>> 0), threshold: Math.round(rate * 2 ** 24), scale: Math.fround(1 / (1 - rate)) };
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: DROPOUT,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const { key, threshold, scale } = attrs as unknown as DropoutAttrs;
        const x = (inputs as Inputs).x!;
        const xs = b.readSync(x.dataId) as Float32Array;
        const ys = new Float32Array(xs.length);
        // Float32Array stores round the double product to float32: the same value as WGSL's f32 multiply.
        for (let i = 0; i < xs.length; i++) if (dropoutKeeps(i, key, threshold)) ys[i] = xs[i]! * scale;
        return floatOutput(b, ys, x.shape as number[]);
      },
    },
  ];
}

function dropoutProgram(shape: number[]): WgslProgram {
  return elementwiseProgram({
    key: "selectiv_dropout",
    variableNames: ["x"],
    shape,
    uniforms: "n : i32, key : i32, threshold : i32, scale : f32,",
    header: `fn lowbias32(v : u32) -> u32 {
        var x = v;
        x = x ^ (x >> 16u);
        x = x * 0x7feb352du;
        x = x ^ (x >> 15u);
        x = x * 0x846ca68bu;
        return x ^ (x >> 16u);
      }`,
    body: `let key = bitcast<u32>(uniforms.key);
        let h = lowbias32(lowbias32(u32(index) ^ key) + key);
        result[index] = select(0.0, x[index] * uniforms.scale, i32(h >> 8u) >= uniforms.threshold);`,
  });
}

function webgpuKernels(): tf.KernelConfig[] {
  return [
    {
      kernelName: DROPOUT,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = (inputs as Inputs).x!;
        const { key, threshold, scale } = attrs as unknown as DropoutAttrs;
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(dropoutProgram(x.shape as number[]), [x], "float32", [
          { type: "int32", data: [x.shape.reduce((a, b) => a * b, 1)] },
          { type: "int32", data: [key | 0] },
          { type: "int32", data: [threshold] },
          { type: "float32", data: [scale] },
        ]);
      },
    },
  ];
}

/** Registers the kernel for cpu, wasm and webgpu (once). */
export const registerDropoutKernels = registerOnce(cpuKernels, webgpuKernels);

/** Inverted dropout of x at `rate` with the mask of `seed`, differentiable in x (the gradient drops the same elements). */
export function hashedDropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  registerDropoutKernels();
  const attrs = dropoutAttrs(rate, seed) as unknown as tf.NamedAttrMap;
  const apply = (t: tf.Tensor) => tf.engine().runKernel(DROPOUT, { x: t }, attrs) as tf.Tensor;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: apply(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => apply(dy),
  }));
  return op(x) as T;
}
