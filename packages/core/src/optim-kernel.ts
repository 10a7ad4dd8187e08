import { type ArrayBackend, type WebgpuBackend, elementwiseProgram, floatOutput, registerOnce } from "./kernel-registration.js";
import type { WgslProgram } from "./recurrence/linear/scan-webgpu.js";
import { tf } from "./tf.js";

/**
 * Global-norm clipping and Adam (docs/spec/TASKS.md §5) as registered TF.js kernels, so that a GPU step needs no
 * readback between the backward pass and the update, and few dispatches instead of ~16 TF ops per parameter (on webgpu the update itself is ./optim-in-place.ts):
 *
 * SelectivSquaredSum — inputs partials [P], x0, x1, … (any shapes); output [P]: partials[w] + Σ_g Σ x_g[i]² over the
 *   entries i of slot w = ⌊(i mod P·256) / 256⌋ (on webgpu, workgroup w of P reads those, coalesced). Chained over
 *   groups of gradients (as many per dispatch as the device binds storage buffers), then summed, it gives the
 *   squared global norm ‖g‖² on the device.
 * SelectivAdamStep — inputs param, gradient, firstMoment, secondMoment (one shape), squaredNorm [1], loss [1];
 *   attrs beta1, beta2, epsilon, stepSize (= lr / (1 − β₁ᵗ)), secondCorrection (= 1 − β₂ᵗ), maxNorm;
 *   outputs [param′, m′, v′]:
 *     s = maxNorm / (‖g‖ + 1e-6) if 0 < maxNorm < ‖g‖, else 1;   g′ = s·g
 *     m′ = β₁ m + (1 − β₁) g′;   v′ = β₂ v + (1 − β₂) g′²;   param′ = param − stepSize · m′ / (√(v′ / c₂) + ε)
 *   and, when the loss or ‖g‖ is not finite, the inputs unchanged (the step is not applied).
 *
 * Same maths and order of operations as Adam.apply after clipByGlobalNorm (./optim.ts), which cpu and wasm keep
 * using (bit for bit as before); the cpu/wasm kernels here are the plain-loop oracle the WGSL kernels are tested
 * against (optim-kernel.test.ts).
 */
export const SQUARED_SUM = "SelectivSquaredSum";
export const ADAM_STEP = "SelectivAdamStep";

export interface AdamStepAttrs {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly stepSize: number;
  readonly secondCorrection: number;
  readonly maxNorm: number;
}

type Inputs = Record<string, tf.TensorInfo>;
const f = Math.fround;

/** The update of one parameter in float32 arithmetic, step by step (the oracle). */
export function adamStepArrays(
  param: Float32Array,
  gradient: Float32Array,
  m: Float32Array,
  v: Float32Array,
  squaredNorm: number,
  loss: number,
  a: AdamStepAttrs,
): [Float32Array, Float32Array, Float32Array] {
  const norm = f(Math.sqrt(squaredNorm));
  if (!Number.isFinite(loss) || !Number.isFinite(norm)) return [param.slice(), m.slice(), v.slice()];
  const scale = a.maxNorm > 0 && norm > a.maxNorm ? f(f(a.maxNorm) / f(norm + f(1e-6))) : 1;
  const [b1, b2, c1, c2] = [f(a.beta1), f(a.beta2), f(1 - a.beta1), f(1 - a.beta2)];
  const [stepSize, correction, eps] = [f(a.stepSize), f(a.secondCorrection), f(a.epsilon)];
  const p2 = new Float32Array(param.length);
  const m2 = new Float32Array(param.length);
  const v2 = new Float32Array(param.length);
  for (let i = 0; i < param.length; i++) {
    const g = f(gradient[i]! * scale);
    const mi = f(f(b1 * m[i]!) + f(c1 * g));
    const vi = f(f(b2 * v[i]!) + f(c2 * f(g * g)));
    m2[i] = mi;
    v2[i] = vi;
    p2[i] = f(param[i]! - f(f(stepSize * mi) / f(f(Math.sqrt(f(vi / correction))) + eps)));
  }
  return [p2, m2, v2];
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: SQUARED_SUM,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as unknown as ArrayBackend;
        const partials = b.readSync((inputs as Inputs).partials!.dataId) as Float32Array;
        const slots = partials.length;
        // Accumulated in float64 (as the cpu backend's sum): the oracle should be the accurate one.
        const sums = Float64Array.from(partials);
        for (let g = 0; (inputs as Inputs)[`x${g}`]; g++) {
          const x = b.readSync((inputs as Inputs)[`x${g}`]!.dataId) as Float32Array;
          for (let i = 0; i < x.length; i++) sums[Math.floor((i % (slots * REDUCE_WORKGROUP)) / REDUCE_WORKGROUP)] += x[i]! * x[i]!;
        }
        return floatOutput(b, Float32Array.from(sums), [slots]);
      },
    },
    {
      kernelName: ADAM_STEP,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const read = (name: string) => b.readSync(x[name]!.dataId) as Float32Array;
        const shape = x.param!.shape as number[];
        const [p, m, v] = adamStepArrays(
          read("param"),
          read("gradient"),
          read("firstMoment"),
          read("secondMoment"),
          read("squaredNorm")[0]!,
          read("loss")[0]!,
          attrs as unknown as AdamStepAttrs,
        );
        return [floatOutput(b, p, shape), floatOutput(b, m, shape), floatOutput(b, v, shape)];
      },
    },
  ];
}

