// WGSL programs of the (gated) delta rule (docs/spec/MODELS.md §6.2), run by the webgpu backend's runWebGPUProgram.
// Every tensor is per lane (batch × head) and contiguous; log α is one scalar per step ([B, H, T]; zeros for
// DeltaNet). d_k and d_v size private arrays, so they are baked into the shader and its key; B·H and T are uniforms.
//
// Why columns: the transition α_t (I − β_t k_t k_tᵀ) acts on every column of S alike, so with S′ = α_t S_{t−1},
// p_t = S′ᵀk_t (the prediction), r_t = v_t − p_t (the residual) and e_t = β_t r_t, column j evolves alone:
//   S_t[:, j] = S′[:, j] + k_t e_t[j],   o_t[j] = q_t · S_t[:, j],
// and its adjoint too (dS carries ∂L/∂S_t, the readout's share q_t do_tᵀ added first):
//   de_t = dS_tᵀ k_t;  dv_t = β_t de_t;  dp_t = −dv_t;  dβ_t = Σ_j de_t[j] r_t[j];  dS_{t−1} = α_t (dS_t + k_t dp_tᵀ).
// Once e and dp are known, the rows decouple instead (S_t[i, :] = S′[i, :] + k_t[i] e_t, a decayed linear scan with
// values e_t): one invocation per (lane, key row i) then rebuilds S[i, :] forward for dq_t = S_t do_t and
// S′ dp_t, and carries dS[i, :] backward for dS_t e_t, with dk_t = dS_t e_t + S′ dp_t.
//
// The decay's gradient, without S_{t−1} in the column adjoint: with b_t = Σ_{s≤t} log α_s, S_t = e^{b_t} Ŝ_t, the
// loss depends on b_t through the readout (o_t · do_t), the write (−k_t · dS_t e_t = −e_t · de_t), the prediction
// (p_t · dp_t) and, at t = T, the final state (⟨∂L/∂S_T, S_T⟩). Since p·dp − e·de = −β de·(p + r) = −v·dv:
//   ∂L/∂b_t = Σ_j (o_t[j] do_t[j] − v_t[j] dv_t[j]) (+ ⟨∂L/∂S_T, S_T⟩ at t = T),   d log α_t = Σ_{u≥t} ∂L/∂b_u,
// the same identity as the linear scan's (§6.1) with values and their gradients. No division by α or β.
//
// Parallelism: G = 1, 2 or 4 consecutive invocations share each column or row (../linear/scan-webgpu-split.ts's
// splitCount), each holding W = n/G of its entries; the dot products of a step are added in workgroup memory, and
// every sharer reads the G partial sums, so the residual (or the adjoint's de) reaches all of them without another
// barrier. One invocation per column left one warp per scheduler waiting on loads at the paper's shapes.
//
// Layout: lane-major with state (the default: inputs [B, H, T, ·], S_0 in, the final state out, each lane's outputs
// packed together) or time-major without state (training's form: inputs [B, T, H, ·] as projections reshaped into
// heads give them, S_0 = 0, no final state, and each output a contiguous [B, T, H, ·] block of the packed tensor, so
// a slice and a reshape give it with no transposes). Only the addresses differ (`addressing`).
//
// Memory: no state is stored. The forward output keeps r (T·d_v per lane) for the backward; the backward's
// scratch holds dv, e and the two per-column shares of dβ and ∂L/∂b (4·T·d_v per lane). Cost: 3 scans of
// T·d_k·d_v (1 forward, 2 backward: the column adjoint and the row pass, which scans twice) and a reduction.

import { FLAT_WORKGROUP } from "../../kernel-registration.js";
import { LANE_MAJOR, type ScanLayout, layoutKey, rowFunction, splitCount, splitInvocation } from "../linear/scan-webgpu-split.js";
import type { WgslProgram } from "../linear/scan-webgpu.js";

const WORKGROUP = 256;
/** The reduction's workgroup: one per lane. */
const REDUCE_WORKGROUP = 64;

/** Per lane: the readouts o (T·d_v), the final state (d_k·d_v), the residuals r = v − p (T·d_v). */
export function forwardWidth(T: number, dk: number, dv: number): number {
  return 2 * T * dv + dk * dv;
}

/** Per lane: dq, dk (each T·d_k), dv (T·d_v), dβ, d log α (each T), ∂L/∂S_0 (d_k·d_v), in that order. */
export function gradientWidth(T: number, dk: number, dv: number): number {
  return 2 * T * dk + T * dv + 2 * T + dk * dv;
}

