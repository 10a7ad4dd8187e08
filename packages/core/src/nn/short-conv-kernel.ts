import { type ArrayBackend, type WebgpuBackend, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";
import { type WorkgroupSum, runWorkgroupSum } from "./workgroup-sum.js";

/**
 * The short causal depthwise convolution (docs/spec/MODELS.md §2, `ShortConv`) as registered TF.js kernels: one
 * dispatch forward and four backward (three without a bias) on webgpu, where the TF-op form costs ~60 (a slice, multiply and add per tap,
 * and their gradients). With x [B, T, D], taps w [K, D] and bias b [D]:
 *   z_t = b + Σ_j w_j ⊙ x_{t+j−(K−1)}  (x before the sequence start is 0),   y_t = silu(z_t) or z_t.
 * Backward, with g_t = ∂L/∂y_t ⊙ act′(z_t) (z recomputed, not stored):
 *   ∂L/∂x_s = Σ_j w_j ⊙ g_{s−j+K−1} (t < T only),   ∂L/∂w_j = Σ_{b,t} g_t ⊙ x_{t+j−(K−1)},   ∂L/∂b = Σ_{b,t} g_t.
 *
 * SelectivShortConv — inputs x, weight, bias (x again when there is no bias); attrs silu, hasBias; output y.
 * SelectivShortConvGrad — the same inputs plus dy; outputs [dx, dw, db] ([dx, dw] without a bias).
 * cpu and wasm register plain loops (float64 sums): the oracle the WGSL kernels are tested against, next to the
 * TF-op form that cpu and wasm keep training with (short-conv-kernel.test.ts).
 */
export const SHORT_CONV = "SelectivShortConv";
export const SHORT_CONV_GRAD = "SelectivShortConvGrad";

interface ConvAttrs {
  readonly silu: boolean;
  readonly hasBias: boolean;
}

type Inputs = Record<string, tf.TensorInfo>;

function dims(inputs: Inputs) {
  const [B, T, D] = inputs.x!.shape as [number, number, number];
  return { B, T, D, K: inputs.weight!.shape[0]! };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** z (pre-activation) of every position, in float64. */
function preActivation(x: Float32Array, w: Float32Array, bias: Float32Array | undefined, B: number, T: number, D: number, K: number) {
  const z = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let d = 0; d < D; d++) {
        let acc = bias ? bias[d]! : 0;
        for (let j = 0; j < K; j++) {
          const s = t + j - (K - 1);
          if (s >= 0) acc += x[(b * T + s) * D + d]! * w[j * D + d]!;
        }
        z[(b * T + t) * D + d] = acc;
      }
  return z;
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  const read = (b: ArrayBackend, x: Inputs, name: string) => b.readSync(x[name]!.dataId) as Float32Array;
  const pre = (b: ArrayBackend, x: Inputs, a: ConvAttrs) => {
    const { B, T, D, K } = dims(x);
    return preActivation(read(b, x, "x"), read(b, x, "weight"), a.hasBias ? read(b, x, "bias") : undefined, B, T, D, K);
  };
  return [
    {
      kernelName: SHORT_CONV,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const a = attrs as unknown as ConvAttrs;
        const z = pre(b, x, a);
        const y = Float32Array.from(z, (v) => (a.silu ? v * sigmoid(v) : v));
        return floatOutput(b, y, x.x!.shape as number[]);
      },
    },
    {
      kernelName: SHORT_CONV_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const a = attrs as unknown as ConvAttrs;
        const { B, T, D, K } = dims(x);
        const z = pre(b, x, a);
        const dy = read(b, x, "dy");
        const xs = read(b, x, "x");
        const w = read(b, x, "weight");
        const g = Float64Array.from(z, (v, i) => {
          if (!a.silu) return dy[i]!;
          const s = sigmoid(v);
          return dy[i]! * (s + v * s * (1 - s));
        });
        const dx = new Float32Array(B * T * D);
        const dw = new Float64Array(K * D);
        const db = new Float64Array(D);
        for (let bb = 0; bb < B; bb++)
          for (let t = 0; t < T; t++)
            for (let d = 0; d < D; d++) {
              const gt = g[(bb * T + t) * D + d]!;
              db[d] += gt;
              for (let j = 0; j < K; j++) {
                const s = t + j - (K - 1);
                if (s < 0) continue;
                dw[j * D + d] += gt * xs[(bb * T + s) * D + d]!;
                dx[(bb * T + s) * D + d] += gt * w[j * D + d]!;
              }
            }
        return [
          floatOutput(b, dx, [B, T, D]),
          floatOutput(b, Float32Array.from(dw), [K, D]),
          ...(a.hasBias ? [floatOutput(b, Float32Array.from(db), [D])] : []),
        ];
      },
    },
  ];
}

