import { FLAT_WORKGROUP, type WebgpuBackend, routeWebgpuKernel } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { SelectivError } from "../errors.js";
import { tf } from "../tf.js";
import { blockSumProgram } from "./workgroup-sum.js";

/**
 * Matrix products on webgpu as one tiled WGSL program, in two uses:
 * - Long inner dimension, small output: a weight's gradient Xᵀ dY sums over every token of the batch (K = B·T =
 *   25,600 at the paper shape) into a [d_in, d_out] matrix of a few hundred rows. TF.js 4.22 runs these on its packed
 *   program, one 64-invocation workgroup per 32 × 32 output tile walking all of K: 64 workgroups for a 256 × 256
 *   gradient, a few percent of an H100's invocations busy (its split-K program, chosen only at ≤ 8 such tiles on
 *   NVIDIA, adds with compare-exchange loops on one output from 200 workgroups). Here K is split into S slices:
 *   workgroup (slice s, tile) multiplies its 64 × 64 output tile over slice s alone and writes a partial product; a
 *   second dispatch adds the S partials (./workgroup-sum.ts's block sum). No atomics; the sums run in a fixed order,
 *   so a product is the same at every call.
 * - Large outputs (SELECTIV_MATMUL=all, the default): the forward products and input gradients of the paper shape ([25,600, d]
 *   outputs) in 128 × 128 tiles, 8 × 8 per invocation — four times the multiply-adds per value read from workgroup
 *   memory of TF.js's 32 × 32 tiles of 4 × 4 — with a fused matMul's bias added on the way out.
 * Every tile is staged 16 deep in workgroup memory (as vec4s of 4 rows or columns) by 256 invocations, each holding a
 * BLOCK × BLOCK block of it in 4 × 4 pieces 64 apart.
 */

const DEPTH = 16;
const WORKGROUP = 256;
/** Workgroups to aim for: enough to keep every multiprocessor of a large GPU busy. */
const TARGET_WORKGROUPS = 512;
/** The shortest slice of K worth a workgroup. */
const MIN_SLICE = 256;

/** A product A(·) B(·): [M, K] times [K, N]. */
export interface ProductShape {
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
export function prefersLongInnerMatMul({ M, N, K }: ProductShape, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SELECTIV_MATMUL === "tf" || M * N <= 128) return false;
  const tiles = Math.ceil(M / 32) * Math.ceil(N / 32);
  return (K >= 2000 && tiles <= 8) || (K >= MIN_ROUTED_INNER && tiles < TARGET_WORKGROUPS);
}

/** How many slices of K: about TARGET_WORKGROUPS workgroups, each slice at least MIN_SLICE long. */
export function sliceCount({ M, N, K }: ProductShape): number {
  const tiles = Math.ceil(M / 64) * Math.ceil(N / 64);
  return Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(K / MIN_SLICE)));
}

/**
 * Partial products over the S slices of K: result[s·M·N + m·N + n] = Σ_{k in slice s} A(m, k) B(k, n), with
 * A(m, k) = a[k·M + m] when transposeA (a is [K, M]) else a[m·K + k], and B(k, n) = b[n·K + k] when transposeB else
 * b[k·N + n]. Each operand's tile is loaded along its contiguous axis, so neighbouring invocations read neighbouring
 * addresses in either layout.
 */