/** Per lane, the backward's scratch: dv, e, de·r (dβ's shares), o·do − v·dv (∂L/∂b's shares), each T·d_v. */
export function scratchWidth(T: number, dv: number): number {
  return 4 * T * dv;
}

/** Time-major, whole tensor: the readouts, then the residuals, each [B, T, H, d_v]. */
export function forwardSizeByTime(B: number, H: number, T: number, dv: number): number {
  return 2 * B * H * T * dv;
}

/** Time-major, whole tensor: dq, dk [B, T, H, d_k], dv [B, T, H, d_v], dβ, d log α [B, T, H], in that order. */
export function gradientSizeByTime(B: number, H: number, T: number, dk: number, dv: number): number {
  return B * H * T * (2 * dk + dv + 2);
}

/**
 * WGSL: where each per-step output of a lane lives (see the header's Layout). Lane-major packs a lane's outputs
 * together (forward: readouts, final state, residuals; gradient: dq, dk, dv, dβ, d log α, ∂L/∂S_0); time-major
 * gives each output its own [B, T, H, ·] block.
 */
function addressing(layout: ScanLayout): string {
  const byTime = layout.timeMajor;
  const fw = "lane * (2 * T * DV + DK * DV)";
  const gw = "lane * (2 * T * DK + T * DV + 2 * T + DK * DV)";
  const n = "uniforms.lanes * T";
  return `
      ${rowFunction(layout)}
      fn readoutAt(lane : i32, t : i32, T : i32) -> i32 { return ${byTime ? "row(lane, t, T) * DV" : `${fw} + t * DV`}; }
      fn residualAt(lane : i32, t : i32, T : i32) -> i32 {
        return ${byTime ? `${n} * DV + row(lane, t, T) * DV` : `${fw} + T * DV + DK * DV + t * DV`};
      }
      fn finalAt(lane : i32, T : i32) -> i32 { return ${fw} + T * DV; }
      fn dqAt(lane : i32, t : i32, T : i32) -> i32 { return ${byTime ? "row(lane, t, T) * DK" : `${gw} + t * DK`}; }
      fn dkAt(lane : i32, t : i32, T : i32) -> i32 { return ${byTime ? `${n} * DK + row(lane, t, T) * DK` : `${gw} + T * DK + t * DK`}; }
      fn dvAt(lane : i32, t : i32, T : i32) -> i32 {
        return ${byTime ? `2 * ${n} * DK + row(lane, t, T) * DV` : `${gw} + 2 * T * DK + t * DV`};
      }
      fn dBetaAt(lane : i32, t : i32, T : i32) -> i32 {
        return ${byTime ? `${n} * (2 * DK + DV) + row(lane, t, T)` : `${gw} + 2 * T * DK + T * DV + t`};
      }
      fn dLogAlphaAt(lane : i32, t : i32, T : i32) -> i32 {
        return ${byTime ? `${n} * (2 * DK + DV + 1) + row(lane, t, T)` : `${gw} + 2 * T * DK + T * DV + T + t`};
      }
      fn initialGradientAt(lane : i32, T : i32) -> i32 { return ${gw} + 2 * T * DK + T * DV + 2 * T; }`;
}

interface SplitProgram {
  readonly name: string;
  readonly variableNames: string[];
  readonly outputShape: number[];
  /** One group of G invocations per (lane, outer index o); each holds W entries of the inner dimension. */
  readonly outer: "DK" | "DV";
  readonly inner: "DK" | "DV";
  /** Partial sums per invocation and step (the `partial` slots P·lid … P·lid + P − 1). */
  readonly partials: number;
  /** WGSL of main's body; lane, o, g, valid, lid, W, G and the widths are defined; sum(c) adds slot c of the group. */
  readonly body: string;
}

