import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { type AttentionSizes, ROWS_PER_WORKGROUP, attentionProgram, keyValueInputs, layoutShape } from "./attention-frame.js";

/**
 * Causal softmax attention's WGSL programs in blocks (the maths: ./attention-kernel.ts, docs/spec/MODELS.md §6.3):
 * each workgroup takes a block of 64 rows of one lane and meets the other side 64 rows at a time, so every
 * pairwise product is a 64 × 64 tile computed as a small matrix product. 256 invocations as 16 × 16; invocation
 * (tx, ty) holds rows 4·ty … 4·ty + 3 and columns 4·tx … 4·tx + 3 of a tile, as four vec4s: each pair of vec4s read
 * from workgroup memory feeds 16 multiply-adds (the row programs of ./attention-kernel.ts, one invocation per query
 * row, get 4 per read and hold a whole row in registers).
 *
 * A block's step, where A and B are the two sides' rows:
 * 1. a score tile S = A Bᵀ over a depth of 16 at a time (tileA, tileB: [depth][row] as vec4s of 4 rows);
 * 2. the tile's weights (softmax, or their gradient) into `weights`, stored by column: weights[c·16 + g] holds rows
 *    4g … 4g + 3 of column c;
 * 3. acc += weights · C for the side's value rows C, staged a few rows at a time (tileC).
 * Softmax statistics: each invocation keeps a running max and sum for its 4 rows over its columns; the 16 partial
 * pairs of a row are merged once, at the end (m = max m_x, l = Σ l_x exp(m_x − m)).
 * Barriers stay in control flow that depends on uniforms and constants alone, as WGSL requires: every workgroup
 * walks all blocks of T, and `inBlock` skips the work of blocks outside the causal triangle.
 */

const BLOCK = ROWS_PER_WORKGROUP;
const WORKGROUP = 256;

/** Column groups of 64 (one vec4 per invocation each) for a row of `width` floats. */
const groups = (width: number) => Math.ceil(width / BLOCK);

/** The widest rows the programs take: 4 column groups. */
const MAX_GROUPS = 4;

/** Rows of C staged at a time: tileC holds 256 vec4s whatever the width. */
const stagedRows = (G: number) => (G === 1 ? 16 : G === 2 ? 8 : 4);

/** Bytes of workgroup memory every program uses: tileA, tileB, weights, tileC (vec4s) and three rows of stats. */
export const TILE_BYTES = 16 * (2 * 256 + BLOCK * 16 + 256) + 4 * 3 * BLOCK;

/** Whether the programs take key width D and value width Dv on a device with this much workgroup memory. */
export function tilesFit(D: number, Dv: number, maxWorkgroupStorage: number): boolean {
  return groups(Math.max(D, Dv)) <= MAX_GROUPS && TILE_BYTES <= maxWorkgroupStorage;
}

/**
 * The frame of ./attention-frame.ts (`lane`, `base`, `lid`, `laneValid`, `T`, `scale`, `rowAt`) with 256 invocations
 * as 16 × 16 (`tx`, `ty`) and the workgroup arrays; `carried` is the width of the rows the weights multiply (tileC).
 */
function program(
  name: string,
  variableNames: string[],
  outputShape: number[],
  sizes: AttentionSizes,
  carried: number,
  body: string,
): WgslProgram {
  const G = groups(carried);
  return attentionProgram({
    name: `tiles_${name}`,
    variableNames,
    outputShape,
    sizes,
    workgroupSize: WORKGROUP,
    declarations: `const G : i32 = ${G};
      const CROWS : i32 = ${stagedRows(G)};
      var<workgroup> tileA : array<vec4<f32>, 256>;
      var<workgroup> tileB : array<vec4<f32>, 256>;
      var<workgroup> weights : array<vec4<f32>, ${BLOCK * 16}>;
      var<workgroup> tileC : array<vec4<f32>, ${stagedRows(G) * 16 * G}>;
      var<workgroup> rowM : array<f32, ${BLOCK}>;
      var<workgroup> rowL : array<f32, ${BLOCK}>;
      var<workgroup> rowD : array<f32, ${BLOCK}>;`,
    body: `let tx = lid % 16;
        let ty = lid / 16;
        ${body}`,
  });
}

