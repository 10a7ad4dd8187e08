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
 * Packed: an input ab [.., 2F] holding a then b along its last axis (the projection that makes both) in place of a
 * and b; part "ab" gives [dy ∂f/∂a, dy ∂f/∂b] packed the same way. No split forward, no concat backward.
 */
export const SWIGLU = "SelectivSwiGlu";
export const SWIGLU_GRAD = "SelectivSwiGluGrad";

type Part = "a" | "b" | "beta" | "ab";
const PARTS: readonly Part[] = ["a", "b", "beta"];

interface GradAttrs {
  readonly part: Part;
}

/** F, the width of a and b: the last axis of a, or half that of a packed ab. */
const halfWidth = (ab: tf.TensorInfo) => ab.shape[ab.shape.length - 1]! / 2;

type Inputs = Record<string, tf.TensorInfo>;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function gradient(part: Exclude<Part, "ab">, a: number, b: number, beta: number, dy: number): number {
  const s = sigmoid(beta * a);
  if (part === "a") return dy * b * s * (1 + beta * a * (1 - s));
  if (part === "b") return dy * a * s;
  return dy * a * a * b * s * (1 - s);
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  const read = (b: ArrayBackend, x: Inputs, name: string) => b.readSync(x[name]!.dataId) as Float32Array;
  /** a and b as flat arrays, and F and the output shape of f: packed inputs are split by rows of 2F. */
  const operands = (bk: ArrayBackend, x: Inputs) => {
    if (!x.ab) return { as: read(bk, x, "a"), bs: read(bk, x, "b"), shape: x.a!.shape as number[] };
    const ab = read(bk, x, "ab");
    const F = halfWidth(x.ab);
    const rows = ab.length / (2 * F);
    const as = new Float32Array(rows * F);
    const bs = new Float32Array(rows * F);
    for (let r = 0; r < rows; r++) {
      as.set(ab.subarray(2 * r * F, (2 * r + 1) * F), r * F);
      bs.set(ab.subarray((2 * r + 1) * F, (2 * r + 2) * F), r * F);
    }
    return { as, bs, shape: [...x.ab.shape.slice(0, -1), F] };
  };
  return [
    {
      kernelName: SWIGLU,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const bk = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const { as, bs, shape } = operands(bk, x);
        const beta = read(bk, x, "beta")[0]!;
        return floatOutput(
          bk,
          Float32Array.from(as, (a, i) => a * sigmoid(beta * a) * bs[i]!),
          shape,
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
        const { as, bs, shape } = operands(bk, x);
        const [beta, dy] = [read(bk, x, "beta")[0]!, read(bk, x, "dy")];
        const each = (p: Exclude<Part, "ab">) => Float32Array.from(as, (a, i) => gradient(p, a, bs[i]!, beta, dy[i]!));
        if (part !== "ab") return floatOutput(bk, each(part), shape);
        const [da, db] = [each("a"), each("b")];
        const F = shape[shape.length - 1]!;
        const packed = new Float32Array(2 * da.length);
        for (let r = 0; r < da.length / F; r++) {
          packed.set(da.subarray(r * F, (r + 1) * F), 2 * r * F);
          packed.set(db.subarray(r * F, (r + 1) * F), (2 * r + 1) * F);
        }
        return floatOutput(bk, packed, x.ab!.shape as number[]);
      },
    },
  ];
}

// WGSL may assume no value is infinite: e^{−βa} is capped at e^80 (σ < 2e−35 there either way).
const GRADIENT: Record<Exclude<Part, "ab">, string> = {
  a: "dy[index] * v * s * (1.0 + beta[0] * u * (1.0 - s))",
  b: "dy[index] * u * s",
  beta: "dy[index] * u * u * v * s * (1.0 - s)",
};

/** WGSL reading u = a and v = b of entry `index` of f (row index / F, column index % F of a packed ab). */
function operandsAt(packed: boolean): string {
  return packed
    ? `let row = index / uniforms.F;
        let col = index % uniforms.F;
        let u = ab[2 * row * uniforms.F + col];
        let v = ab[(2 * row + 1) * uniforms.F + col];`
    : `let u = a[index];
        let v = b[index];`;
}