function splitProgram(s: SplitProgram, B: number, H: number, dk: number, dv: number, layout: ScanLayout): WgslProgram {
  const sizes = { DK: dk, DV: dv };
  const G = splitCount(sizes[s.inner]);
  const W = sizes[s.inner] / G;
  const P = s.partials;
  const invocations = B * H * sizes[s.outer] * G;
  return {
    variableNames: s.variableNames,
    outputShape: s.outputShape,
    // d_k and d_v (hence G and W) and a time-major layout's head count are baked into the code: they must be in the key.
    shaderKey: `selectiv_${s.name}_dk${dk}_dv${dv}${layoutKey(layout)}_split`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "lanes : i32, steps : i32,",
    getUserCode: () => `
      const DK : i32 = ${dk};
      const DV : i32 = ${dv};
      const G : i32 = ${G};
      const W : i32 = ${W};
      const P : i32 = ${P};
      var<workgroup> partial : array<f32, ${P * WORKGROUP}>;
      ${addressing(layout)}
      fn main(index : i32) {
        let T = uniforms.steps;
        let scratchWidth = 4 * T * DV;
        ${splitInvocation(WORKGROUP, s.outer)}
        // The group's first slot: its G invocations are consecutive in one workgroup (${WORKGROUP} % G = 0).
        let first = (lid - g) * P;
        ${s.body}
      }
      fn sum(first : i32, c : i32) -> f32 {
        var total = 0.0;
        for (var v = 0; v < G; v++) { total += partial[first + v * P + c]; }
        return total;
      }
    `,
  };
}

/** The inputs' names: without state (time-major) the programs take no S_0. */
const withState = (layout: ScanLayout, names: string[]) => (layout.timeMajor ? names.filter((n) => n !== "initialState") : names);

/**
 * Forward: per (lane, value column j = o) and time step, with S′ = α_t S:
 *   p = k_t · S′;  r = v_t[j] − p;  e = β_t r;  S = S′ + k_t e;  o_t[j] = q_t · S = q_t · S′ + (q_t · k_t) e,
 * the three dot products summed over the group. Output, lane-major: [B, H, 2·T·d_v + d_k·d_v] (readouts, final
 * state — the fused kernel's layout — then the residuals r); time-major: [2·B·T·H·d_v] (readouts, residuals).
 */
