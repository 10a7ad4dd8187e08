import { type ArrayBackend, type WebgpuBackend, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";

/**
 * Rotary position embedding of a sequence (./rotary.ts, docs/spec/MODELS.md §2) as one registered kernel: x [..., T, D]
 * at positions 0..T−1, halves layout, θ_{t,j} = fl32(t · inv_freq_j) and the sign s = ±1 of the rotation:
 *   y¹ = x¹ cos θ − s x² sin θ,   y² = x² cos θ + s x¹ sin θ.
 * A rotation is orthogonal, so the gradient is the same kernel with −s applied to dy. One dispatch each way on
 * webgpu, where the TF-op form takes ~14 forward and ~12 backward (split, cos, sin, four products, concat).
 * SelectivRotary — inputs x, inverseFrequencies [D/2]; attr sign (and heads: given H ≥ 1, x is [..., T, H, D], time
 * before heads, so row r is at position ⌊r / H⌋ mod T); output y like x. cpu and wasm register a float64
 * loop: the oracle of the WGSL kernel (rotary-kernel.test.ts), beside the TF-op form that cpu and wasm train with.
 */
export const ROTARY = "SelectivRotary";

interface RotaryAttrs {
  readonly sign: 1 | -1;
  readonly heads?: number;
}

/** Positions T and rows per position H of x: [..., T, D], or [..., T, H, D] with attr heads = H ≥ 1. */
function positions(shape: readonly number[], heads = 0): { T: number; H: number } {
  return heads > 0 ? { T: shape[shape.length - 3]!, H: heads } : { T: shape[shape.length - 2]!, H: 1 };
}

type Inputs = Record<string, tf.TensorInfo>;

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: ROTARY,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const { sign, heads } = attrs as unknown as RotaryAttrs;
        const x = (inputs as Inputs).x!;
        const xs = b.readSync(x.dataId) as Float32Array;
        const inv = b.readSync((inputs as Inputs).inverseFrequencies!.dataId) as Float32Array;
        const D = x.shape[x.shape.length - 1]!;
        const { T, H } = positions(x.shape, heads);
        const half = D / 2;
        const ys = new Float32Array(xs.length);
        for (let row = 0; row < xs.length / D; row++) {
          const t = Math.floor(row / H) % T;
          const at = row * D;
          for (let j = 0; j < half; j++) {
            const angle = Math.fround(t * inv[j]!);
            const c = Math.cos(angle);
            const s = sign * Math.sin(angle);
            const x1 = xs[at + j]!;
            const x2 = xs[at + half + j]!;
            ys[at + j] = x1 * c - x2 * s;
            ys[at + half + j] = x2 * c + x1 * s;
          }
        }
        return floatOutput(b, ys, x.shape as number[]);
      },
    },
  ];
}

const WORKGROUP = 64;

/** One invocation per (row, j < D/2): both halves of pair j. */
function rotaryProgram(shape: number[], sign: 1 | -1): WgslProgram {
  const n = shape.reduce((a, b) => a * b, 1) / 2;
  return {
    variableNames: ["x", "inverseFrequencies"],
    outputShape: shape,
    // Sizes are uniforms; the sign is baked in and named in the key ("|": backend.ts adds no shapes to the key).
    shaderKey: `selectiv_rotary_${sign > 0 ? "plus" : "minus"}|`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(n / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "pairs : i32, half : i32, steps : i32, heads : i32,",
    getUserCode: () => `
      fn main(index : i32) {
        if (index >= uniforms.pairs) { return; }
        let row = index / uniforms.half;
        let j = index % uniforms.half;
        let angle = f32((row / uniforms.heads) % uniforms.steps) * inverseFrequencies[j];
        let c = cos(angle);
        let s = ${sign > 0 ? "" : "-"}sin(angle);
        let at = row * 2 * uniforms.half + j;
        let x1 = x[at];
        let x2 = x[at + uniforms.half];
        result[at] = x1 * c - x2 * s;
        result[at + uniforms.half] = x2 * c + x1 * s;
      }
    `,
  };
}

function webgpuKernels(): tf.KernelConfig[] {
  return [
    {
      kernelName: ROTARY,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, inverseFrequencies } = inputs as Inputs;
        const { sign, heads } = attrs as unknown as RotaryAttrs;
        const shape = x!.shape as number[];
        const D = shape[shape.length - 1]!;
        const { T, H } = positions(shape, heads);
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(rotaryProgram(shape, sign), [x!, inverseFrequencies!], "float32", [
          { type: "int32", data: [shape.reduce((a, b) => a * b, 1) / 2] },
          { type: "int32", data: [D / 2] },
          { type: "int32", data: [T] },
          { type: "int32", data: [H] },
        ]);
      },
    },
  ];
}

/** Registers the kernel for cpu, wasm and webgpu (once). */
export const registerRotaryKernels = registerOnce(cpuKernels, webgpuKernels);

/**
 * x [..., T, D] rotated at positions 0..T−1 with sign ±1, differentiable in x; given `heads` = H, x is [..., T, H, D]
 * (time before heads) and every head of a step takes that step's position.
 */
export function rotaryKernel<T extends tf.Tensor>(x: T, inverseFrequencies: tf.Tensor1D, sign: 1 | -1, heads = 0): T {
  registerRotaryKernels();
  const rotate = (t: tf.Tensor, frequencies: tf.Tensor, s: 1 | -1) =>
    tf.engine().runKernel(ROTARY, { x: t, inverseFrequencies: frequencies }, { sign: s, heads } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    // Saved: the frequencies may be a temporary of the forward pass, disposed before the backward pass runs.
    (args[1] as tf.GradSaveFunc)([inverseFrequencies]);
    return {
      value: rotate(args[0] as tf.Tensor, inverseFrequencies, sign),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => rotate(dy, saved[0]!, sign > 0 ? -1 : 1),
    };
  });
  return op(x) as T;
}