function swigluProgram(shape: number[], part?: Exclude<Part, "ab">, packed = false): WgslProgram {
  const operands = packed ? ["ab", "beta"] : ["a", "b", "beta"];
  return elementwiseProgram({
    key: `selectiv_swiglu_${part ?? "value"}${packed ? "_packed" : ""}`,
    variableNames: part ? [...operands, "dy"] : operands,
    shape,
    uniforms: "n : i32, F : i32,",
    body: `${operandsAt(packed)}
        let s = 1.0 / (1.0 + exp(min(-beta[0] * u, 80.0)));
        result[index] = ${part ? GRADIENT[part] : "u * s * v"};`,
  });
}

/** Both halves of a packed gradient: entry `index` of f writes dy ∂f/∂a and dy ∂f/∂b into their places of [.., 2F]. */
function packedGradientProgram(shape: number[], fSize: number): WgslProgram {
  const program = elementwiseProgram({
    key: "selectiv_swiglu_ab_packed",
    variableNames: ["ab", "beta", "dy"],
    shape,
    uniforms: "n : i32, F : i32,",
    body: `${operandsAt(true)}
        let s = 1.0 / (1.0 + exp(min(-beta[0] * u, 80.0)));
        result[2 * row * uniforms.F + col] = ${GRADIENT.a};
        result[(2 * row + 1) * uniforms.F + col] = ${GRADIENT.b};`,
  });
  // One invocation per entry of f, half the output's entries.
  return { ...program, dispatch: [Math.ceil(fSize / (program.workgroupSize as number[])[0]!), 1, 1] };
}

function webgpuKernels(): tf.KernelConfig[] {
  const sizes = (x: Inputs) => {
    const F = x.ab ? halfWidth(x.ab) : x.a!.shape[x.a!.shape.length - 1]!;
    const n = (x.ab ?? x.a!).shape.reduce((p, q) => p * q, 1) / (x.ab ? 2 : 1);
    return [
      { type: "int32", data: [n] },
      { type: "int32", data: [F] },
    ];
  };
  const fShape = (x: Inputs) => (x.ab ? [...x.ab.shape.slice(0, -1), halfWidth(x.ab)] : (x.a!.shape as number[]));
  const operands = (x: Inputs) => (x.ab ? [x.ab, x.beta!] : [x.a!, x.b!, x.beta!]);
  return [
    {
      kernelName: SWIGLU,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend }) => {
        const x = inputs as Inputs;
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          swigluProgram(fShape(x), undefined, x.ab !== undefined),
          operands(x),
          "float32",
          sizes(x),
        );
      },
    },
    {
      kernelName: SWIGLU_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const { part } = attrs as unknown as GradAttrs;
        const u = sizes(x);
        const program =
          part === "ab"
            ? packedGradientProgram(x.ab!.shape as number[], u[0]!.data[0]!)
            : swigluProgram(fShape(x), part, x.ab !== undefined);
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(program, [...operands(x), x.dy!], "float32", u);
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

/**
 * f = a ⊙ σ(β a) ⊙ b with a and b the two halves of ab [.., 2F] along its last axis, through the registered kernels:
 * one dispatch forward, one for the packed gradient of ab and one (plus its sum) for β's.
 */
export function swigluPackedKernel<T extends tf.Tensor>(ab: T, beta: tf.Tensor): T {
  registerSwiGluKernels();
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [tab, tbeta] = args as tf.Tensor[];
    (args[2] as tf.GradSaveFunc)([tab!, tbeta!]);
    return {
      value: tf.engine().runKernel(SWIGLU, { ab: tab!, beta: tbeta! }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sab, sbeta] = saved;
        const part = (p: Part) =>
          tf.engine().runKernel(SWIGLU_GRAD, { ab: sab!, beta: sbeta!, dy }, { part: p } as unknown as tf.NamedAttrMap) as tf.Tensor;
        return [part("ab"), tf.reshape(tf.sum(part("beta")), [1])];
      },
    };
  });
  return op(ab, beta) as T;
}