export function forwardProgram(B: number, H: number, T: number, dk: number, dv: number, layout: ScanLayout = LANE_MAJOR): WgslProgram {
  const stateful = !layout.timeMajor;
  return splitProgram(
    {
      name: "delta_forward",
      variableNames: withState(layout, ["query", "key", "value", "beta", "logAlpha", "initialState"]),
      outputShape: stateful ? [B, H, forwardWidth(T, dk, dv)] : [forwardSizeByTime(B, H, T, dv)],
      outer: "DV",
      inner: "DK",
      partials: 3,
      body: `
        var s : array<f32, ${dk / splitCount(dk)}>;
        ${stateful ? "if (valid) { for (var u = 0; u < W; u++) { s[u] = initialState[(lane * DK + g * W + u) * DV + o]; } }" : ""}
        for (var t = 0; t < T; t++) {
          let stepIndex = row(lane, t, T);
          let kt = stepIndex * DK + g * W;
          var p = 0.0;
          var qs = 0.0;
          var qk = 0.0;
          if (valid) {
            let a = exp(logAlpha[stepIndex]);
            for (var u = 0; u < W; u++) {
              let si = a * s[u];
              s[u] = si;
              let ku = key[kt + u];
              let qu = query[kt + u];
              p += ku * si;
              qs += qu * si;
              qk += qu * ku;
            }
          }
          partial[lid * P] = p;
          partial[lid * P + 1] = qs;
          partial[lid * P + 2] = qk;
          workgroupBarrier();
          if (valid) {
            let r = value[stepIndex * DV + o] - sum(first, 0);
            let e = beta[stepIndex] * r;
            for (var u = 0; u < W; u++) { s[u] += key[kt + u] * e; }
            if (g == 0) {
              result[readoutAt(lane, t, T) + o] = sum(first, 1) + sum(first, 2) * e;
              result[residualAt(lane, t, T) + o] = r;
            }
          }
          workgroupBarrier();
        }
        ${stateful ? "if (valid) { for (var u = 0; u < W; u++) { result[finalAt(lane, T) + (g * W + u) * DV + o] = s[u]; } }" : ""}`,
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/**
 * Backward 1, the column adjoint: per (lane, value column j = o) dS[:, j] is carried from t = T−1 down to 0 (see
 * the header); per step it writes dv_t[j], e_t[j], de_t[j]·r_t[j] and o_t[j] do_t[j] − v_t[j] dv_t[j] (plus column
 * j's share of ⟨∂L/∂S_T, S_T⟩ at t = T − 1). Output: the scratch [B, H, 4·T·d_v] (lane-major in either layout).
 */
export function columnAdjointProgram(
  B: number,
  H: number,
  T: number,
  dk: number,
  dv: number,
  layout: ScanLayout = LANE_MAJOR,
): WgslProgram {
  const stateful = !layout.timeMajor;
  return splitProgram(
    {
      name: "delta_columns",
      variableNames: ["query", "key", "value", "beta", "logAlpha", "forwardOutput", "outputGradient"],
      outputShape: [B, H, scratchWidth(T, dv)],
      outer: "DV",
      inner: "DK",
      partials: 2,
      body: `
        let outAt = lane * scratchWidth;
        var d : array<f32, ${dk / splitCount(dk)}>;
        var finalShare = 0.0;
        ${
          stateful
            ? `if (valid) {
          for (var u = 0; u < W; u++) {
            let at = finalAt(lane, T) + (g * W + u) * DV + o;
            d[u] = outputGradient[at];
            finalShare += outputGradient[at] * forwardOutput[at];
          }
        }`
            : ""
        }
        for (var n = 0; n < T; n++) {
          let t = T - 1 - n;
          let stepIndex = row(lane, t, T);
          let kt = stepIndex * DK + g * W;
          var de = 0.0;
          var gj = 0.0;
          if (valid) {
            gj = outputGradient[readoutAt(lane, t, T) + o];
            for (var u = 0; u < W; u++) {
              let du = d[u] + query[kt + u] * gj;
              d[u] = du;
              de += du * key[kt + u];
            }
          }
          partial[lid * P] = de;
          partial[lid * P + 1] = finalShare;
          workgroupBarrier();
          if (valid) {
            let b = beta[stepIndex];
            let gv = b * sum(first, 0);
            if (g == 0) {
              let r = forwardOutput[residualAt(lane, t, T) + o];
              var share = forwardOutput[readoutAt(lane, t, T) + o] * gj - value[stepIndex * DV + o] * gv;
              if (t == T - 1) { share += sum(first, 1); }
              result[outAt + t * DV + o] = gv;
              result[outAt + T * DV + t * DV + o] = b * r;
              result[outAt + 2 * T * DV + t * DV + o] = sum(first, 0) * r;
              result[outAt + 3 * T * DV + t * DV + o] = share;
            }
            // dS_{t−1} = α (dS_t + k dpᵀ), dp = −dv.
            let a = exp(logAlpha[stepIndex]);
            for (var u = 0; u < W; u++) { d[u] = a * (d[u] - key[kt + u] * gv); }
          }
          workgroupBarrier();
        }`,
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/** The packed gradient: lane-major [B, H, gradientWidth] or time-major [gradientSizeByTime]. */
function gradientShape(B: number, H: number, T: number, dk: number, dv: number, layout: ScanLayout): number[] {
  return layout.timeMajor ? [gradientSizeByTime(B, H, T, dk, dv)] : [B, H, gradientWidth(T, dk, dv)];
}

/**
 * Backward 2, the rows: per (lane, key row i = o), given e and dp = −dv from the scratch. A forward scan rebuilds
 * S[i, :] and writes dq_t[i] = S_t[i, :] · do_t and S′[i, :] · dp_t (dk's first part); a reverse scan carries
 * dS[i, :] (dS_t += q_t do_tᵀ; dS_{t−1} = α_t (dS_t + k_t dp_tᵀ)), adds dS_t[i, :] · e_t to dk_t[i] and ends with
 * ∂L/∂S_0[i, :]. Output: the packed gradient (dv, dβ, d log α: backward 3).
 */
export function rowProgram(B: number, H: number, T: number, dk: number, dv: number, layout: ScanLayout = LANE_MAJOR): WgslProgram {
  const stateful = !layout.timeMajor;
  return splitProgram(
    {
      name: "delta_rows",
      variableNames: withState(layout, ["query", "key", "logAlpha", "initialState", "outputGradient", "scratch"]),
      outputShape: gradientShape(B, H, T, dk, dv, layout),
      outer: "DK",
      inner: "DV",
      partials: 2,
      body: `
        let scratchAt = lane * scratchWidth + g * W;
        var s : array<f32, ${dv / splitCount(dv)}>;
        ${stateful ? "if (valid) { for (var u = 0; u < W; u++) { s[u] = initialState[(lane * DK + o) * DV + g * W + u]; } }" : ""}
        for (var t = 0; t < T; t++) {
          var decayedDotDp = 0.0;
          var gq = 0.0;
          if (valid) {
            let stepIndex = row(lane, t, T);
            let ki = key[stepIndex * DK + o];
            let a = exp(logAlpha[stepIndex]);
            let readout = readoutAt(lane, t, T) + g * W;
            for (var u = 0; u < W; u++) {
              let decayed = a * s[u];
              decayedDotDp -= decayed * scratch[scratchAt + t * DV + u];
              let su = decayed + ki * scratch[scratchAt + T * DV + t * DV + u];
              s[u] = su;
              gq += su * outputGradient[readout + u];
            }
          }
          partial[lid * P] = gq;
          partial[lid * P + 1] = decayedDotDp;
          workgroupBarrier();
          if (valid && g == 0) {
            result[dqAt(lane, t, T) + o] = sum(first, 0);
            result[dkAt(lane, t, T) + o] = sum(first, 1);
          }
          workgroupBarrier();
        }
        for (var u = 0; u < W; u++) { s[u] = 0.0; }
        ${stateful ? "if (valid) { for (var u = 0; u < W; u++) { s[u] = outputGradient[finalAt(lane, T) + o * DV + g * W + u]; } }" : ""}
        for (var n = 0; n < T; n++) {
          let t = T - 1 - n;
          var w = 0.0;
          if (valid) {
            let stepIndex = row(lane, t, T);
            let qi = query[stepIndex * DK + o];
            let ki = key[stepIndex * DK + o];
            let a = exp(logAlpha[stepIndex]);
            let readout = readoutAt(lane, t, T) + g * W;
            for (var u = 0; u < W; u++) {
              let du = s[u] + qi * outputGradient[readout + u];
              w += du * scratch[scratchAt + T * DV + t * DV + u];
              s[u] = a * (du - ki * scratch[scratchAt + t * DV + u]);
            }
          }
          partial[lid * P] = w;
          workgroupBarrier();
          if (valid && g == 0) { result[dkAt(lane, t, T) + o] += sum(first, 0); }
          workgroupBarrier();
        }
        ${stateful ? "if (valid) { for (var u = 0; u < W; u++) { result[initialGradientAt(lane, T) + o * DV + g * W + u] = s[u]; } }" : ""}`,
    },
    B,
    H,
    dk,
    dv,
    layout,
  );
}

/**
 * Backward 3, in place on the packed gradient, one workgroup per lane: copies dv from the scratch, sums the
 * per-column shares into dβ_t and ∂L/∂b_t (one invocation per step t, strided), then the first invocation
 * accumulates d log α_t = Σ_{u≥t} ∂L/∂b_u in place (T serial adds: this kernel runs in training only).
 */
export function reduceProgram(B: number, H: number, T: number, dk: number, dv: number, layout: ScanLayout = LANE_MAJOR): WgslProgram {
  return {
    variableNames: ["scratch"],
    outputShape: gradientShape(B, H, T, dk, dv, layout),
    shaderKey: `selectiv_delta_reduce_dk${dk}_dv${dv}${layoutKey(layout)}`,
    dispatchLayout: { x: [0] },
    dispatch: [B * H, 1, 1],
    workgroupSize: [REDUCE_WORKGROUP, 1, 1],
    uniforms: "lanes : i32, steps : i32,",
    getUserCode: () => `
      const DK : i32 = ${dk};
      const DV : i32 = ${dv};
      ${addressing(layout)}
      fn main(index : i32) {
        let T = uniforms.steps;
        let lid = i32(localIndex);
        let lane = ${FLAT_WORKGROUP};
        let valid = lane < uniforms.lanes;
        let scratchAt = lane * 4 * T * DV;
        if (valid) {
          for (var x = lid; x < T * DV; x += ${REDUCE_WORKGROUP}) { result[dvAt(lane, x / DV, T) + x % DV] = scratch[scratchAt + x]; }
          for (var t = lid; t < T; t += ${REDUCE_WORKGROUP}) {
            var betaGrad = 0.0;
            var cumulativeGrad = 0.0;
            for (var c = 0; c < DV; c++) {
              betaGrad += scratch[scratchAt + 2 * T * DV + t * DV + c];
              cumulativeGrad += scratch[scratchAt + 3 * T * DV + t * DV + c];
            }
            result[dBetaAt(lane, t, T)] = betaGrad;
            result[dLogAlphaAt(lane, t, T)] = cumulativeGrad;
          }
        }
        storageBarrier();
        workgroupBarrier();
        if (valid && lid == 0) {
          var decayGrad = 0.0;
          for (var t = T - 1; t >= 0; t--) {
            decayGrad += result[dLogAlphaAt(lane, t, T)];
            result[dLogAlphaAt(lane, t, T)] = decayGrad;
          }
        }
      }
    `,
  };
}
