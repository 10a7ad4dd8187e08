import { FLAT_WORKGROUP } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";

/** Rows of one lane per workgroup, in both forms of the attention programs (rows: ./attention-kernel.ts; tiles). */
export const ROWS_PER_WORKGROUP = 64;

/** Lane-major ([B, H, T, ·]) or time-major ([B, T, H, ·], the head count baked into the code). */
export interface AttentionLayout {
  readonly timeMajor: boolean;
  readonly heads: number;
}

/** A [B, ·, ·, width] tensor's shape in the layout. */
export const layoutShape = (B: number, T: number, width: number, { timeMajor, heads }: AttentionLayout) =>
  timeMajor ? [B, T, heads, width] : [B, heads, T, width];

/** The inputs of a dk or dv program: every bound input must be read by the code, and dv does not need the values. */
export const keyValueInputs = (which: "dk" | "dv") =>
  which === "dk" ? ["query", "key", "value", "dy", "stats"] : ["query", "key", "dy", "stats"];

/** The sizes every attention program is built for: B·H lanes of T steps, key width D, value width Dv. */
export interface AttentionSizes {
  readonly lanes: number;
  readonly T: number;
  readonly B: number;
  readonly D: number;
  readonly Dv: number;
  readonly layout: AttentionLayout;
}

/** What a program of either form adds to the frame. */
export interface AttentionProgramParts {
  /** The form and the program: `rows_forward`, `tiles_dq`, … (in the shader key). */
  readonly name: string;
  readonly variableNames: string[];
  readonly outputShape: number[];
  readonly sizes: AttentionSizes;
  readonly workgroupSize: number;
  /** WGSL at module scope: constants and workgroup arrays. */
  readonly declarations: string;
  readonly body: string;
}

/**
 * Each workgroup takes rows base … base + 63 of one lane (batch × head): `T`, `scale`, `lid`, `lane`, `base` and
 * `laneValid` are defined for the body, and `rowAt(lane, t, T)` gives the row of step t of a lane in the inputs and
 * outputs. D and Dv are baked into the code and its key; lanes, T and scale are uniforms ("|": backend.ts adds no
 * shapes to the key).
 */
export function attentionProgram(parts: AttentionProgramParts): WgslProgram {
  const p = { ...parts, ...parts.sizes };
  const H = p.layout.heads;
  return {
    variableNames: p.variableNames,
    outputShape: p.outputShape,
    shaderKey: `selectiv_attention_${p.name}_dk${p.D}_dv${p.Dv}${p.layout.timeMajor ? `_tm${H}` : ""}|`,
    dispatchLayout: { x: [0] },
    dispatch: [p.lanes * Math.ceil(p.T / ROWS_PER_WORKGROUP), 1, 1],
    workgroupSize: [p.workgroupSize, 1, 1],
    uniforms: "lanes : i32, steps : i32, scale : f32,",
    getUserCode: () => `
      const DK : i32 = ${p.D};
      const DV : i32 = ${p.Dv};
      ${p.declarations}
      fn rowAt(lane : i32, t : i32, T : i32) -> i32 {
        return ${p.layout.timeMajor ? `((lane / ${H}) * T + t) * ${H} + lane % ${H}` : "lane * T + t"};
      }
      fn main(index : i32) {
        let T = uniforms.steps;
        let scale = uniforms.scale;
        let lid = i32(localIndex);
        let blocks = (T + ${ROWS_PER_WORKGROUP - 1}) / ${ROWS_PER_WORKGROUP};
        let w = ${FLAT_WORKGROUP};
        let lane = w / blocks;
        let base = (w % blocks) * ${ROWS_PER_WORKGROUP};
        let laneValid = lane < uniforms.lanes;
        ${p.body}
      }
    `,
  };
}
