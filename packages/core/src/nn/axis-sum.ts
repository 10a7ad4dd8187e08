import { type WebgpuBackend, elementwiseProgram, routeWebgpuKernel } from "../kernel-registration.js";
import { tf } from "../tf.js";
import { runWorkgroupSum } from "./workgroup-sum.js";

/**
 * Sums over one contiguous run of axes that leaves the last axis — a bias's gradient Σ_rows dy over [B·T, d], a
 * broadcast scale's over [B, T, …], a head broadcast's over [B, T, H, N]'s H — on webgpu, with x viewed as
 * [outer, count, inner] (count the product of the summed axes). TF.js 4.22 transposes the summed axes last and then
 * reduces each output in one workgroup: a full copy, then a reduction that on the H100 took 173 ms of the paper
 * Transformer's 339 ms step for its 61 bias gradients (benchmarks/results/2026-12-07-h100).
 * Long runs (count ≥ WORKGROUP_TERMS) take the column sums of ./workgroup-sum.ts (32 neighbouring outputs per
 * workgroup over blocks of the run, coalesced); short runs one invocation per output, neighbours reading neighbours.
 * Sums over the last axis, over every axis, over non-contiguous axes, and everything when SELECTIV_AXIS_SUM=tf stay
 * with TF.js's kernel. The oracle is tf.sum on cpu (axis-sum.test.ts).
 */

/** Terms per output from which the column sums pay (below, one invocation per output). */
const WORKGROUP_TERMS = 64;

/** x as [outer, count, inner] around its summed axes. */
export interface AxisRun {
  readonly outer: number;
  readonly count: number;
  readonly inner: number;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** The run of `axis` over `shape` when it is one contiguous run of axes with the last axis left; else undefined. */
export function axisRun(axis: number | number[] | null, shape: number[]): AxisRun | undefined {
  if (axis === null) return undefined;
  const rank = shape.length;
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (first === undefined || last === undefined || last >= rank - 1 || last - first + 1 !== axes.length) return undefined;
  return { outer: product(shape.slice(0, first)), count: product(shape.slice(first, last + 1)), inner: product(shape.slice(last + 1)) };
}

/** x summed over `run` on webgpu; the result has `outputShape` (outer · inner entries). */
export function runAxisSum(gpu: WebgpuBackend, x: tf.TensorInfo, run: AxisRun, outputShape: number[]): tf.TensorInfo {
  const sizes = [run.outer * run.inner, run.count, run.inner].map((v) => ({ type: "int32", data: [v] }));
  if (run.count >= WORKGROUP_TERMS)
    return runWorkgroupSum(
      gpu,
      {
        name: "axis_sum",
        variableNames: ["x"],
        outputShape,
        uniforms: "n : i32, count : i32, inner : i32,",
        prelude: "let base = (o / uniforms.inner) * uniforms.count * uniforms.inner + o % uniforms.inner;",
        count: "uniforms.count",
        term: "x[base + i * uniforms.inner]",
      },
      [x],
      sizes,
      run.count,
    );
  const program = elementwiseProgram({
    key: "selectiv_axis_sum_short",
    variableNames: ["x"],
    shape: outputShape,
    uniforms: "n : i32, count : i32, inner : i32,",
    body: `let base = (index / uniforms.inner) * uniforms.count * uniforms.inner + index % uniforms.inner;
        var sum = 0.0;
        for (var r = 0; r < uniforms.count; r++) { sum += x[base + r * uniforms.inner]; }
        result[index] = sum;`,
  });
  return gpu.runWebGPUProgram(program, [x], "float32", sizes);
}

interface SumAttrs {
  readonly axis: number | number[] | null;
  readonly keepDims: boolean;
}

/** Sends the webgpu backend's float32 sums over a contiguous run of axes (the last left) to runAxisSum. */
export function routeAxisSums(): void {
  routeWebgpuKernel(tf.Sum, (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const run = axisRun(axis, x.shape);
    if (run === undefined || x.dtype !== "float32" || product(x.shape) === 0 || process.env.SELECTIV_AXIS_SUM === "tf") return undefined;
    const summed = new Set((Array.isArray(axis) ? axis : [axis!]).map((a) => (a < 0 ? a + x.shape.length : a)));
    const outputShape = x.shape.flatMap((n, i) => (!summed.has(i) ? [n] : keepDims ? [1] : []));
    return runAxisSum(args.backend as unknown as WebgpuBackend, x, run, outputShape);
  });
}
