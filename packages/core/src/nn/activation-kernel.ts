import { type ArrayBackend, type WebgpuBackend, elementwiseProgram, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";

/**
 * Elementwise activations as registered TF.js kernels with hand-written gradients: one dispatch forward and one
 * backward on webgpu, where the TF-op forms take 2–3 forward and 3–5 backward (docs/spec/MODELS.md §2):
 *   silu:        y = x σ(x),                         ∂y/∂x = σ(x) (1 + x (1 − σ(x)))
 *   logsigmoid:  y = log σ(x) = min(x, 0) − log(1 + e^{−|x|}),   ∂y/∂x = 1 − σ(x)
 * SelectivActivation — input x; attr kind; output y.   SelectivActivationGrad — inputs x, dy; attr kind; output dx.
 * cpu and wasm register float64 loops: the oracle of the WGSL kernels (activation-kernel.test.ts), beside the TF-op
 * forms that cpu and wasm keep training with.
 */
export const ACTIVATION = "SelectivActivation";
export const ACTIVATION_GRAD = "SelectivActivationGrad";

export type ActivationKind = "silu" | "logsigmoid";
const KINDS: readonly ActivationKind[] = ["silu", "logsigmoid"];

interface ActivationAttrs {
  readonly kind: ActivationKind;
}

type Inputs = Record<string, tf.TensorInfo>;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function value(kind: ActivationKind, x: number): number {
  return kind === "silu" ? x * sigmoid(x) : Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
}

function slope(kind: ActivationKind, x: number): number {
  const s = sigmoid(x);
  return kind === "silu" ? s * (1 + x * (1 - s)) : 1 - s;
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  const read = (b: ArrayBackend, x: Inputs, name: string) => b.readSync(x[name]!.dataId) as Float32Array;
  return [
    {
      kernelName: ACTIVATION,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const { kind } = attrs as unknown as ActivationAttrs;
        const xs = read(b, inputs as Inputs, "x");
        return floatOutput(
          b,
          Float32Array.from(xs, (v) => value(kind, v)),
          (inputs as Inputs).x!.shape as number[],
        );
      },
    },
    {
      kernelName: ACTIVATION_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const { kind } = attrs as unknown as ActivationAttrs;
        const xs = read(b, inputs as Inputs, "x");
        const dy = read(b, inputs as Inputs, "dy");
        return floatOutput(
          b,
          Float32Array.from(xs, (v, i) => dy[i]! * slope(kind, v)),
          (inputs as Inputs).x!.shape as number[],
        );
      },
    },
  ];
}

// WGSL may assume no value is infinite: e^{−v} is capped at e^80 (σ(v) < 2e−35 there either way).
const WGSL: Record<ActivationKind, { value: string; slope: string }> = {
  silu: { value: "v / (1.0 + exp(min(-v, 80.0)))", slope: "s * (1.0 + v * (1.0 - s))" },
  logsigmoid: { value: "min(v, 0.0) - log(1.0 + exp(-abs(v)))", slope: "1.0 - s" },
};

function activationProgram(kind: ActivationKind, shape: number[], gradient: boolean): WgslProgram {
  return elementwiseProgram({
    key: `selectiv_activation_${kind}_${gradient ? "grad" : "value"}`,
    variableNames: gradient ? ["x", "dy"] : ["x"],
    shape,
    body: `let v = x[index];
        ${gradient ? `let s = 1.0 / (1.0 + exp(min(-v, 80.0))); result[index] = dy[index] * (${WGSL[kind].slope});` : `result[index] = ${WGSL[kind].value};`}`,
  });
}

function webgpuKernels(): tf.KernelConfig[] {
  const size = (x: tf.TensorInfo) => [{ type: "int32", data: [x.shape.reduce((a, b) => a * b, 1)] }];
  return [
    {
      kernelName: ACTIVATION,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = (inputs as Inputs).x!;
        const { kind } = attrs as unknown as ActivationAttrs;
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          activationProgram(kind, x.shape as number[], false),
          [x],
          "float32",
          size(x),
        );
      },
    },
    {
      kernelName: ACTIVATION_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const { kind } = attrs as unknown as ActivationAttrs;
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          activationProgram(kind, x.x!.shape as number[], true),
          [x.x!, x.dy!],
          "float32",
          size(x.x!),
        );
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerActivationKernels = registerOnce(cpuKernels, webgpuKernels);

/** The activation through the registered kernels, differentiable in x. */
export function activationKernel<T extends tf.Tensor>(x: T, kind: ActivationKind): T {
  if (!KINDS.includes(kind)) throw new Error(`activationKernel: unknown kind ${JSON.stringify(kind)}; expected ${KINDS.join(" or ")}`);
  registerActivationKernels();
  const attrs = { kind } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([input]);
    return {
      value: tf.engine().runKernel(ACTIVATION, { x: input }, attrs) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(ACTIVATION_GRAD, { x: saved[0]!, dy }, attrs) as tf.Tensor,
    };
  });
  return op(x) as T;
}
