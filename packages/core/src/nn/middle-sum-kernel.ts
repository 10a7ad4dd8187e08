import { type ArrayBackend, type WebgpuBackend, elementwiseProgram, floatOutput, registerOnce } from "../kernel-registration.js";
import { tf } from "../tf.js";

/**
 * The sum over a middle run of axes: x viewed as [outer, R, inner] (R the product of the summed axes) →
 * [outer, inner], one output per invocation reading its R terms `inner` apart, so neighbouring invocations read
 * neighbouring addresses. TF.js sums a non-trailing axis by transposing it last and reducing (a full copy, then the
 * sum: two dispatches); this is the gradient of a head broadcast such as Mamba2's B and C shared by every head
 * ([B, T, 1, N] → [B, T, H, N]).
 * SelectivMiddleSum — input x; attrs outer, count (R), inner; output [outer · inner] (the caller reshapes). cpu and wasm
 * register a float64 loop: the oracle of the WGSL kernel, beside tf.sum (middle-sum-kernel.test.ts).
 */
export const MIDDLE_SUM = "SelectivMiddleSum";

interface MiddleSumAttrs {
  readonly outer: number;
  readonly count: number;
  readonly inner: number;
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: MIDDLE_SUM,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const { outer, count, inner } = attrs as unknown as MiddleSumAttrs;
        const x = b.readSync((inputs as { x: tf.TensorInfo }).x.dataId) as Float32Array;
        const out = new Float32Array(outer * inner);
        for (let o = 0; o < outer; o++)
          for (let i = 0; i < inner; i++) {
            let sum = 0;
            for (let r = 0; r < count; r++) sum += x[(o * count + r) * inner + i]!;
            out[o * inner + i] = sum;
          }
        return floatOutput(b, out, [outer * inner]);
      },
    },
  ];
}

function webgpuKernels(): tf.KernelConfig[] {
  return [
    {
      kernelName: MIDDLE_SUM,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { outer, count, inner } = attrs as unknown as MiddleSumAttrs;
        const program = elementwiseProgram({
          key: "selectiv_middle_sum",
          variableNames: ["x"],
          shape: [outer * inner],
          uniforms: "n : i32, count : i32, inner : i32,",
          body: `let o = index / uniforms.inner;
        let i = index % uniforms.inner;
        var sum = 0.0;
        for (var r = 0; r < uniforms.count; r++) { sum += x[(o * uniforms.count + r) * uniforms.inner + i]; }
        result[index] = sum;`,
        });
        const uniforms = [outer * inner, count, inner].map((v) => ({ type: "int32", data: [v] }));
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(program, [(inputs as { x: tf.TensorInfo }).x], "float32", uniforms);
      },
    },
  ];
}

/** Registers the kernel for cpu, wasm and webgpu (once). */
export const registerMiddleSumKernels = registerOnce(cpuKernels, webgpuKernels);

/**
 * The sum of x over `axes` with the summed axes kept (size 1), as one registered kernel when the axes are one
 * contiguous run followed by other axes (a middle run); undefined otherwise (the caller sums with tf.sum). Not
 * differentiable: it serves gradients.
 */
export function middleSumKernel(x: tf.Tensor, axes: number[]): tf.Tensor | undefined {
  const sorted = [...axes].sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (first === undefined || last === undefined || last - first + 1 !== sorted.length || last === x.rank - 1) return undefined;
  registerMiddleSumKernels();
  const size = (from: number, to: number) => x.shape.slice(from, to).reduce((a, b) => a * b, 1);
  const attrs = { outer: size(0, first), count: size(first, last + 1), inner: size(last + 1, x.rank) };
  const kept = x.shape.map((n, i) => (i >= first && i <= last ? 1 : n));
  const flat = tf.engine().runKernel(MIDDLE_SUM, { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  return tf.reshape(flat, kept);
}