const REDUCE_WORKGROUP = 256;

// WGSL may assume that no value is NaN or infinite, so `x != x` can be folded away: test the exponent bits.
const FINITE = `fn finite(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }`;

/**
 * Workgroup w of P adds to partials[w] the squares of its slot's entries of `count` tensors (each invocation a
 * strided share, then a tree in workgroup memory). One workgroup for all of them read ~4 M floats serially: 7 ms a
 * paper step on an H200. The sizes are uniforms, so one compiled program per count.
 */
function squaredSumProgram(count: number, slots: number): WgslProgram {
  const names = Array.from({ length: count }, (_, g) => `x${g}`);
  return {
    variableNames: ["partials", ...names],
    outputShape: [slots],
    // Nothing shape-dependent is baked into the code ("|": backend.ts adds no shapes to the key).
    shaderKey: `selectiv_squared_sum_${count}|`,
    dispatchLayout: { x: [0] },
    dispatch: [slots, 1, 1],
    workgroupSize: [REDUCE_WORKGROUP, 1, 1],
    uniforms: ["slots : i32,", ...names.map((x) => `n${x} : i32,`)].join(" "),
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${REDUCE_WORKGROUP}>;
      fn main(index : i32) {
        let lid = i32(localIndex);
        let slot = i32(workgroupId.x);
        let stride = uniforms.slots * ${REDUCE_WORKGROUP};
        var acc = 0.0;
        ${names.map((x) => `for (var i = slot * ${REDUCE_WORKGROUP} + lid; i < uniforms.n${x}; i += stride) { acc += ${x}[i] * ${x}[i]; }`).join("\n        ")}
        partial[lid] = acc;
        workgroupBarrier();
        for (var width = ${REDUCE_WORKGROUP / 2}; width > 0; width /= 2) {
          if (lid < width) { partial[lid] += partial[lid + width]; }
          workgroupBarrier();
        }
        if (lid == 0) { result[slot] = partials[slot] + partial[0]; }
      }
    `,
  };
}

// 1 − β in float64 then rounded, as the TF-op path does (in float32, 1 − 0.999 is off by 1.3e-5 relative).
const ADAM_UNIFORMS =
  "n : i32, beta1 : f32, beta2 : f32, oneMinusBeta1 : f32, oneMinusBeta2 : f32, epsilon : f32, stepSize : f32, secondCorrection : f32, maxNorm : f32,";

/** The clip scale and whether the step applies, from ‖g‖² and the loss. */
const CLIP = `
        let norm = sqrt(squaredNorm[0]);
        let ok = finite(loss[0]) && finite(norm);
        var scale = 1.0;
        if (uniforms.maxNorm > 0.0 && norm > uniforms.maxNorm) { scale = uniforms.maxNorm / (norm + 1e-6); }`;

function elementwise(name: string, variableNames: string[], shape: number[], body: string): WgslProgram {
  return elementwiseProgram({
    key: `selectiv_adam_${name}`,
    variableNames,
    shape,
    uniforms: ADAM_UNIFORMS,
    header: FINITE,
    body: `${CLIP}
        ${body}`,
  });
}

/** m′ (first) or v′ (second); the old moment where the step does not apply. */
function momentProgram(shape: number[], which: "first" | "second"): WgslProgram {
  const update =
    which === "first"
      ? "uniforms.beta1 * moment[index] + uniforms.oneMinusBeta1 * g"
      : "uniforms.beta2 * moment[index] + uniforms.oneMinusBeta2 * (g * g)";
  return elementwise(
    which,
    ["moment", "gradient", "squaredNorm", "loss"],
    shape,
    `
        if (!ok) { result[index] = moment[index]; return; }
        let g = gradient[index] * scale;
        result[index] = ${update};`,
  );
}

function paramProgram(shape: number[]): WgslProgram {
  return elementwise(
    "param",
    ["param", "firstMoment", "secondMoment", "squaredNorm", "loss"],
    shape,
    `
        if (!ok) { result[index] = param[index]; return; }
        let step = (uniforms.stepSize * firstMoment[index]) / (sqrt(secondMoment[index] / uniforms.secondCorrection) + uniforms.epsilon);
        result[index] = param[index] - step;`,
  );
}

function webgpuKernels(): tf.KernelConfig[] {
  return [
    {
      kernelName: SQUARED_SUM,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend }) => {
        const x = inputs as Inputs;
        const xs: tf.TensorInfo[] = [];
        for (let g = 0; x[`x${g}`]; g++) xs.push(x[`x${g}`]!);
        const slots = x.partials!.shape[0]!;
        const sizes = [slots, ...xs.map((t) => t.shape.reduce((a, b) => a * b, 1))].map((n) => ({ type: "int32", data: [n] }));
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          squaredSumProgram(xs.length, slots),
          [x.partials!, ...xs],
          "float32",
          sizes,
        );
      },
    },
    {
      kernelName: ADAM_STEP,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as AdamStepAttrs;
        const gpu = backend as unknown as WebgpuBackend;
        const shape = x.param!.shape as number[];
        const n = shape.reduce((p, q) => p * q, 1);
        // One entry per field: each is 4-byte aligned as the struct declares.
        const uniforms = [
          { type: "int32", data: [n] },
          ...[a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, a.epsilon, a.stepSize, a.secondCorrection, a.maxNorm].map((value) => ({
            type: "float32",
            data: [value],
          })),
        ];
        const shared = [x.gradient!, x.squaredNorm!, x.loss!];
        const m = gpu.runWebGPUProgram(momentProgram(shape, "first"), [x.firstMoment!, ...shared], "float32", uniforms);
        const v = gpu.runWebGPUProgram(momentProgram(shape, "second"), [x.secondMoment!, ...shared], "float32", uniforms);
        const p = gpu.runWebGPUProgram(paramProgram(shape), [x.param!, m, v, x.squaredNorm!, x.loss!], "float32", uniforms);
        return [p, m, v];
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerOptimizerKernels = registerOnce(cpuKernels, webgpuKernels);

/** At most this many tensors per SelectivSquaredSum (a bounded set of compiled programs on any adapter). */
const MAX_GROUP = 14;

/**
 * Tensors one SelectivSquaredSum may bind: the device's storage buffers per shader stage less the running partials
 * and the output (WebGPU's default limit is 8; core asks for the adapter's, 16 on an H100).
 */
function squaredSumGroupSize(): number {
  if (tf.getBackend() !== "webgpu") return MAX_GROUP;
  const limits = (tf.backend() as unknown as { device?: { limits?: { maxStorageBuffersPerShaderStage?: number } } }).device?.limits;
  return Math.max(1, Math.min(MAX_GROUP, (limits?.maxStorageBuffersPerShaderStage ?? 8) - 2));
}

/** Slots (webgpu workgroups) of SelectivSquaredSum's partial sums. */
const SQUARED_SUM_SLOTS = 128;

/**
 * ‖g‖² of all gradients on the device, [1]: a chain of SelectivSquaredSum over groups of gradients, in their order,
 * then the sum of its slots.
 */
export function squaredGlobalNorm(grads: readonly tf.Tensor[]): tf.Tensor1D {
  registerOptimizerKernels();
  const group = squaredSumGroupSize();
  let partials = tf.zeros([SQUARED_SUM_SLOTS]) as tf.Tensor1D;
  for (let start = 0; start < grads.length; start += group) {
    const inputs: tf.NamedTensorMap = { partials };
    grads.slice(start, start + group).forEach((g, i) => (inputs[`x${i}`] = g));
    const next = tf.engine().runKernel(SQUARED_SUM, inputs) as tf.Tensor1D;
    partials.dispose();
    partials = next;
  }
  const total = tf.sum(partials, 0, true) as tf.Tensor1D;
  partials.dispose();
  return total;
}

/** One parameter's update through SelectivAdamStep: [param′, m′, v′]. */
export function adamStep(
  param: tf.Tensor,
  gradient: tf.Tensor,
  firstMoment: tf.Tensor,
  secondMoment: tf.Tensor,
  squaredNorm: tf.Tensor1D,
  loss: tf.Tensor1D,
  attrs: AdamStepAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  registerOptimizerKernels();
  return tf
    .engine()
    .runKernel(
      ADAM_STEP,
      { param, gradient, firstMoment, secondMoment, squaredNorm, loss },
      attrs as unknown as tf.NamedAttrMap,
    ) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}
