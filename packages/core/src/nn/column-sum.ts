import { type WebgpuBackend, routeWebgpuKernel } from "../kernel-registration.js";
import { tf } from "../tf.js";
import { runWorkgroupSum } from "./workgroup-sum.js";

/**
 * Sums over leading axes on webgpu — a bias's gradient Σ_rows dy over [B·T, d], a broadcast scale's over [B, T, …] —
 * as column sums (./workgroup-sum.ts: 32 consecutive columns per workgroup over row blocks, coalesced). TF.js 4.22
 * transposes the summed axes last and then reduces each output's 25,600 entries in one workgroup: on the H100 the
 * paper Transformer's 61 such sums took 173 ms of a 339 ms step (benchmarks/results/2026-12-07-h100). Sums over the
 * last axes, and everything when WEBGPU_* flags or SELECTIV_COLUMN_SUM=tf say so, stay with TF.js's own kernel.
 */

/** Rows below which TF.js's reduction is left alone (a step there is bound by dispatches, not by the sum). */
const MIN_ROWS = 64;

interface SumAttrs {
  readonly axis: number | number[];
  readonly keepDims: boolean;
}

/** The count of leading axes summed, when `axis` names exactly axes 0 … k−1 with k < rank; else undefined. */
export function leadingAxes(axis: number | number[], rank: number): number | undefined {
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= rank) return undefined;
  return axes.every((a, i) => a === i) ? axes.length : undefined;
}

/** x summed over its first `leading` axes on webgpu, as column sums; the result has `outputShape`. */
export function runColumnSum(gpu: WebgpuBackend, x: tf.TensorInfo, leading: number, outputShape: number[]): tf.TensorInfo {
  const rows = x.shape.slice(0, leading).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(leading).reduce((a, b) => a * b, 1);
  return runWorkgroupSum(
    gpu,
    {
      name: "column_sum",
      variableNames: ["x"],
      outputShape,
      uniforms: "rows : i32, cols : i32,",
      prelude: "",
      count: "uniforms.rows",
      term: "x[i * uniforms.cols + o]",
    },
    [x],
    [rows, cols].map((v) => ({ type: "int32", data: [v] })),
    rows,
  );
}

/** Sends the webgpu backend's float32 sums over leading axes (of at least MIN_ROWS rows) to runColumnSum. */
export function routeColumnSums(): void {
  routeWebgpuKernel(tf.Sum, (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const leading = leadingAxes(axis, x.shape.length);
    const rows = leading === undefined ? 0 : x.shape.slice(0, leading).reduce((a, b) => a * b, 1);
    if (leading === undefined || x.dtype !== "float32" || rows < MIN_ROWS || process.env.SELECTIV_COLUMN_SUM === "tf") return undefined;
    const kept = x.shape.slice(leading);
    const outputShape = keepDims ? [...x.shape.slice(0, leading).map(() => 1), ...kept] : kept;
    return runColumnSum(args.backend as unknown as WebgpuBackend, x, leading, outputShape);
  });
}
