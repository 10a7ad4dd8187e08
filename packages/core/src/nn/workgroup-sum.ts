import { FLAT_WORKGROUP, type WebgpuBackend } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import type { tf } from "../tf.js";

/** Invocations per workgroup of the first stage: COLUMNS consecutive outputs × LANES row lanes. */
const COLUMNS = 32;
const LANES = 8;
/**
 * Row blocks of the first stage: enough workgroups to fill a GPU, each block at least MIN_BLOCK_ROWS rows. Below
 * SPLIT_ROWS rows one block does (one dispatch: at such sizes a step is bound by dispatches, not by the GPU).
 */
const MAX_BLOCKS = 64;
const MIN_BLOCK_ROWS = 512;
const SPLIT_ROWS = 8192;

export interface WorkgroupSum {
  /** Stem of the shader keys; the programs bake no sizes into their code. */
  readonly name: string;
  readonly variableNames: string[];
  readonly outputShape: number[];
  /** The program's uniform declarations (the sizes the expressions below read). */
  readonly uniforms: string;
  /** WGSL statements run by every invocation before summing; `o` (the output index) is defined. */
  readonly prelude: string;
  /** WGSL i32 expression: how many terms each output sums (the same for every output). */
  readonly count: string;
  /** WGSL f32 expression of the output index `o` and the term index `i`. */
  readonly term: string;
}

/**
 * Stage 1: workgroup (column group g, row block r) sums term(o, i) for its 32 outputs o over the rows i of block r,
 * 8 row lanes each taking every 8th row, then the lanes in workgroup memory: partials[r · outputs + o]. Consecutive
 * invocations read consecutive outputs of one row (coalesced); one workgroup per output, striding over rows, read
 * one 32-byte sector per term (0.6 ms per short-convolution gradient at the paper shape on an H200).
 */
function partialSumsProgram(s: WorkgroupSum, outputs: number, blocks: number): WgslProgram {
  const groups = Math.ceil(outputs / COLUMNS);
  return {
    variableNames: s.variableNames,
    outputShape: blocks === 1 ? s.outputShape : [blocks * outputs],
    shaderKey: `selectiv_${s.name}_partials|`,
    dispatchLayout: { x: [0] },
    dispatch: [groups * blocks, 1, 1],
    workgroupSize: [COLUMNS * LANES, 1, 1],
    uniforms: `${s.uniforms} sumOutputs : i32, sumBlocks : i32,`,
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${COLUMNS * LANES}>;
      fn main(index : i32) {
        // TF.js folds a dispatch over 65,535 workgroups into two or three dimensions: flatten, and let the extra
        // workgroups (no output) pass the barrier with nothing to add.
        let w = ${FLAT_WORKGROUP};
        let groups = (uniforms.sumOutputs + ${COLUMNS - 1}) / ${COLUMNS};
        let block = w / groups;
        let lid = i32(localIndex);
        let o = (w % groups) * ${COLUMNS} + lid % ${COLUMNS};
        let lane = lid / ${COLUMNS};
        let hasOutput = o < uniforms.sumOutputs && block < uniforms.sumBlocks;
        ${s.prelude}
        var n = ${s.count};
        if (!hasOutput) { n = 0; }
        let perBlock = (n + uniforms.sumBlocks - 1) / uniforms.sumBlocks;
        let end = min(n, (block + 1) * perBlock);
        var acc = 0.0;
        for (var i = block * perBlock + lane; i < end; i += ${LANES}) { acc += ${s.term}; }
        partial[lid] = acc;
        workgroupBarrier();
        if (lane == 0 && hasOutput) {
          var sum = 0.0;
          for (var l = 0; l < ${LANES}; l++) { sum += partial[l * ${COLUMNS} + lid]; }
          result[block * uniforms.sumOutputs + o] = sum;
        }
      }
    `,
  };
}

/** Stage 2: result[o] = Σ_r partials[r · outputs + o], one invocation per output (uniforms sumOutputs, sumBlocks). */
export function blockSumProgram(name: string, outputShape: number[]): WgslProgram {
  const outputs = outputShape.reduce((a, b) => a * b, 1);
  return {
    variableNames: ["partials"],
    outputShape,
    shaderKey: `selectiv_${name}_blocks|`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(outputs / 64), 1, 1],
    workgroupSize: [64, 1, 1],
    uniforms: "sumOutputs : i32, sumBlocks : i32,",
    getUserCode: () => `
      fn main(index : i32) {
        if (index >= uniforms.sumOutputs) { return; }
        var sum = 0.0;
        for (var r = 0; r < uniforms.sumBlocks; r++) { sum += partials[r * uniforms.sumOutputs + index]; }
        result[index] = sum;
      }
    `,
  };
}

/**
 * result[o] = Σ_{i < rows} term(o, i) on webgpu: the column sums of the parameter gradients (Σ over every batch row
 * and time step of a few hundred columns), in two dispatches: partial sums per row block, then their sum.
 * `uniforms` are the values of `s.uniforms`, in order; `rows` is the value of `s.count`.
 */
export function runWorkgroupSum(
  gpu: WebgpuBackend,
  s: WorkgroupSum,
  inputs: tf.TensorInfo[],
  uniforms: { type: string; data: number[] }[],
  rows: number,
): tf.TensorInfo {
  const outputs = s.outputShape.reduce((a, b) => a * b, 1);
  // Row blocks only while the dispatch stays within one dimension; past 2.1 M outputs TF.js folds it (tested).
  const groups = Math.ceil(outputs / COLUMNS);
  const blocks = rows < SPLIT_ROWS ? 1 : Math.max(1, Math.min(MAX_BLOCKS, Math.floor(rows / MIN_BLOCK_ROWS), Math.floor(65_535 / groups)));
  const sizes = [outputs, blocks].map((v) => ({ type: "int32", data: [v] }));
  const partials = gpu.runWebGPUProgram(partialSumsProgram(s, outputs, blocks), inputs, "float32", [...uniforms, ...sizes]);
  if (blocks === 1) return partials;
  const result = gpu.runWebGPUProgram(blockSumProgram(s.name, s.outputShape), [partials], "float32", sizes);
  gpu.disposeData(partials.dataId);
  return result;
}