export function tiledMatMulProgram(
  shape: ProductShape,
  slices: number,
  transposeA: boolean,
  transposeB: boolean,
  outputShape: number[],
  block: Block = 4,
  withBias = false,
): WgslProgram {
  const TILE = 16 * block;
  const groups = block / 4;
  const loads = (DEPTH * TILE) / WORKGROUP;
  const tiles = Math.ceil(shape.M / TILE) * Math.ceil(shape.N / TILE);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const acc = (g: number, i: number, h: number) => `acc${g}${i}${h}`;
  // Invocation lid stages element q of operand X's tile: contiguous axis fastest, so neighbouring invocations read
  // neighbouring addresses. Along the depth (a[m·K + k], b[n·K + k]): row lid / 16 + 16 q, depth lid % 16. Across it
  // (a[k·M + m], b[k·N + n]): row lid % TILE, depth lid / TILE + (256 / TILE) q.
  const stage = (x: "a" | "b", alongDepth: boolean, base: string, size: string) => {
    const row = (q: number) => (alongDepth ? `(lid / 16 + ${16 * q})` : `(lid % ${TILE})`);
    const depth = (q: number) => (alongDepth ? `(lid % 16)` : `(lid / ${TILE} + ${(WORKGROUP / TILE) * q})`);
    const load = (q: number) => {
      const [r, d] = [`${base} + ${row(q)}`, `k0 + ${depth(q)}`];
      const at = alongDepth ? `(${r}) * uniforms.K + ${d}` : `(${d}) * ${size} + ${r}`;
      return `p${x}${q} = 0.0; if (${r} < ${size} && ${d} < end) { p${x}${q} = ${x}[${at}]; }`;
    };
    // Workgroup slot of (depth d, row r): vec4 (r / 4) ^ (d % 8) of depth d's row, lane r % 4. The xor spreads the
    // 16 depths one warp stages along the depth over 8 banks (2-way instead of 16-way conflicts); reads at one depth
    // stay a permutation of the same 256 consecutive bytes.
    const store = (q: number) =>
      `tile${x.toUpperCase()}[${depth(q)} * ${TILE / 4} + ((${row(q)} / 4) ^ (${depth(q)} & 7))][${row(q)} % 4] = p${x}${q};`;
    return { load: range(loads).map(load), store: range(loads).map(store) };
  };
  return {
    variableNames: withBias ? ["a", "b", "bias"] : ["a", "b"],
    outputShape,
    // Transposes, the block and the bias are baked into the code; sizes are uniforms.
    shaderKey: `selectiv_tiled_matmul_${transposeA}_${transposeB}_${block}${withBias ? "_bias" : ""}|`,
    dispatchLayout: { x: [0] },
    dispatch: [tiles * slices, 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "M : i32, N : i32, K : i32, slices : i32, sliceLength : i32,",
    // The code is built only when TF.js compiles the program (once per key), not at every product.
    getUserCode: () => code(),
  };
  function code(): string {
    const A = stage("a", !transposeA, "rowBase", "uniforms.M");
    const B = stage("b", transposeB, "colBase", "uniforms.N");
    // One depth d of the tile: G vec4s of columns and of rows from workgroup memory, 16 G² vec4 multiply-adds.
    const depthStep = (d: number) => [
      "{",
      ...range(groups).map((h) => `let c${h} = tileB[${d * (TILE / 4) + 16 * h} + (tx ^ ${d & 7})];`),
      ...range(groups).map((g) => `let r${g} = tileA[${d * (TILE / 4) + 16 * g} + (ty ^ ${d & 7})];`),
      ...range(groups).flatMap((g) => range(4).flatMap((i) => range(groups).map((h) => `${acc(g, i, h)} += r${g}.${"xyzw"[i]} * c${h};`))),
      "}",
    ];
    const write = range(groups).flatMap((g) =>
      range(4).flatMap((i) =>
        range(groups).flatMap((h) =>
          range(4).map((j) => {
            const [m, n] = [`rowBase + ${64 * g + i} + 4 * ty`, `colBase + ${64 * h + j} + 4 * tx`];
            const value = `${acc(g, i, h)}.${"xyzw"[j]}${withBias ? ` + bias[${n}]` : ""}`;
            return `if (valid && ${m} < uniforms.M && ${n} < uniforms.N) { result[(slice * uniforms.M + ${m}) * uniforms.N + ${n}] = ${value}; }`;
          }),
        ),
      ),
    );
    return `
      // [depth][row or column] as vec4s of 4 consecutive rows or columns (slots permuted per depth, see store).
      var<workgroup> tileA : array<vec4<f32>, ${(DEPTH * TILE) / 4}>;
      var<workgroup> tileB : array<vec4<f32>, ${(DEPTH * TILE) / 4}>;
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
        // Invocation (tx, ty) holds rows 64 g + 4 ty + i and columns 64 h + 4 tx + j of the tile (g, h < BLOCK / 4;
        // i, j < 4) in vec4 accumulators acc{g}{i}{h}, named rather than indexed so they stay in registers.
        let tx = lid % 16;
        let ty = lid / 16;
        ${range(groups)
          .flatMap((g) => range(4).flatMap((i) => range(groups).map((h) => `var ${acc(g, i, h)} = vec4<f32>(0.0);`)))
          .join("\n        ")}
        ${range(loads)
          .flatMap((q) => [`var pa${q} = 0.0;`, `var pb${q} = 0.0;`])
          .join(" ")}
        // Each step's loads from global memory go to registers during the previous step's products.
        var k0 = begin;
        ${[...A.load, ...B.load].join("\n        ")}
        for (var step = 0; step < uniforms.sliceLength / ${DEPTH}; step++) {
          workgroupBarrier();
          ${[...A.store, ...B.store].join("\n          ")}
          workgroupBarrier();
          k0 = k0 + ${DEPTH};
          ${[...A.load, ...B.load].join("\n          ")}
          ${range(DEPTH).flatMap(depthStep).join("\n          ")}
        }
        ${write.join("\n        ")}
      }
    `;
  }
}

/** Rows and columns each invocation holds: 4 (64 × 64 tiles) or 8 (128 × 128 tiles). */
export type Block = 4 | 8;

/** How a product runs here: the tile's block and the slices of K. */
export interface TiledPlan {
  readonly block: Block;
  readonly slices: number;
}

/** The values SELECTIV_MATMUL takes. */
const MATMUL_MODES = ["tf", "long-inner", "all"];

/** 128 × 128 tiles from which a product is large enough for them: about two per multiprocessor of an H100. */
const MIN_WIDE_TILES = 256;

/**
 * The plan for a single (unbatched) product, or undefined for TF.js's kernel. SELECTIV_MATMUL: `tf` routes nothing
 * here; `long-inner` only products prefersLongInnerMatMul picks; `all` (the default) also every product with at least
 * MIN_WIDE_TILES tiles of 128 × 128 (one slice): 2–4 ms faster per paper-shape step for GLA, Mamba2, Gated DeltaNet
 * and the Transformer on the H100 (docs/BENCHMARKS.md, 2026-12-07).
 */
export function tiledMatMulPlan(shape: ProductShape, env: NodeJS.ProcessEnv = process.env): TiledPlan | undefined {
  const mode = env.SELECTIV_MATMUL ?? "all";
  if (!MATMUL_MODES.includes(mode))
    throw new SelectivError(`SELECTIV_MATMUL=${JSON.stringify(mode)}: expected ${MATMUL_MODES.join(", ")} or unset (all)`);
  if (mode === "tf") return undefined;
  if (prefersLongInnerMatMul(shape, env)) return { block: 4, slices: sliceCount(shape) };
  const wide = Math.ceil(shape.M / 128) * Math.ceil(shape.N / 128);
  if (mode === "all" && wide >= MIN_WIDE_TILES) return { block: 8, slices: 1 };
  return undefined;
}

/**
 * A(·) B(·) (+ bias[n]) as above, [M, N] laid out as `outputShape` (a rank-2 or batch-1 product's shape): one
 * dispatch when one slice does, else the partial products and their sum (no bias: the route adds none there).
 */
export function runTiledMatMul(
  gpu: WebgpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  shape: ProductShape,
  transposeA: boolean,
  transposeB: boolean,
  outputShape: number[],
  plan: TiledPlan = { block: 4, slices: sliceCount(shape) },
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  const sliceLength = Math.ceil(shape.K / plan.slices / DEPTH) * DEPTH;
  const used = Math.ceil(shape.K / sliceLength);
  if (bias && used > 1) throw new Error("runTiledMatMul: a bias needs a single slice of K");
  const uniforms = [shape.M, shape.N, shape.K, used, sliceLength].map((v) => ({ type: "int32", data: [v] }));
  const partialShape = used === 1 ? outputShape : [used * shape.M * shape.N];
  const partials = gpu.runWebGPUProgram(
    tiledMatMulProgram(shape, used, transposeA, transposeB, partialShape, plan.block, bias !== undefined),
    bias ? [a, b, bias] : [a, b],
    "float32",
    uniforms,
  );
  if (used === 1) return partials;
  const sizes = [shape.M * shape.N, used].map((v) => ({ type: "int32", data: [v] }));
  const result = gpu.runWebGPUProgram(blockSumProgram("tiled_matmul", outputShape), [partials], "float32", sizes);
  gpu.disposeData(partials.dataId);
  return result;
}

interface MatMulAttrs {
  readonly transposeA?: boolean;
  readonly transposeB?: boolean;
  readonly activation?: string;
}

/** A product's [M, N, K], output shape, and whether it is a single float32 product this route may take. */
function productOf(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean) {
  const batch = (x: tf.TensorInfo) => x.shape.slice(0, -2).reduce((p, v) => p * v, 1);
  const [ra, rb] = [a.shape.length, b.shape.length];
  const shape = {
    M: transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!,
    K: transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!,
    N: transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!,
  };
  const single =
    a.dtype === "float32" &&
    b.dtype === "float32" &&
    batch(a) === 1 &&
    batch(b) === 1 &&
    tf.env().getNumber("WEBGPU_MATMUL_PROGRAM_TYPE") < 0;
  return { shape, single, outputShape: [...(ra >= rb ? a : b).shape.slice(0, -2), shape.M, shape.N] };
}

/**
 * Sends the webgpu backend's single float32 products that tiledMatMulPlan picks to runTiledMatMul: BatchMatMul, and
 * _FusedMatMul without an activation (its bias, one per column, added in the program). Every other product goes to
 * TF.js's own kernels, as do all when WEBGPU_MATMUL_PROGRAM_TYPE forces one of its programs. Call once the webgpu
 * backend is registered.
 */
export function routeTiledMatMuls(): void {
  routeWebgpuKernel(tf.BatchMatMul, (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA = false, transposeB = false } = args.attrs as MatMulAttrs;
    const { shape, single, outputShape } = productOf(a, b, transposeA, transposeB);
    const plan = single ? tiledMatMulPlan(shape) : undefined;
    if (!plan) return undefined;
    return runTiledMatMul(args.backend as unknown as WebgpuBackend, a, b, shape, transposeA, transposeB, outputShape, plan);
  });
  routeWebgpuKernel(tf._FusedMatMul, (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA = false, transposeB = false, activation = "linear" } = args.attrs as MatMulAttrs;
    if (!a || !b || preluActivationWeights || activation !== "linear") return undefined;
    const { shape, single, outputShape } = productOf(a, b, transposeA, transposeB);
    const plan = single ? tiledMatMulPlan(shape) : undefined;
    const biasFits = !bias || (bias.dtype === "float32" && bias.shape.reduce((p, v) => p * v, 1) === shape.N);
    if (!plan || !biasFits || (bias && plan.slices > 1)) return undefined;
    return runTiledMatMul(args.backend as unknown as WebgpuBackend, a, b, shape, transposeA, transposeB, outputShape, plan, bias);
  });
}
