// The decayed linear scan without state (S_0 = 0, readouts only; docs/spec/MODELS.md §6.1) as WGSL programs that
// split each state slice over G invocations. ./scan-webgpu.ts gives one invocation a whole row or column of a lane's
// d_k × d_v state: 8,192–16,384 invocations at the paper's GLA shape, one warp per scheduler, so every step of the
// time loop waits on its loads (62 ms of a 200 ms H200 step). Here G consecutive invocations share the row or column,
// each holding W = n/G of its entries, and add their partial dot products in workgroup memory at every step: G times
// the invocations and 1/G of the serial work each. Same maths and formulas as ./scan-webgpu.ts (the oracle beside
// it is ./fused.ts through scan-kernel.ts's cpu kernels); sums are added in another order.
//
// Layout: every tensor is [B, H, T, ·] (lane-major), or [B, T, H, ·] (time-major: what a projection reshaped into
// heads gives, so a layer needs no transposes around the scan) when the program is made with `timeMajor`; only the
// row of a (lane, t) pair differs (rowFunction).
import { FLAT_WORKGROUP } from "../../kernel-registration.js";
import type { WgslProgram } from "./scan-webgpu.js";

const WORKGROUP = 256;

/**
 * How the programs read their inputs: time-major or lane-major rows (a lane is b·H + h, `heads` = H); query and key
 * with one head shared by every head ([B, T, 1, d_k] or [B, 1, T, d_k]: Mamba2's C and B, read in place rather than
 * broadcast); a scalar decay (log α [B, T, H] or [B, H, T]: one α per lane and step rather than per key channel).
 */
export interface ScanLayout {
  readonly timeMajor: boolean;
  readonly heads: number;
  readonly sharedQueryKey?: boolean;
  readonly scalarDecay?: boolean;
}

export const LANE_MAJOR: ScanLayout = { timeMajor: false, heads: 1 };

/**
 * WGSL `row(lane, t, T)`: the row of step t of a lane in a [B, H, T, ·] or [B, T, H, ·] tensor (and the index of its
 * scalar log α); `qkRow(lane, t, T)`: the row of the lane's query and key (the same row unless they are shared).
 */
export function rowFunction(layout: ScanLayout): string {
  const H = layout.heads;
  const row = layout.timeMajor
    ? `fn row(lane : i32, t : i32, T : i32) -> i32 { return ((lane / ${H}) * T + t) * ${H} + lane % ${H}; }`
    : "fn row(lane : i32, t : i32, T : i32) -> i32 { return lane * T + t; }";
  // A shared head has one row per (batch, step) in either layout.
  const qkRow = layout.sharedQueryKey
    ? `fn qkRow(lane : i32, t : i32, T : i32) -> i32 { return (lane / ${H}) * T + t; }`
    : "fn qkRow(lane : i32, t : i32, T : i32) -> i32 { return row(lane, t, T); }";
  return `${row}\n${qkRow}`;
}

/** The shader-key suffix of a layout (the head count and the input forms are baked into the code). */
export function layoutKey(layout: ScanLayout): string {
  return `${layout.timeMajor ? `_tm${layout.heads}` : ""}${layout.sharedQueryKey ? `_qk1of${layout.heads}` : ""}${layout.scalarDecay ? "_scalar" : ""}`;
}

/**
 * WGSL for the decay of key channel `channel` at step t: with a scalar decay `step` (run once per step) defines `a`
 * and every channel reads it; with a diagonal one each channel exponentiates its own log α (row base `at`).
 */
function decayOf(layout: ScanLayout) {
  return layout.scalarDecay
    ? { step: "let a = exp(logAlpha[row(lane, t, T)]);", channel: (_: string) => "a" }
    : { step: "", channel: (index: string) => `exp(logAlpha[${index}])` };
}

/** Invocations per row or column of n entries: 4, 2 or 1, each holding at least 2 entries. */
export function splitCount(n: number): number {
  if (n % 4 === 0 && n >= 8) return 4;
  if (n % 2 === 0 && n >= 4) return 2;
  return 1;
}

/**
 * WGSL declaring, for a program whose G consecutive invocations share one row or column (G a constant dividing the
 * workgroup size): lid, g (this invocation's share), valid, lane and o (the lane's row or column index, of `outer`).
 */
export function splitInvocation(workgroup: number, outer: "DK" | "DV"): string {
  return `
        let lid = i32(localIndex);
        let flat = ${FLAT_WORKGROUP} * ${workgroup} + lid;
        let g = flat % G;
        // Invocations past the end still take part in every barrier.
        let valid = flat / G < uniforms.lanes * ${outer};
        let lane = (flat / G) / ${outer};
        let o = (flat / G) % ${outer};`;
}