const WORKGROUP = 64;
const UNIFORMS = "batch : i32, steps : i32, channels : i32, taps : i32, useSilu : i32, hasBias : i32,";

/** z at (b, t, d), recomputed from x, the taps and the bias. */
const PRE = `
      fn pre(b : i32, t : i32, d : i32) -> f32 {
        let T = uniforms.steps;
        let D = uniforms.channels;
        let K = uniforms.taps;
        var acc = 0.0;
        if (uniforms.hasBias == 1) { acc = bias[d]; }
        for (var j = 0; j < K; j++) {
          let s = t + j - (K - 1);
          if (s >= 0) { acc += x[(b * T + s) * D + d] * weight[j * D + d]; }
        }
        return acc;
      }`;

function convProgram(name: string, variableNames: string[], outputShape: number[], invocations: number, body: string): WgslProgram {
  // pre() reads x, weight and bias: only programs bound to all three may contain it (WGSL rejects unknown names).
  const withPre = ["x", "weight", "bias"].every((v) => variableNames.includes(v));
  return {
    variableNames,
    outputShape,
    // Every size is a uniform: nothing shape-dependent in the code ("|": backend.ts adds no shapes to the key).
    shaderKey: `selectiv_short_conv_${name}|`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      ${withPre ? PRE : ""}
      fn main(index : i32) {
        let B = uniforms.batch;
        let T = uniforms.steps;
        let D = uniforms.channels;
        let K = uniforms.taps;
        ${body}
      }
    `,
  };
}

/** y = act(z), one invocation per (b, t, d). */
function forwardProgram(B: number, T: number, D: number): WgslProgram {
  return convProgram(
    "forward",
    ["x", "weight", "bias"],
    [B, T, D],
    B * T * D,
    `
        if (index >= B * T * D) { return; }
        let z = pre(index / (T * D), (index / D) % T, index % D);
        if (uniforms.useSilu == 1) { result[index] = z / (1.0 + exp(-z)); } else { result[index] = z; }`,
  );
}

/** g = dy ⊙ act′(z), one invocation per (b, t, d). */
function outputGradientProgram(B: number, T: number, D: number): WgslProgram {
  return convProgram(
    "g",
    ["x", "weight", "bias", "dy"],
    [B, T, D],
    B * T * D,
    `
        if (index >= B * T * D) { return; }
        if (uniforms.useSilu == 0) { result[index] = dy[index]; return; }
        let z = pre(index / (T * D), (index / D) % T, index % D);
        let s = 1.0 / (1.0 + exp(-z));
        result[index] = dy[index] * (s + z * s * (1.0 - s));`,
  );
}

/** ∂L/∂x_s = Σ_j w_j ⊙ g_{s−j+K−1}, one invocation per (b, s, d). */
function inputGradientProgram(B: number, T: number, D: number): WgslProgram {
  return convProgram(
    "dx",
    ["g", "weight"],
    [B, T, D],
    B * T * D,
    `
        if (index >= B * T * D) { return; }
        let b = index / (T * D);
        let s = (index / D) % T;
        let d = index % D;
        var acc = 0.0;
        for (var j = 0; j < K; j++) {
          let t = s - j + K - 1;
          if (t < T) { acc += g[(b * T + t) * D + d] * weight[j * D + d]; }
        }
        result[index] = acc;`,
  );
}

/**
 * ∂L/∂w_j (rows j < K) or ∂L/∂b (one row): per (row, d) a sum over every position i = b·T + t (./workgroup-sum.ts);
 * tap j reads x at i + j − (K−1), inside the same sample while t + j − (K−1) ≥ 0.
 */
function parameterGradientSum(rows: number, D: number, bias: boolean): WorkgroupSum {
  // Every bound input must be read by the code (the pipeline's layout leaves unread ones out): db binds g only.
  return {
    name: bias ? "short_conv_db" : "short_conv_dw",
    variableNames: bias ? ["g"] : ["g", "x"],
    outputShape: rows === 1 ? [D] : [rows, D],
    uniforms: UNIFORMS,
    prelude: "let T = uniforms.steps; let D = uniforms.channels; let K = uniforms.taps; let j = o / D; let d = o % D;",
    count: "uniforms.batch * T",
    term: bias ? "g[i * D + d]" : "select(0.0, g[i * D + d] * x[max(i + j - (K - 1), 0) * D + d], i % T + j - (K - 1) >= 0)",
  };
}

function webgpuKernels(): tf.KernelConfig[] {
  const uniforms = (x: Inputs, a: ConvAttrs) => {
    const { B, T, D, K } = dims(x);
    return [B, T, D, K, a.silu ? 1 : 0, a.hasBias ? 1 : 0].map((v) => ({ type: "int32", data: [v] }));
  };
  return [
    {
      kernelName: SHORT_CONV,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as ConvAttrs;
        const { B, T, D } = dims(x);
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          forwardProgram(B, T, D),
          [x.x!, x.weight!, x.bias!],
          "float32",
          uniforms(x, a),
        );
      },
    },
    {
      kernelName: SHORT_CONV_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as ConvAttrs;
        const gpu = backend as unknown as WebgpuBackend;
        const { B, T, D, K } = dims(x);
        const u = uniforms(x, a);
        const g = gpu.runWebGPUProgram(outputGradientProgram(B, T, D), [x.x!, x.weight!, x.bias!, x.dy!], "float32", u);
        const dx = gpu.runWebGPUProgram(inputGradientProgram(B, T, D), [g, x.weight!], "float32", u);
        const dw = runWorkgroupSum(gpu, parameterGradientSum(K, D, false), [g, x.x!], u, B * T);
        const db = a.hasBias ? [runWorkgroupSum(gpu, parameterGradientSum(1, D, true), [g], u, B * T)] : [];
        gpu.disposeData(g.dataId);
        return [dx, dw, ...db];
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerShortConvKernels = registerOnce(cpuKernels, webgpuKernels);

/** The convolution through the registered kernels, differentiable in x, the taps and the bias. */
export function shortConvKernel(x: tf.Tensor3D, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined, silu: boolean): tf.Tensor3D {
  registerShortConvKernels();
  const attrs = { silu, hasBias: bias !== undefined } as unknown as tf.NamedAttrMap;
  const run = (xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
    tf.engine().runKernel(SHORT_CONV, { x: xx, weight: w, bias: b }, attrs) as tf.Tensor3D;
  const grads = (xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor, dy: tf.Tensor) =>
    tf.engine().runKernel(SHORT_CONV_GRAD, { x: xx, weight: w, bias: b, dy }, attrs) as unknown as tf.Tensor[];
  if (bias) {
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xx, w, b] = args as tf.Tensor[];
      (args[3] as tf.GradSaveFunc)([xx!, w!, b!]);
      return {
        value: run(xx!, w!, b!),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => grads(saved[0]!, saved[1]!, saved[2]!, dy),
      };
    });
    return op(x, weight, bias) as tf.Tensor3D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, w] = args as tf.Tensor[];
    (args[2] as tf.GradSaveFunc)([xx!, w!]);
    return {
      value: run(xx!, w!, xx!),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dw] = grads(saved[0]!, saved[1]!, saved[0]!, dy);
        return [dx!, dw!];
      },
    };
  });
  return op(x, weight) as tf.Tensor3D;
}
