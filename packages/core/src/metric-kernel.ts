import { type ArrayBackend, type WebgpuBackend, floatOutput, registerOnce } from "./kernel-registration.js";
import type { WgslProgram } from "./recurrence/linear/scan-webgpu.js";
import { tf } from "./tf.js";

/**
 * The masked softmax cross-entropy (docs/spec/TASKS.md §4) as registered TF.js kernels: one dispatch per row loss and
 * one for the gradient on webgpu, where logSoftmax + oneHot + products + sums and their gradients cost ~20.
 *
 * SelectivMaskedCrossEntropy — inputs logits [R, C], targets [R] (int32), mask [R]; output [R]:
 *   m_r · (log Σ_c exp z_rc − z_r,y_r), the row's masked loss (their sum is maskedCrossEntropySum).
 * SelectivMaskedCrossEntropyGrad — the same inputs plus dy [R]; output ∂L/∂z = dy_r · m_r · (softmax(z_r) − onehot(y_r)).
 * cpu and wasm register float64 loops (the oracle of the WGSL kernels; cpu and wasm train with the TF-op form).
 */
export const MASKED_CROSS_ENTROPY = "SelectivMaskedCrossEntropy";
export const MASKED_CROSS_ENTROPY_GRAD = "SelectivMaskedCrossEntropyGrad";

type Inputs = Record<string, tf.TensorInfo>;

/** log Σ exp of row r, in float64 with the row's maximum taken out. */
function logSumExp(z: Float32Array, r: number, C: number): number {
  let max = -Infinity;
  for (let c = 0; c < C; c++) max = Math.max(max, z[r * C + c]!);
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(z[r * C + c]! - max);
  return max + Math.log(sum);
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  const read = (b: ArrayBackend, x: Inputs) => ({
    z: b.readSync(x.logits!.dataId) as Float32Array,
    y: b.readSync(x.targets!.dataId) as Int32Array,
    m: b.readSync(x.mask!.dataId) as Float32Array,
  });
  return [
    {
      kernelName: MASKED_CROSS_ENTROPY,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as unknown as ArrayBackend;
        const { z, y, m } = read(b, inputs as Inputs);
        const [R, C] = (inputs as Inputs).logits!.shape as [number, number];
        const loss = new Float32Array(R);
        for (let r = 0; r < R; r++) loss[r] = m[r]! * (logSumExp(z, r, C) - z[r * C + y[r]!]!);
        return floatOutput(b, loss, [R]);
      },
    },
    {
      kernelName: MASKED_CROSS_ENTROPY_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as unknown as ArrayBackend;
        const { z, y, m } = read(b, inputs as Inputs);
        const dy = b.readSync((inputs as Inputs).dy!.dataId) as Float32Array;
        const [R, C] = (inputs as Inputs).logits!.shape as [number, number];
        const dz = new Float32Array(R * C);
        for (let r = 0; r < R; r++) {
          const scale = dy[r]! * m[r]!;
          if (scale === 0) continue;
          const lse = logSumExp(z, r, C);
          for (let c = 0; c < C; c++) dz[r * C + c] = scale * (Math.exp(z[r * C + c]! - lse) - (c === y[r] ? 1 : 0));
        }
        return floatOutput(b, dz, [R, C]);
      },
    },
  ];
}

const WORKGROUP = 64;

/** log Σ exp of row r (the maximum taken out). */
const LOG_SUM_EXP = `
      fn logSumExp(r : i32) -> f32 {
        let C = uniforms.classes;
        var best = logits[r * C];
        for (var c = 1; c < C; c++) { best = max(best, logits[r * C + c]); }
        var sum = 0.0;
        for (var c = 0; c < C; c++) { sum += exp(logits[r * C + c] - best); }
        return best + log(sum);
      }`;

function program(name: string, variableNames: string[], outputShape: number[], invocations: number, body: string): WgslProgram {
  return {
    variableNames,
    outputShape,
    // Every size is a uniform: nothing shape-dependent in the code ("|": backend.ts adds no shapes to the key).
    shaderKey: `selectiv_cross_entropy_${name}|`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "rows : i32, classes : i32,",
    getUserCode: () => `
      ${LOG_SUM_EXP}
      fn main(index : i32) {
        let R = uniforms.rows;
        let C = uniforms.classes;
        ${body}
      }
    `,
  };
}

function webgpuKernels(): tf.KernelConfig[] {
  const uniforms = (x: Inputs) => (x.logits!.shape as number[]).map((v) => ({ type: "int32", data: [v] }));
  return [
    {
      kernelName: MASKED_CROSS_ENTROPY,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend }) => {
        const x = inputs as Inputs;
        const [R] = x.logits!.shape as [number, number];
        const loss = program(
          "loss",
          ["logits", "targets", "mask"],
          [R],
          R,
          `
        if (index >= R) { return; }
        let m = mask[index];
        if (m == 0.0) { result[index] = 0.0; return; }
        result[index] = m * (logSumExp(index) - logits[index * C + targets[index]]);`,
        );
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(loss, [x.logits!, x.targets!, x.mask!], "float32", uniforms(x));
      },
    },
    {
      kernelName: MASKED_CROSS_ENTROPY_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend }) => {
        const x = inputs as Inputs;
        const [R, C] = x.logits!.shape as [number, number];
        const grad = program(
          "grad",
          ["logits", "targets", "mask", "dy"],
          [R, C],
          R,
          `
        if (index >= R) { return; }
        let scale = dy[index] * mask[index];
        if (scale == 0.0) {
          for (var c = 0; c < C; c++) { result[index * C + c] = 0.0; }
          return;
        }
        let lse = logSumExp(index);
        let y = targets[index];
        for (var c = 0; c < C; c++) {
          var p = exp(logits[index * C + c] - lse);
          if (c == y) { p -= 1.0; }
          result[index * C + c] = scale * p;
        }`,
        );
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          grad,
          [x.logits!, x.targets!, x.mask!, x.dy!],
          "float32",
          uniforms(x),
        );
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerCrossEntropyKernels = registerOnce(cpuKernels, webgpuKernels);

/**
 * Σ over valid steps of −log p(target) through the registered kernels, differentiable in the logits (targets and
 * mask are data). logits [B, T, C], targets [B, T] (int32), mask [B, T].
 */
export function maskedCrossEntropySumKernel(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  registerCrossEntropyKernels();
  const [b, t, c] = logits.shape;
  const y = targets.dtype === "int32" ? tf.reshape(targets, [b * t]) : tf.cast(tf.reshape(targets, [b * t]), "int32");
  const m = tf.reshape(mask, [b * t]);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const z = args[0] as tf.Tensor2D;
    (args[1] as tf.GradSaveFunc)([z]);
    const rows = tf.engine().runKernel(MASKED_CROSS_ENTROPY, { logits: z, targets: y, mask: m }) as tf.Tensor1D;
    return {
      value: tf.sum(rows) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const perRow = tf.broadcastTo(tf.reshape(dy, [1]), [b * t]);
        return tf.engine().runKernel(MASKED_CROSS_ENTROPY_GRAD, { logits: saved[0]!, targets: y, mask: m, dy: perRow }) as tf.Tensor;
      },
    };
  });
  return op(tf.reshape(logits, [b * t, c])) as tf.Scalar;
}
