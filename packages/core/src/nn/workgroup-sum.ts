import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";

/** Invocations per workgroup of a {@link workgroupSumProgram}. */
export const SUM_WORKGROUP = 256;

export interface WorkgroupSum {
  /** Stem of the shader key; the program bakes no sizes into its code. */
  readonly name: string;
  readonly variableNames: string[];
  readonly outputShape: number[];
  /** The program's uniform declarations (the sizes the expressions below read). */
  readonly uniforms: string;
  /** WGSL statements run by every invocation before summing; `o` (the output index) is defined. */
  readonly prelude: string;
  /** WGSL i32 expression: how many terms each output sums. */
  readonly count: string;
  /** WGSL f32 expression of the output index `o` and the term index `i`. */
  readonly term: string;
}

/**
 * result[o] = Σ_{i < count} term(o, i), one workgroup per output: its invocations take strided shares of the terms,
 * then add them in a tree in workgroup memory. The parameter gradients (Σ over every batch row and time step of a
 * few hundred columns) need this: one invocation per column left the GPU nearly idle, ~50 ms per call at the paper
 * shape (25,600 rows).
 */
export function workgroupSumProgram(s: WorkgroupSum): WgslProgram {
  const outputs = s.outputShape.reduce((a, b) => a * b, 1);
  return {
    variableNames: s.variableNames,
    outputShape: s.outputShape,
    shaderKey: `selectiv_${s.name}|`,
    dispatchLayout: { x: [0] },
    dispatch: [outputs, 1, 1],
    workgroupSize: [SUM_WORKGROUP, 1, 1],
    uniforms: s.uniforms,
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${SUM_WORKGROUP}>;
      fn main(index : i32) {
        // TF.js folds a dispatch over 65,535 workgroups into two or three dimensions: flatten, and let the extra
        // workgroups (no output) pass the barriers with nothing to add.
        let o = i32(workgroupId.x + workgroupId.y * numWorkgroups.x + workgroupId.z * numWorkgroups.x * numWorkgroups.y);
        let lid = i32(localIndex);
        let hasOutput = o < i32(arrayLength(&result));
        ${s.prelude}
        var n = ${s.count};
        if (!hasOutput) { n = 0; }
        var acc = 0.0;
        for (var i = lid; i < n; i += ${SUM_WORKGROUP}) { acc += ${s.term}; }
        partial[lid] = acc;
        workgroupBarrier();
        for (var width = ${SUM_WORKGROUP / 2}; width > 0; width /= 2) {
          if (lid < width) { partial[lid] += partial[lid + width]; }
          workgroupBarrier();
        }
        if (lid == 0 && hasOutput) { result[o] = partial[0]; }
      }
    `,
  };
}
