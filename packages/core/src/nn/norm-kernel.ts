import { type ArrayBackend, FLAT_WORKGROUP, type WebgpuBackend, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";
import { type WorkgroupSum, runWorkgroupSum } from "./workgroup-sum.js";

/**
 * LayerNorm and RMSNorm over the last axis (docs/spec/MODELS.md §2) as registered TF.js kernels: one dispatch
 * forward and four backward (three without a bias) on webgpu, where the TF-op forms cost ~25. Per row x of D values:
 *   c = x − mean(x) (LayerNorm) or x (RMSNorm),   r = 1 / √(mean(c²) + ε),   x̂ = c·r,   y = x̂ ⊙ γ (+ β);
 *   with epsOutside (the reference Transformer's RMSNorm, docs/spec/MODELS.md §5.1) r = 1 / (σ + ε), σ = √mean(c²);
 *   with sumSquares Σ stands for mean in r and below; without a weight γ = 1 (fla's L2 norm x / √(Σx² + ε) is
 *   RMSNorm with both).
 * Backward, with ĝ = ∂L/∂y ⊙ γ and κ = 1 (ε inside) or (σ + ε)/σ = 1/(1 − rε) (ε outside; 0 where σ = 0):
 *   ∂L/∂x = r · (ĝ − mean(ĝ) [LayerNorm only] − κ · x̂ · mean(ĝ ⊙ x̂)),   ∂L/∂γ = Σ_rows ∂L/∂y ⊙ x̂,   ∂L/∂β = Σ_rows ∂L/∂y.
 *
 * SelectivNorm — inputs x [..., D], weight [D], bias [D] (x again for either when there is none); attrs centered,
 *   hasWeight, hasBias, eps, epsOutside, sumSquares.
 * SelectivNormGrad — inputs x, weight, dy; same attrs; outputs dx, then dweight and dbias where there are those.
 * cpu and wasm register float64 loops: the oracle of the WGSL kernels, beside the TF-op forms that cpu and wasm
 * keep training with (norm-kernel.test.ts).
 */
export const NORM = "SelectivNorm";
export const NORM_GRAD = "SelectivNormGrad";

interface NormAttrs {
  readonly centered: boolean;
  readonly hasWeight: boolean;
  readonly hasBias: boolean;
  readonly eps: number;
  readonly epsOutside: boolean;
  readonly sumSquares: boolean;
}

type Inputs = Record<string, tf.TensorInfo>;

function sizes(x: tf.TensorInfo) {
  const D = x.shape[x.shape.length - 1]!;
  return { D, rows: x.shape.reduce((a, b) => a * b, 1) / D };
}

/** Each row's mean (0 for RMSNorm), r (1/√(mean(c²) + ε) or 1/(σ + ε)) and κ (see above), in float64. */
function rowStats(x: Float32Array, rows: number, D: number, a: NormAttrs) {
  const mean = new Float64Array(rows);
  const inv = new Float64Array(rows);
  const kappa = new Float64Array(rows).fill(1);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    if (a.centered) {
      for (let d = 0; d < D; d++) m += x[r * D + d]!;
      m /= D;
    }
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[r * D + d]! - m) ** 2;
    mean[r] = m;
    const eps = Math.fround(a.eps);
    const ms = v / (a.sumSquares ? 1 : D);
    if (a.epsOutside) {
      const sigma = Math.sqrt(ms);
      inv[r] = 1 / (sigma + eps);
      kappa[r] = sigma > 0 ? (sigma + eps) / sigma : 0;
    } else inv[r] = 1 / Math.sqrt(ms + eps);
  }
  return { mean, inv, kappa };
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  const read = (b: ArrayBackend, x: Inputs, name: string) => b.readSync(x[name]!.dataId) as Float32Array;
  return [
    {
      kernelName: NORM,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const a = attrs as unknown as NormAttrs;
        const { D, rows } = sizes(x.x!);
        const xs = read(b, x, "x");
        const w = a.hasWeight ? read(b, x, "weight") : new Float32Array(D).fill(1);
        const bias = a.hasBias ? read(b, x, "bias") : undefined;
        const { mean, inv } = rowStats(xs, rows, D, a);
        const y = new Float32Array(rows * D);
        for (let r = 0; r < rows; r++)
          for (let d = 0; d < D; d++) y[r * D + d] = (xs[r * D + d]! - mean[r]!) * inv[r]! * w[d]! + (bias ? bias[d]! : 0);
        return floatOutput(b, y, x.x!.shape as number[]);
      },
    },
    {
      kernelName: NORM_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const a = attrs as unknown as NormAttrs;
        const { D, rows } = sizes(x.x!);
        const xs = read(b, x, "x");
        const w = a.hasWeight ? read(b, x, "weight") : new Float32Array(D).fill(1);
        const dy = read(b, x, "dy");
        const { mean, inv, kappa } = rowStats(xs, rows, D, a);
        const dx = new Float32Array(rows * D);
        const dw = new Float64Array(D);
        const db = new Float64Array(D);
        for (let r = 0; r < rows; r++) {
          let gMean = 0;
          let gxMean = 0;
          for (let d = 0; d < D; d++) {
            const xh = (xs[r * D + d]! - mean[r]!) * inv[r]!;
            const g = dy[r * D + d]! * w[d]!;
            gMean += g;
            gxMean += g * xh;
            dw[d] += dy[r * D + d]! * xh;
            db[d] += dy[r * D + d]!;
          }
          gMean = a.centered ? gMean / D : 0;
          gxMean = (gxMean / (a.sumSquares ? 1 : D)) * kappa[r]!;
          for (let d = 0; d < D; d++) {
            const xh = (xs[r * D + d]! - mean[r]!) * inv[r]!;
            dx[r * D + d] = inv[r]! * (dy[r * D + d]! * w[d]! - gMean - xh * gxMean);
          }
        }
        return [
          floatOutput(b, dx, x.x!.shape as number[]),
          ...(a.hasWeight ? [floatOutput(b, Float32Array.from(dw), [D])] : []),
          ...(a.hasBias ? [floatOutput(b, Float32Array.from(db), [D])] : []),
        ];
      },
    },
  ];
}