interface SplitScan {
  readonly name: string;
  readonly variableNames: string[];
  readonly outputShape: number[];
  /** Size of the per-invocation dimension (d_v or d_k) and of the split one (d_k or d_v). */
  readonly outer: "DK" | "DV";
  readonly inner: "DK" | "DV";
  readonly reverse: boolean;
  /** WGSL run once per time step by every valid invocation; lane, t and o (its outer index) are defined. */
  readonly step: string;
  /** WGSL for one held entry u (inner index k = g·W + u): updates st[u] and adds to acc. */
  readonly entry: string;
  /** WGSL f32 expression written at result[out] with `total` the step's sum. */
  readonly out: string;
}

function splitProgram(s: SplitScan, B: number, H: number, dk: number, dv: number, layout: ScanLayout): WgslProgram {
  const sizes = { DK: dk, DV: dv };
  const G = splitCount(sizes[s.inner]);
  const W = sizes[s.inner] / G;
  const invocations = B * H * sizes[s.outer] * G;
  return {
    variableNames: s.variableNames,
    outputShape: s.outputShape,
    // d_k and d_v (hence G and W) are baked into the code: they must be in the key.
    shaderKey: `selectiv_${s.name}_dk${dk}_dv${dv}_split${layoutKey(layout)}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "lanes : i32, steps : i32,",
    getUserCode: () => `
      const DK : i32 = ${dk};
      const DV : i32 = ${dv};
      const G : i32 = ${G};
      const W : i32 = ${W};
      var<workgroup> partial : array<f32, ${WORKGROUP}>;
      ${rowFunction(layout)}
      fn main(index : i32) {
        let T = uniforms.steps;
        ${splitInvocation(WORKGROUP, s.outer)}
        var st : array<f32, ${W}>;
        for (var u = 0; u < W; u++) { st[u] = 0.0; }
        for (var n = 0; n < T; n++) {
          let t = ${s.reverse ? "T - 1 - n" : "n"};
          var acc = 0.0;
          if (valid) {
            ${s.step}
            for (var u = 0; u < W; u++) {
              let k = g * W + u;
              ${s.entry}
            }
          }
          partial[lid] = acc;
          workgroupBarrier();
          if (valid && g == 0) {
            var total = 0.0;
            for (var v = 0; v < G; v++) { total += partial[lid + v]; }
            ${s.out}
          }
          workgroupBarrier();
        }
      }
    `,
  };
}

/** Forward: S_t[:, j] = α_t ⊙ S_{t−1}[:, j] + k_t v_t[j];  o_t[j] = q_t · S_t[:, j]. Output [B, H, T, d_v]. */
export function splitForwardProgram(B: number, H: number, T: number, dk: number, dv: number, layout: ScanLayout = LANE_MAJOR): WgslProgram {
  const decay = decayOf(layout);
  return splitProgram(
    {
      name: "scan_forward",
      variableNames: ["query", "key", "value", "logAlpha"],
      outputShape: layout.timeMajor ? [B, T, H, dv] : [B, H, T, dv],
      outer: "DV",
      inner: "DK",
      reverse: false,
      step: `let at = row(lane, t, T) * DK; let qk = qkRow(lane, t, T) * DK; let vt = value[row(lane, t, T) * DV + o]; ${decay.step}`,
      entry: `let s = ${decay.channel("at + k")} * st[u] + key[qk + k] * vt; st[u] = s; acc += s * query[qk + k];`,
      out: "result[row(lane, t, T) * DV + o] = total;",
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/** dq_t[i] = S_t[i, :] · do_t, S rebuilt forward row by row. Output [B, H, T, d_k]. */
export function splitQueryGradientProgram(
  B: number,
  H: number,
  T: number,
  dk: number,
  dv: number,
  layout: ScanLayout = LANE_MAJOR,
): WgslProgram {
  const decay = decayOf(layout);
  return splitProgram(
    {
      name: "scan_dq",
      variableNames: ["key", "value", "logAlpha", "outputGradient"],
      outputShape: layout.timeMajor ? [B, T, H, dk] : [B, H, T, dk],
      outer: "DK",
      inner: "DV",
      reverse: false,
      step: `let at = row(lane, t, T) * DK + o; ${decay.step} let ai = ${decay.channel("at")}; let ki = key[qkRow(lane, t, T) * DK + o]; let vt = row(lane, t, T) * DV;`,
      entry: "let s = ai * st[u] + ki * value[vt + k]; st[u] = s; acc += s * outputGradient[vt + k];",
      out: "result[row(lane, t, T) * DK + o] = total;",
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/** dS_t[i, :] = α_{t+1,i} dS_{t+1}[i, :] + q_t[i] do_t (from dS_T = 0);  dk_t[i] = dS_t[i, :] · v_t. Output [B, H, T, d_k]. */
export function splitKeyGradientProgram(
  B: number,
  H: number,
  T: number,
  dk: number,
  dv: number,
  layout: ScanLayout = LANE_MAJOR,
): WgslProgram {
  const decay = decayOf(layout);
  return splitProgram(
    {
      name: "scan_dk",
      variableNames: ["query", "value", "logAlpha", "outputGradient"],
      outputShape: layout.timeMajor ? [B, T, H, dk] : [B, H, T, dk],
      outer: "DK",
      inner: "DV",
      reverse: true,
      step: `let at = row(lane, t, T) * DK + o; let qi = query[qkRow(lane, t, T) * DK + o]; ${decay.step} let ai = ${decay.channel("at")}; let vt = row(lane, t, T) * DV;`,
      entry: "let d = st[u] + qi * outputGradient[vt + k]; acc += d * value[vt + k]; st[u] = ai * d;",
      out: "result[row(lane, t, T) * DK + o] = total;",
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/** dS_t[:, j] as above, by column;  dv_t[j] = k_t · dS_t[:, j]. Output [B, H, T, d_v]. */
export function splitValueGradientProgram(
  B: number,
  H: number,
  T: number,
  dk: number,
  dv: number,
  layout: ScanLayout = LANE_MAJOR,
): WgslProgram {
  const decay = decayOf(layout);
  return splitProgram(
    {
      name: "scan_dv",
      variableNames: ["query", "key", "logAlpha", "outputGradient"],
      outputShape: layout.timeMajor ? [B, T, H, dv] : [B, H, T, dv],
      outer: "DV",
      inner: "DK",
      reverse: true,
      step: `let at = row(lane, t, T) * DK; let qk = qkRow(lane, t, T) * DK; let gj = outputGradient[row(lane, t, T) * DV + o]; ${decay.step}`,
      entry: `let d = st[u] + query[qk + k] * gj; acc += d * key[qk + k]; st[u] = ${decay.channel("at + k")} * d;`,
      out: "result[row(lane, t, T) * DV + o] = total;",
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/** Invocations per lane of scalarDecayGradientProgram, each taking one block of consecutive steps. */
const DECAY_BLOCKS = 64;

/**
 * A scalar decay's gradient (log α_t one per lane and step): d log α_t = Σ_{u≥t} Σ_i (q_u[i] dq_u[i] − k_u[i] dk_u[i]),
 * the diagonal identity (./scan-webgpu.ts, decayGradientProgram) summed over the key channels, with dq and dk per
 * lane. One workgroup per lane; each of its DECAY_BLOCKS invocations sums the steps of one block of time, writing
 * every step's term, the blocks' totals meet in workgroup memory, and each invocation then turns its block into
 * suffix sums. Output [B, T, H] (time-major) or [B, H, T].
 */
export function scalarDecayGradientProgram(B: number, H: number, T: number, dk: number, layout: ScanLayout): WgslProgram {
  return {
    variableNames: ["query", "key", "queryGradient", "keyGradient"],
    outputShape: layout.timeMajor ? [B, T, H] : [B, H, T],
    // d_k is baked into the code: it must be in the key.
    shaderKey: `selectiv_scan_dlogalpha_scalar_dk${dk}${layoutKey(layout)}`,
    dispatchLayout: { x: [0] },
    dispatch: [B * H, 1, 1],
    workgroupSize: [DECAY_BLOCKS, 1, 1],
    uniforms: "lanes : i32, steps : i32,",
    getUserCode: () => `
      const DK : i32 = ${dk};
      var<workgroup> totals : array<f32, ${DECAY_BLOCKS}>;
      ${rowFunction(layout)}
      fn main(index : i32) {
        let T = uniforms.steps;
        let lane = ${FLAT_WORKGROUP};
        let lid = i32(localIndex);
        let valid = lane < uniforms.lanes;
        let per = (T + ${DECAY_BLOCKS - 1}) / ${DECAY_BLOCKS};
        let start = lid * per;
        let end = min(T, start + per);
        var total = 0.0;
        if (valid) {
          for (var t = start; t < end; t++) {
            let at = row(lane, t, T) * DK;
            let qk = qkRow(lane, t, T) * DK;
            var term = 0.0;
            for (var i = 0; i < DK; i++) { term += query[qk + i] * queryGradient[at + i] - key[qk + i] * keyGradient[at + i]; }
            result[row(lane, t, T)] = term;
            total += term;
          }
        }
        totals[lid] = total;
        workgroupBarrier();
        if (valid) {
          var acc = 0.0;
          for (var l = lid + 1; l < ${DECAY_BLOCKS}; l++) { acc += totals[l]; }
          for (var t = end - 1; t >= start; t--) {
            acc += result[row(lane, t, T)];
            result[row(lane, t, T)] = acc;
          }
        }
      }
    `,
  };
}
