import { type ArrayBackend, type WebgpuBackend, elementwiseProgram, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";

/**
 * The reference Transformer's gated feed-forward activation (docs/spec/MODELS.md §5.1) as registered kernels:
 *   f = a ⊙ σ(β a) ⊙ b,  with s = σ(β a):
 *   ∂f/∂a = b s (1 + β a (1 − s)),   ∂f/∂b = a s,   ∂f/∂β = Σ a² b s (1 − s)   (β one learnable scalar).
 * SelectivSwiGlu — inputs a, b (one shape), beta [1]; output f. SelectivSwiGluGrad — inputs a, b, beta, dy; attr
 * part: "a" (dy ∂f/∂a), "b" (dy ∂f/∂b) or "beta" (dy a² b s (1 − s), summed by the caller). One dispatch each on
 * webgpu, where the TF-op form takes 4 forward and ~10 backward. cpu and wasm register float64 loops: the oracle of
 * the WGSL kernels (swiglu-kernel.test.ts), beside the TF-op form that cpu and wasm train with.
 */
export const SWIGLU = "SelectivSwiGlu";
export const SWIGLU_GRAD = "SelectivSwiGluGrad";

type Part = "a" | "b" | "beta";
const PARTS: readonly Part[] = ["a", "b", "beta"];

interface GradAttrs {
  readonly part: Part;
}

type Inputs = Record<string, tf.TensorInfo>;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function gradient(part: Part, a: number, b: number, beta: number, dy: number): number {
  const s = sigmoid(beta * a);
  if (part === "a") return dy * b * s * (1 + beta * a * (1 - s));
  if (part === "b") return dy * a * s;
  return dy * a * a * b * s * (1 - s);
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  const read = (b: ArrayBackend, x: Inputs, name: string) => b.readSync(x[name]!.dataId) as Float32Array;
  return [
    {
      kernelName: SWIGLU,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const bk = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const [as, bs, beta] = [read(bk, x, "a"), read(bk, x, "b"), read(bk, x, "beta")[0]!];
        return floatOutput(
          bk,
          Float32Array.from(as, (a, i) => a * sigmoid(beta * a) * bs[i]!),
          x.a!.shape as number[],
        );
      },
    },
    {
      kernelName: SWIGLU_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const bk = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const { part } = attrs as unknown as GradAttrs;
        const [as, bs, beta, dy] = [read(bk, x, "a"), read(bk, x, "b"), read(bk, x, "beta")[0]!, read(bk, x, "dy")];
        return floatOutput(
          bk,
          Float32Array.from(as, (a, i) => gradient(part, a, bs[i]!, beta, dy[i]!)),
          x.a!.shape as number[],
        );
      },
    },
  ];
}

// WGSL may assume no value is infinite: e^{−βa} is capped at e^80 (σ < 2e−35 there either way).
const GRADIENT: Record<Part, string> = {
  a: "dy[index] * v * s * (1.0 + beta[0] * u * (1.0 - s))",
  b: "dy[index] * u * s",
  beta: "dy[index] * u * u * v * s * (1.0 - s)",
};

function swigluProgram(shape: number[], part?: Part): WgslProgram {
  return elementwiseProgram({
    key: `selectiv_swiglu_${part ?? "value"}`,
    variableNames: part ? ["a", "b", "beta", "dy"] : ["a", "b", "beta"],
    shape,
    body: `let u = a[index];
        let v = b[index];
        let s = 1.0 / (1.0 + exp(min(-beta[0] * u, 80.0)));
        result[index] = ${part ? GRADIENT[part] : "u * s * v"};`,
  });
}

function webgpuKernels(): tf.KernelConfig[] {
  const size = (x: tf.TensorInfo) => [{ type: "int32", data: [x.shape.reduce((p, q) => p * q, 1)] }];
  return [
    {
      kernelName: SWIGLU,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend }) => {
        const x = inputs as Inputs;
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          swigluProgram(x.a!.shape as number[]),
          [x.a!, x.b!, x.beta!],
          "float32",
          size(x.a!),
        );
      },
    },
    {
      kernelName: SWIGLU_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const { part } = attrs as unknown as GradAttrs;
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          swigluProgram(x.a!.shape as number[], part),
          [x.a!, x.b!, x.beta!, x.dy!],
          "float32",
          size(x.a!),
        );
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerSwiGluKernels = registerOnce(cpuKernels, webgpuKernels);

/** a ⊙ σ(β a) ⊙ b through the registered kernels, differentiable in a, b and β ([1]). */
export function swigluKernel<T extends tf.Tensor>(a: T, b: T, beta: tf.Tensor): T {
  registerSwiGluKernels();
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [ta, tb, tbeta] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([ta!, tb!, tbeta!]);
    return {
      value: tf.engine().runKernel(SWIGLU, { a: ta!, b: tb!, beta: tbeta! }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb, sbeta] = saved;
        const part = (p: Part) =>
          tf.engine().runKernel(SWIGLU_GRAD, { a: sa!, b: sb!, beta: sbeta!, dy }, { part: p } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const [da, db, terms] = PARTS.map(part);
        return [da!, db!, tf.reshape(tf.sum(terms!), [1])];
      },
    };
  });
  return op(a, b, beta) as T;
}
