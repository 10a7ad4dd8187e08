import { FLAT_WORKGROUP, type WebgpuBackend, routeWebgpuKernel } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { tf } from "../tf.js";
import { blockSumProgram } from "./workgroup-sum.js";

/**
 * Matrix products with a long inner dimension and a small output on webgpu: a weight's gradient Xᵀ dY sums over
 * every token of the batch (K = B·T = 25,600 at the paper shape) into a [d_in, d_out] matrix of a few hundred
 * rows. TF.js 4.22 runs these on its packed program, one 64-invocation workgroup per 32 × 32 output tile walking
 * all of K: 64 workgroups for a 256 × 256 gradient, a few percent of an H100's invocations busy (its split-K program,
 * chosen only at ≤ 8 such tiles on NVIDIA, adds with compare-exchange loops on one output from 200 workgroups).
 *
 * Here K is split into S slices: workgroup (slice s, tile) multiplies its 64 × 64 output tile over slice s alone, in
 * 16-deep steps staged in workgroup memory (each of 256 invocations holds a 4 × 4 block of the tile), and writes a
 * partial product; a second dispatch adds the S partials (./workgroup-sum.ts's block sum). No atomics; the sums run
 * in a fixed order, so a product is the same at every call.
 */

const TILE = 64;
const DEPTH = 16;
const WORKGROUP = 256;
/** Workgroups to aim for: enough to keep every multiprocessor of a large GPU busy. */
const TARGET_WORKGROUPS = 512;
/** The shortest slice of K worth a workgroup. */
const MIN_SLICE = 256;

export interface LongInnerShape {
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

/** Below this inner dimension TF.js's walk over K is short and this route's extra dispatch costs more. */
const MIN_ROUTED_INNER = 8192;

/**
 * Whether a single (unbatched) product is better served here than by TF.js. Two cases: (1) where TF.js itself
 * splits K (at most 8 output tiles of 32 × 32, K ≥ 2,000: the quick shape's weight gradients) — its split-K program
 * adds through compare-exchange loops after a zero fill, also two dispatches; (2) a long inner dimension (the paper
 * shape's 25,600 tokens) with fewer tiles than a large GPU has room for, which TF.js's packed program walks serially.
 * Outputs of ≤ 128 entries stay with TF.js's one-dispatch reduction. `SELECTIV_MATMUL=tf` turns the route off.
 */
export function prefersLongInnerMatMul({ M, N, K }: LongInnerShape, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SELECTIV_MATMUL === "tf" || M * N <= 128) return false;
  const tiles = Math.ceil(M / 32) * Math.ceil(N / 32);
  return (K >= 2000 && tiles <= 8) || (K >= MIN_ROUTED_INNER && tiles < TARGET_WORKGROUPS);
}

/** How many slices of K: about TARGET_WORKGROUPS workgroups, each slice at least MIN_SLICE long. */
export function sliceCount({ M, N, K }: LongInnerShape): number {
  const tiles = Math.ceil(M / TILE) * Math.ceil(N / TILE);
  return Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(K / MIN_SLICE)));
}

/**
 * Partial products over the S slices of K: result[s·M·N + m·N + n] = Σ_{k in slice s} A(m, k) B(k, n), with
 * A(m, k) = a[k·M + m] when transposeA (a is [K, M]) else a[m·K + k], and B(k, n) = b[n·K + k] when transposeB else
 * b[k·N + n]. Each operand's tile is loaded along its contiguous axis, so neighbouring invocations read neighbouring
 * addresses in either layout.
 */