/**
 * WGSL: `out` (4 vec4s) = the score tile Σ_d a[aBase + 4ty + i][d] b[bBase + 4tx + j][d] over d < width, where
 * `active` holds (zeros elsewhere). Rows past T read as zeros. `out` is zeroed by its initializer: declared inside a
 * loop without one, it kept the last iteration's values on lavapipe.
 */
function scoreTile(out: string, a: string, aBase: string, b: string, bBase: string, width: string, active: string): string {
  // Staging: invocation lid loads 4 consecutive depths (q = lid % 4) of row lid / 4 of each operand.
  const load = (tile: string, x: string, xBase: string) => `{
            let r = lid / 4;
            let t = ${xBase} + r;
            for (var c = 0; c < 4; c++) {
              let d = d0 + 4 * (lid % 4) + c;
              var v = 0.0;
              if (t < T && d < ${width}) { v = ${x}[rowAt(lane, t, T) * ${width} + d]; }
              ${tile}[(4 * (lid % 4) + c) * 16 + r / 4][r % 4] = v;
            }
          }`;
  return `var ${out} = array<vec4<f32>, 4>();
        for (var d0 = 0; d0 < ${width}; d0 += 16) {
          if (laneValid && ${active}) {
            ${load("tileA", a, aBase)}
            ${load("tileB", b, bBase)}
          }
          workgroupBarrier();
          if (laneValid && ${active}) {
            for (var d = 0; d < 16; d++) {
              let x = tileA[d * 16 + ty];
              let y = tileB[d * 16 + tx];
              ${out}[0] += x[0] * y;
              ${out}[1] += x[1] * y;
              ${out}[2] += x[2] * y;
              ${out}[3] += x[3] * y;
            }
          }
          workgroupBarrier();
        }`;
}

/**
 * WGSL: acc[i·G + g] += Σ_k weights[row 4ty + i][k] c[cBase + k][4(tx + 16g) + 0…3] over the block's 64 columns k,
 * c's rows staged CROWS at a time (16, 8 or 4 for 1, 2 or 3–4 column groups). The caller wrote `weights` before; the
 * first barrier here publishes it.
 */
function weightedRows(acc: string, c: string, cBase: string, width: string, active: string): string {
  return `for (var k0 = 0; k0 < ${BLOCK}; k0 += CROWS) {
          if (laneValid && ${active}) {
            for (var e = lid; e < CROWS * 64 * G; e += ${WORKGROUP}) {
              let k = e / (64 * G);
              let col = e % (64 * G);
              let t = ${cBase} + k0 + k;
              var v = 0.0;
              if (t < T && col < ${width}) { v = ${c}[rowAt(lane, t, T) * ${width} + col]; }
              tileC[k * 16 * G + col / 4][col % 4] = v;
            }
          }
          workgroupBarrier();
          if (laneValid && ${active}) {
            for (var k = 0; k < CROWS; k++) {
              let p = weights[(k0 + k) * 16 + ty];
              for (var g = 0; g < G; g++) {
                let y = tileC[k * 16 * G + tx + 16 * g];
                ${acc}[g] += p[0] * y;
                ${acc}[G + g] += p[1] * y;
                ${acc}[2 * G + g] += p[2] * y;
                ${acc}[3 * G + g] += p[3] * y;
              }
            }
          }
          workgroupBarrier();
        }`;
}

/** WGSL: the accumulated rows (acc as weightedRows leaves it) × `factor` into result, rows base + 4ty + i. */
function writeRows(acc: string, width: string, factor: string): string {
  return `if (laneValid) {
          for (var i = 0; i < 4; i++) {
            let t = base + 4 * ty + i;
            if (t < T) {
              for (var g = 0; g < G; g++) {
                for (var j = 0; j < 4; j++) {
                  let col = 4 * (tx + 16 * g) + j;
                  if (col < ${width}) { result[rowAt(lane, t, T) * ${width} + col] = ${acc}[i * G + g][j] * ${factor}; }
                }
              }
            }
          }
        }`;
}