const UNIFORMS = "rows : i32, width : i32, centered : i32, hasBias : i32, eps : f32, epsOutside : i32, sumSquares : i32, hasWeight : i32,";

/** γ_d, or 1 without a weight (x is bound in its place then). */
const GAMMA = `fn gamma(d : i32) -> f32 { if (uniforms.hasWeight == 1) { return weight[d]; } return 1.0; }`;

/** Invocations per row: each takes every ROW_WORKGROUP-th column, so a row is read in consecutive addresses. */
const ROW_WORKGROUP = 64;

/**
 * Shared by the per-row programs: `row` (the workgroup's row; TF.js folds a dispatch over 65,535 workgroups into two
 * or three dimensions, so the id is flattened, and the extra workgroups pass the barriers with nothing to do), `lid`,
 * and `rowSum`, the sum over the workgroup of one vec2 per invocation (every invocation must call it: barriers).
 */
const ROW_PRELUDE = `
      var<workgroup> rowPartial : array<vec2<f32>, ${ROW_WORKGROUP}>;
      fn rowSum(v : vec2<f32>, lid : i32) -> vec2<f32> {
        rowPartial[lid] = v;
        workgroupBarrier();
        for (var width = ${ROW_WORKGROUP / 2}; width > 0; width /= 2) {
          if (lid < width) { rowPartial[lid] += rowPartial[lid + width]; }
          workgroupBarrier();
        }
        let total = rowPartial[0];
        workgroupBarrier();
        return total;
      }`;

/** Row r's mean (0 unless centered) and r: 1/√(mean(c²) + ε), or 1/(σ + ε) with epsOutside (every invocation calls it). */
const STATS = `
      fn stats(r : i32, lid : i32, valid : bool) -> vec2<f32> {
        let D = uniforms.width;
        var m = 0.0;
        if (uniforms.centered == 1) {
          var part = 0.0;
          if (valid) { for (var d = lid; d < D; d += ${ROW_WORKGROUP}) { part += x[r * D + d]; } }
          m = rowSum(vec2<f32>(part, 0.0), lid).x / f32(D);
        }
        var part = 0.0;
        if (valid) { for (var d = lid; d < D; d += ${ROW_WORKGROUP}) { let c = x[r * D + d] - m; part += c * c; } }
        let ms = rowSum(vec2<f32>(part, 0.0), lid).x / select(f32(D), 1.0, uniforms.sumSquares == 1);
        if (uniforms.epsOutside == 1) { return vec2<f32>(m, 1.0 / (sqrt(ms) + uniforms.eps)); }
        return vec2<f32>(m, inverseSqrt(ms + uniforms.eps));
      }`;