export function longInnerMatMulProgram(
  shape: LongInnerShape,
  slices: number,
  transposeA: boolean,
  transposeB: boolean,
  outputShape: number[],
): WgslProgram {
  const tiles = Math.ceil(shape.M / TILE) * Math.ceil(shape.N / TILE);
  const per = WORKGROUP / 16;
  // (row, depth) of the e-th element of a tile stage: the contiguous axis fastest.
  const aAt = transposeA ? `let d = e / ${TILE}; let r = e % ${TILE};` : `let r = e / ${DEPTH}; let d = e % ${DEPTH};`;
  const bAt = transposeB ? `let c = e / ${DEPTH}; let d = e % ${DEPTH};` : `let d = e / ${TILE}; let c = e % ${TILE};`;
  const aRead = transposeA ? "a[k * uniforms.M + m]" : "a[m * uniforms.K + k]";
  const bRead = transposeB ? "b[n * uniforms.K + k]" : "b[k * uniforms.N + n]";
  return {
    variableNames: ["a", "b"],
    outputShape,
    // Transposes are baked into the code; sizes are uniforms.
    shaderKey: `selectiv_long_inner_matmul_${transposeA}_${transposeB}|`,
    dispatchLayout: { x: [0] },
    dispatch: [tiles * slices, 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "M : i32, N : i32, K : i32, slices : i32, sliceLength : i32,",
    getUserCode: () => `
      var<workgroup> tileA : array<f32, ${DEPTH * TILE}>;
      var<workgroup> tileB : array<f32, ${DEPTH * TILE}>;
      fn main(index : i32) {
        let w = ${FLAT_WORKGROUP};
        let lid = i32(localIndex);
        let tilesN = (uniforms.N + ${TILE - 1}) / ${TILE};
        let tilesM = (uniforms.M + ${TILE - 1}) / ${TILE};
        let slice = w / (tilesM * tilesN);
        let rowBase = ((w % (tilesM * tilesN)) / tilesN) * ${TILE};
        let colBase = (w % tilesN) * ${TILE};
        // A folded dispatch has extra workgroups (slice ≥ slices): they load zeros and write nothing. The loop
        // runs sliceLength / 16 times in every workgroup: barriers need control flow WGSL knows to be uniform.
        let valid = slice < uniforms.slices;
        let begin = slice * uniforms.sliceLength;
        let end = select(0, min(uniforms.K, begin + uniforms.sliceLength), valid);
        // Invocation (tx, ty) holds rows ty + 16 i and columns tx + 16 j of the tile.
        let tx = lid % ${per};
        let ty = lid / ${per};
        var acc : array<array<f32, 4>, 4>;
        for (var step = 0; step < uniforms.sliceLength / ${DEPTH}; step++) {
          let k0 = begin + step * ${DEPTH};
          for (var q = 0; q < ${(DEPTH * TILE) / WORKGROUP}; q++) {
            let e = lid + q * ${WORKGROUP};
            {
              ${aAt}
              let m = rowBase + r;
              let k = k0 + d;
              var value = 0.0;
              if (m < uniforms.M && k < end) { value = ${aRead}; }
              tileA[d * ${TILE} + r] = value;
            }
            {
              ${bAt}
              let n = colBase + c;
              let k = k0 + d;
              var value = 0.0;
              if (n < uniforms.N && k < end) { value = ${bRead}; }
              tileB[d * ${TILE} + c] = value;
            }
          }
          workgroupBarrier();
          for (var d = 0; d < ${DEPTH}; d++) {
            var colValues : array<f32, 4>;
            for (var j = 0; j < 4; j++) { colValues[j] = tileB[d * ${TILE} + tx + ${per} * j]; }
            for (var i = 0; i < 4; i++) {
              let rowValue = tileA[d * ${TILE} + ty + ${per} * i];
              for (var j = 0; j < 4; j++) { acc[i][j] += rowValue * colValues[j]; }
            }
          }
          workgroupBarrier();
        }
        for (var i = 0; i < 4; i++) {
          let m = rowBase + ty + ${per} * i;
          for (var j = 0; j < 4; j++) {
            let n = colBase + tx + ${per} * j;
            if (valid && m < uniforms.M && n < uniforms.N) { result[(slice * uniforms.M + m) * uniforms.N + n] = acc[i][j]; }
          }
        }
      }
    `,
  };
}

/**
 * A(·) B(·) as above, [M, N] laid out as `outputShape` (a rank-2 or batch-1 product's shape): one dispatch when one
 * slice does, else the partial products and their sum.
 */
export function runLongInnerMatMul(
  gpu: WebgpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  shape: LongInnerShape,
  transposeA: boolean,
  transposeB: boolean,
  outputShape: number[],
): tf.TensorInfo {
  const slices = sliceCount(shape);
  const sliceLength = Math.ceil(shape.K / slices / DEPTH) * DEPTH;
  const used = Math.ceil(shape.K / sliceLength);
  const uniforms = [shape.M, shape.N, shape.K, used, sliceLength].map((v) => ({ type: "int32", data: [v] }));
  const partialShape = used === 1 ? outputShape : [used * shape.M * shape.N];
  const partials = gpu.runWebGPUProgram(
    longInnerMatMulProgram(shape, used, transposeA, transposeB, partialShape),
    [a, b],
    "float32",
    uniforms,
  );
  if (used === 1) return partials;
  const sizes = [shape.M * shape.N, used].map((v) => ({ type: "int32", data: [v] }));
  const result = gpu.runWebGPUProgram(blockSumProgram("long_inner_matmul", outputShape), [partials], "float32", sizes);
  gpu.disposeData(partials.dataId);
  return result;
}

interface MatMulAttrs {
  readonly transposeA?: boolean;
  readonly transposeB?: boolean;
}

/**
 * Sends the webgpu backend's unbatched float32 BatchMatMuls that prefersLongInnerMatMul picks (the weight gradients of
 * every linear layer) to runLongInnerMatMul; every other product goes to TF.js's own kernel, as do all products when
 * WEBGPU_MATMUL_PROGRAM_TYPE forces one of its programs. Call once the webgpu backend is registered.
 */
export function routeLongInnerMatMuls(): void {
  routeWebgpuKernel(tf.BatchMatMul, (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA = false, transposeB = false } = args.attrs as MatMulAttrs;
    const batch = (x: tf.TensorInfo) => x.shape.slice(0, -2).reduce((p, v) => p * v, 1);
    const [ra, rb] = [a.shape.length, b.shape.length];
    const shape = {
      M: transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!,
      K: transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!,
      N: transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!,
    };
    const eligible =
      a.dtype === "float32" &&
      b.dtype === "float32" &&
      batch(a) === 1 &&
      batch(b) === 1 &&
      tf.env().getNumber("WEBGPU_MATMUL_PROGRAM_TYPE") < 0 &&
      prefersLongInnerMatMul(shape);
    if (!eligible) return undefined;
    const lead = (ra >= rb ? a : b).shape.slice(0, -2);
    return runLongInnerMatMul(args.backend as unknown as WebgpuBackend, a, b, shape, transposeA, transposeB, [...lead, shape.M, shape.N]);
  });
}
