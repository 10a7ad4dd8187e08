import { type WebgpuBackend, elementwiseProgram, routeWebgpuKernel } from "../kernel-registration.js";
import { tf } from "../tf.js";
import { runWorkgroupSum } from "./workgroup-sum.js";

/**
 * Sums over any axes on webgpu as one or more passes, each over one contiguous run of axes with x viewed as
 * [outer, count, inner] (count the product of the run's axes). TF.js 4.22 transposes non-trailing summed axes last
 * and reduces each output in one workgroup — a full copy first, and a full sum (a SwiGLU β's gradient over
 * [B, T, 4d]) in a single workgroup: on the H200 the paper Transformer's sums took 162 ms of a 326 ms step
 * (benchmarks/results/2026-12-07-h200). Here:
 * - a run that leaves the last axis takes the column sums of ./workgroup-sum.ts when long (count ≥ WORKGROUP_TERMS:
 *   32 neighbouring outputs per workgroup over blocks of the run, coalesced), else one invocation per output;
 * - a run with the last axis sums last, on what the other runs left; a full sum is the column sums over all but
 *   the last axis, then the sum of that row;
 * - a sum over the last axes alone stays with TF.js's kernel when long with many outputs (one workgroup per output
 *   suits it), as do
 *   integer sums and everything when SELECTIV_AXIS_SUM=tf.
 * The oracle is tf.sum on cpu (axis-sum.test.ts).
 */

/** Terms per output from which the column sums pay (below, one invocation per output). */
const WORKGROUP_TERMS = 64;
/** Outputs from which a long sum over the trailing axes is left to TF.js (one workgroup per output fills the GPU). */
const MANY_OUTPUTS = 256;

/** x as [outer, count, inner] around its summed axes. */
export interface AxisRun {
  readonly outer: number;
  readonly count: number;
  readonly inner: number;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** `axis` (null: every axis) as sorted distinct non-negative axes of a rank-`rank` tensor. */
export function normalizeAxes(axis: number | number[] | null, rank: number): number[] {
  if (axis === null) return Array.from({ length: rank }, (_, i) => i);
  return [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/**
 * The passes summing `axes` of `shape`, in order, each an AxisRun over the shape the previous passes left (summed
 * axes kept as 1): runs leaving the last axis first, the run with the last axis last (split from the axes before it,
 * so that those are column sums). Undefined when TF.js's kernel should take it: no axes, or only a long run of
 * trailing axes with many outputs.
 */
export function sumPasses(axes: number[], shape: number[]): AxisRun[] | undefined {
  const rank = shape.length;
  const runs: number[][] = [];
  for (const a of axes) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1] === a - 1) run.push(a);
    else runs.push([a]);
  }
  const trailing = runs.length > 0 && runs[runs.length - 1]!.includes(rank - 1) ? runs.pop()! : undefined;
  if (trailing && trailing.length > 1) runs.push(trailing.slice(0, -1));
  const passes = trailing ? [...runs, [rank - 1]] : runs;
  if (passes.length === 0) return undefined;
  const current = [...shape];
  const result = passes.map((run) => {
    const first = run[0]!;
    const last = run[run.length - 1]!;
    const pass = {
      outer: product(current.slice(0, first)),
      count: product(current.slice(first, last + 1)),
      inner: product(current.slice(last + 1)),
    };
    for (const a of run) current[a] = 1;
    return pass;
  });
  const only = result[0]!;
  if (trailing && result.length === 1 && only.count >= WORKGROUP_TERMS && only.outer >= MANY_OUTPUTS) return undefined;
  return result;
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

/** Sends the webgpu backend's float32 sums to runAxisSum, pass by pass (sumPasses). */
export function routeAxisSums(): void {
  routeWebgpuKernel(tf.Sum, (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const axes = normalizeAxes(axis, x.shape.length);
    const passes = sumPasses(axes, x.shape);
    if (passes === undefined || x.dtype !== "float32" || product(x.shape) === 0 || process.env.SELECTIV_AXIS_SUM === "tf") return undefined;
    const gpu = args.backend as unknown as WebgpuBackend;
    const outputShape = x.shape.flatMap((n, i) => (!axes.includes(i) ? [n] : keepDims ? [1] : []));
    let current = x;
    passes.forEach((pass, i) => {
      const next = runAxisSum(gpu, current, pass, i === passes.length - 1 ? outputShape : [pass.outer * pass.inner]);
      if (current !== x) gpu.disposeData(current.dataId);
      current = next;
    });
    return current;
  });
}