/** A program with one workgroup of ROW_WORKGROUP invocations per row. */
function normProgram(name: string, variableNames: string[], outputShape: number[], rows: number, body: string): WgslProgram {
  return {
    variableNames,
    outputShape,
    // Every size is a uniform: nothing shape-dependent in the code ("|": backend.ts adds no shapes to the key).
    shaderKey: `selectiv_norm_${name}|`,
    dispatchLayout: { x: [0] },
    dispatch: [rows, 1, 1],
    workgroupSize: [ROW_WORKGROUP, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      ${ROW_PRELUDE}
      ${variableNames.includes("x") ? STATS : ""}
      ${variableNames.includes("weight") ? GAMMA : ""}
      fn main(index : i32) {
        let R = uniforms.rows;
        let D = uniforms.width;
        let row = ${FLAT_WORKGROUP};
        let lid = i32(localIndex);
        let valid = row < R;
        ${body}
      }
    `,
  };
}

/** y = x̂ ⊙ γ (+ β). */
function forwardProgram(shape: number[], rows: number): WgslProgram {
  return normProgram(
    "forward",
    ["x", "weight", "bias"],
    shape,
    rows,
    `
        let s = stats(row, lid, valid);
        if (!valid) { return; }
        for (var d = lid; d < D; d += ${ROW_WORKGROUP}) {
          var y = (x[row * D + d] - s.x) * s.y * gamma(d);
          if (uniforms.hasBias == 1) { y += bias[d]; }
          result[row * D + d] = y;
        }`,
  );
}

/** Each row's (mean, 1/σ), for the gradients: [rows, 2]. */
function statsProgram(rows: number): WgslProgram {
  return normProgram(
    "stats",
    ["x"],
    [rows, 2],
    rows,
    `
        let s = stats(row, lid, valid);
        if (valid && lid == 0) {
          result[2 * row] = s.x;
          result[2 * row + 1] = s.y;
        }`,
  );
}

/** ∂L/∂x. */
function inputGradientProgram(shape: number[], rows: number): WgslProgram {
  return normProgram(
    "dx",
    ["x", "weight", "dy", "rowStats"],
    shape,
    rows,
    `
        var m = 0.0;
        var r = 0.0;
        var part = vec2<f32>(0.0, 0.0);
        if (valid) {
          m = rowStats[2 * row];
          r = rowStats[2 * row + 1];
          for (var d = lid; d < D; d += ${ROW_WORKGROUP}) {
            let g = dy[row * D + d] * gamma(d);
            part += vec2<f32>(g, g * (x[row * D + d] - m) * r);
          }
        }
        let sums = rowSum(part, lid);
        if (!valid) { return; }
        var gMean = sums.x;
        var gxMean = sums.y;
        if (uniforms.centered == 1) { gMean = gMean / f32(D); } else { gMean = 0.0; }
        gxMean = gxMean / select(f32(D), 1.0, uniforms.sumSquares == 1);
        if (uniforms.epsOutside == 1) {
          let shrink = 1.0 - r * uniforms.eps; // σ/(σ + ε): κ = 1/shrink, and σ = 0 leaves no x̂ term
          if (shrink > 0.0) { gxMean = gxMean / shrink; } else { gxMean = 0.0; }
        }
        for (var d = lid; d < D; d += ${ROW_WORKGROUP}) {
          let xh = (x[row * D + d] - m) * r;
          result[row * D + d] = r * (dy[row * D + d] * gamma(d) - gMean - xh * gxMean);
        }`,
  );
}

/** ∂L/∂γ (Σ_rows dy ⊙ x̂) or ∂L/∂β (Σ_rows dy): column sums (./workgroup-sum.ts). */
function parameterGradientSum(D: number, bias: boolean): WorkgroupSum {
  // Every bound input must be read by the code (the pipeline's layout leaves unread ones out): dβ binds dy only.
  return {
    name: bias ? "norm_dbias" : "norm_dweight",
    variableNames: bias ? ["dy"] : ["x", "dy", "rowStats"],
    outputShape: [D],
    uniforms: UNIFORMS,
    prelude: "let D = uniforms.width;",
    count: "uniforms.rows",
    term: bias ? "dy[i * D + o]" : "dy[i * D + o] * (x[i * D + o] - rowStats[2 * i]) * rowStats[2 * i + 1]",
  };
}

function webgpuKernels(): tf.KernelConfig[] {
  const uniforms = (x: tf.TensorInfo, a: NormAttrs) => {
    const { D, rows } = sizes(x);
    return [
      ...[rows, D, a.centered ? 1 : 0, a.hasBias ? 1 : 0].map((v) => ({ type: "int32", data: [v] })),
      { type: "float32", data: [a.eps] },
      { type: "int32", data: [a.epsOutside ? 1 : 0] },
      { type: "int32", data: [a.sumSquares ? 1 : 0] },
      { type: "int32", data: [a.hasWeight ? 1 : 0] },
    ];
  };
  return [
    {
      kernelName: NORM,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as NormAttrs;
        const { rows } = sizes(x.x!);
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          forwardProgram(x.x!.shape as number[], rows),
          [x.x!, x.weight!, x.bias!],
          "float32",
          uniforms(x.x!, a),
        );
      },
    },
    {
      kernelName: NORM_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as NormAttrs;
        const gpu = backend as unknown as WebgpuBackend;
        const { D, rows } = sizes(x.x!);
        const u = uniforms(x.x!, a);
        const stats = gpu.runWebGPUProgram(statsProgram(rows), [x.x!], "float32", u);
        const dx = gpu.runWebGPUProgram(inputGradientProgram(x.x!.shape as number[], rows), [x.x!, x.weight!, x.dy!, stats], "float32", u);
        const outputs = [dx];
        if (a.hasWeight) outputs.push(runWorkgroupSum(gpu, parameterGradientSum(D, false), [x.x!, x.dy!, stats], u, rows));
        if (a.hasBias) outputs.push(runWorkgroupSum(gpu, parameterGradientSum(D, true), [x.dy!], u, rows));
        gpu.disposeData(stats.dataId);
        return outputs;
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerNormKernels = registerOnce(cpuKernels, webgpuKernels);

/**
 * LayerNorm (centered) or RMSNorm over the last axis through the registered kernels, differentiable in x and in
 * whichever of γ and β are given (no γ: γ = 1).
 */
export function normKernel<T extends tf.Tensor>(
  x: T,
  weight: tf.Tensor1D | undefined,
  bias: tf.Tensor1D | undefined,
  centered: boolean,
  eps: number,
  options: { readonly epsOutside?: boolean; readonly sumSquares?: boolean } = {},
): T {
  registerNormKernels();
  const attrs = {
    centered,
    hasWeight: weight !== undefined,
    hasBias: bias !== undefined,
    eps,
    epsOutside: options.epsOutside ?? false,
    sumSquares: options.sumSquares ?? false,
  } as unknown as tf.NamedAttrMap;
  // Inputs in the order x, γ, β (those given); the kernels take x in place of a missing one.
  const given = [weight, bias].filter((t): t is tf.Tensor1D => t !== undefined);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.slice(0, 1 + given.length) as tf.Tensor[];
    const save = args[1 + given.length] as tf.GradSaveFunc;
    const xx = inputs[0]!;
    const w = weight ? inputs[1]! : xx;
    const b = bias ? inputs[inputs.length - 1]! : xx;
    save([xx, w]);
    return {
      value: tf.engine().runKernel(NORM, { x: xx, weight: w, bias: b }, attrs) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(NORM_GRAD, { x: saved[0]!, weight: saved[1]!, dy }, attrs) as unknown as tf.Tensor[],
    };
  });
  return op(x, ...given) as T;
}