/**
 * WGSL: the softmax statistics of the block's query rows over keys s ≤ t, merged into rowM and rowL (for the 64
 * rows; rows past T get m = −3e38, l = 0).
 */
const ROW_STATISTICS = `
        var m = vec4<f32>(-3.0e38);
        var l = vec4<f32>(0.0);
        for (var kb = 0; kb < T; kb += ${BLOCK}) {
          let inBlock = kb <= base;
          ${scoreTile("s", "query", "base", "key", "kb", "DK", "inBlock")}
          if (laneValid && inBlock) {
            for (var i = 0; i < 4; i++) {
              let t = base + 4 * ty + i;
              var x = vec4<f32>(-3.0e38);
              for (var j = 0; j < 4; j++) {
                if (kb + 4 * tx + j <= t && t < T) { x[j] = s[i][j] * scale; }
              }
              let top = max(max(x[0], x[1]), max(x[2], x[3]));
              if (top > -1.0e38) {
                let mNew = max(m[i], top);
                l[i] = l[i] * exp(m[i] - mNew) + dot(exp(x - vec4<f32>(mNew)), vec4<f32>(1.0));
                m[i] = mNew;
              }
            }
          }
        }
        // Merge the 16 partial (m, l) of each row: staged in weights[row · 16 + tx].
        for (var i = 0; i < 4; i++) { weights[(4 * ty + i) * 16 + tx] = vec4<f32>(m[i], l[i], 0.0, 0.0); }
        workgroupBarrier();
        if (lid < ${BLOCK}) {
          var top = -3.0e38;
          for (var x = 0; x < 16; x++) { top = max(top, weights[lid * 16 + x][0]); }
          var sum = 0.0;
          for (var x = 0; x < 16; x++) {
            let part = weights[lid * 16 + x];
            sum += part[1] * exp(part[0] - top);
          }
          rowM[lid] = top;
          rowL[lid] = sum;
        }
        workgroupBarrier();`;

/** Forward: the block's statistics, then o_t = Σ_s p_ts v_s block by block. */
export function forwardTilesProgram(s: AttentionSizes): WgslProgram {
  return program(
    "forward",
    ["query", "key", "value"],
    layoutShape(s.B, s.T, s.Dv, s.layout),
    s,
    s.Dv,
    `${ROW_STATISTICS}
        var acc : array<vec4<f32>, ${4 * groups(s.Dv)}>;
        for (var kb = 0; kb < T; kb += ${BLOCK}) {
          let inBlock = kb <= base;
          ${scoreTile("s", "query", "base", "key", "kb", "DK", "inBlock")}
          if (laneValid && inBlock) {
            for (var j = 0; j < 4; j++) {
              var p = vec4<f32>(0.0);
              for (var i = 0; i < 4; i++) {
                let t = base + 4 * ty + i;
                if (kb + 4 * tx + j <= t && t < T) { p[i] = exp(s[i][j] * scale - rowM[4 * ty + i]) / rowL[4 * ty + i]; }
              }
              weights[(4 * tx + j) * 16 + ty] = p;
            }
          }
          ${weightedRows("acc", "value", "kb", "DV", "inBlock")}
        }
        ${writeRows("acc", "DV", "1.0")}`,
  );
}

/** Per query row t: [m_t, l_t, D_t] (D_t = do_t·o_t), as the row programs' stats. */
export function statsTilesProgram(s: AttentionSizes): WgslProgram {
  return program(
    "stats",
    ["query", "key", "output", "dy"],
    [s.lanes, s.T, 3],
    s,
    s.Dv,
    `${ROW_STATISTICS}
        let t = base + lid;
        if (laneValid && lid < ${BLOCK} && t < T) {
          let at = rowAt(lane, t, T) * DV;
          var outputDotDy = 0.0;
          for (var c = 0; c < DV; c++) { outputDotDy += output[at + c] * dy[at + c]; }
          let statAt = (lane * T + t) * 3;
          result[statAt] = rowM[lid];
          result[statAt + 1] = rowL[lid];
          result[statAt + 2] = outputDotDy;
        }`,
  );
}

/** WGSL: rowM, rowL, rowD ← the stats of rows first … first + 63 (then a barrier). */
const loadStats = (first: string) => `if (laneValid && lid < ${BLOCK} && ${first} + lid < T) {
            let statAt = (lane * T + ${first} + lid) * 3;
            rowM[lid] = stats[statAt];
            rowL[lid] = stats[statAt + 1];
            rowD[lid] = stats[statAt + 2];
          }`;

/** dq_t = scale Σ_{s≤t} p_ts (do_t·v_s − D_t) k_s, one block of query rows per workgroup. */
export function queryGradientTilesProgram(s: AttentionSizes): WgslProgram {
  return program(
    "dq",
    ["query", "key", "value", "dy", "stats"],
    layoutShape(s.B, s.T, s.D, s.layout),
    s,
    s.D,
    `${loadStats("base")}
        workgroupBarrier();
        var acc : array<vec4<f32>, ${4 * groups(s.D)}>;
        for (var kb = 0; kb < T; kb += ${BLOCK}) {
          let inBlock = kb <= base;
          ${scoreTile("s", "query", "base", "key", "kb", "DK", "inBlock")}
          ${scoreTile("dp", "dy", "base", "value", "kb", "DV", "inBlock")}
          if (laneValid && inBlock) {
            for (var j = 0; j < 4; j++) {
              var ds = vec4<f32>(0.0);
              for (var i = 0; i < 4; i++) {
                let r = 4 * ty + i;
                let t = base + r;
                if (kb + 4 * tx + j <= t && t < T) {
                  ds[i] = exp(s[i][j] * scale - rowM[r]) / rowL[r] * (dp[i][j] - rowD[r]);
                }
              }
              weights[(4 * tx + j) * 16 + ty] = ds;
            }
          }
          ${weightedRows("acc", "key", "kb", "DK", "inBlock")}
        }
        ${writeRows("acc", "DK", "scale")}`,
  );
}

/**
 * One block of key rows s per workgroup, over the query blocks at or after it (their stats staged per block):
 * dk_s = scale Σ_{t≥s} p_ts (do_t·v_s − D_t) q_t, or dv_s = Σ_{t≥s} p_ts do_t.
 */
export function keyValueGradientTilesProgram(which: "dk" | "dv", s: AttentionSizes): WgslProgram {
  const width = which === "dk" ? s.D : s.Dv;
  return program(
    which,
    keyValueInputs(which),
    layoutShape(s.B, s.T, width, s.layout),
    s,
    width,
    `var acc : array<vec4<f32>, ${4 * groups(width)}>;
        for (var qb = 0; qb < T; qb += ${BLOCK}) {
          let inBlock = qb >= base;
          // The previous block's last barrier is behind every read of rowM/rowL/rowD.
          ${loadStats("qb")}
          ${scoreTile("s", "key", "base", "query", "qb", "DK", "inBlock")}
          ${which === "dk" ? scoreTile("dp", "value", "base", "dy", "qb", "DV", "inBlock") : ""}
          if (laneValid && inBlock) {
            for (var j = 0; j < 4; j++) {
              let q = 4 * tx + j;
              let t = qb + q;
              var w = vec4<f32>(0.0);
              for (var i = 0; i < 4; i++) {
                if (t >= base + 4 * ty + i && t < T) {
                  let p = exp(s[i][j] * scale - rowM[q]) / rowL[q];
                  w[i] = ${which === "dk" ? "p * (dp[i][j] - rowD[q])" : "p"};
                }
              }
              weights[q * 16 + ty] = w;
            }
          }
          ${weightedRows("acc", which === "dk" ? "query" : "dy", "qb", which === "dk" ? "DK" : "DV", "inBlock")}
        }
        ${writeRows("acc", which === "dk" ? "DK" : "DV", which === "dk" ? "scale" : "1.0")}`,
  );
}
