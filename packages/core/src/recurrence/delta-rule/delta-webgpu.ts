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
// Memory: no state is stored. The forward output keeps r (T·d_v per lane) for the backward; the backward's
// scratch holds dv, e and the two per-column shares of dβ and ∂L/∂b (4·T·d_v per lane). Cost: 3 scans of
// T·d_k·d_v (1 forward, 2 backward: the column adjoint and the row pass, which scans twice) and a reduction.

import type { WgslProgram } from "../linear/scan-webgpu.js";

const WORKGROUP = 64;

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

function program(
  name: string,
  variableNames: string[],
  outputShape: number[],
  invocations: number,
  dk: number,
  dv: number,
  body: string,
): WgslProgram {
  return {
    variableNames,
    outputShape,
    // d_k and d_v are baked into the code: they must be in the key (the cache key holds only ranks and types).
    shaderKey: `selectiv_${name}_dk${dk}_dv${dv}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: "lanes : i32, steps : i32,",
    getUserCode: () => `
      const DK : i32 = ${dk};
      const DV : i32 = ${dv};
      fn main(index : i32) {
        let T = uniforms.steps;
        let forwardWidth = 2 * T * DV + DK * DV;
        let scratchWidth = 4 * T * DV;
        let gradientWidth = 2 * T * DK + T * DV + 2 * T + DK * DV;
        ${body}
      }
    `,
  };
}

/**
 * Forward: one invocation per (lane, value column j) holds S[:, j] and scans t = 0..T−1:
 *   S′ = α_t S;  p = k_t · S′;  r = v_t[j] − p;  S = S′ + k_t β_t r;  o_t[j] = q_t · S.
 * Output [B, H, 2·T·d_v + d_k·d_v]: readouts, final state (the fused kernel's layout), then the residuals r.
 */
export function forwardProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  return program(
    "delta_forward",
    ["query", "key", "value", "beta", "logAlpha", "initialState"],
    [B, H, forwardWidth(T, dk, dv)],
    B * H * dv,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DV) { return; }
        let lane = index / DV;
        let j = index % DV;
        var s : array<f32, ${dk}>;
        for (var i = 0; i < DK; i++) { s[i] = initialState[(lane * DK + i) * DV + j]; }
        let base = lane * forwardWidth;
        for (var t = 0; t < T; t++) {
          let stepIndex = lane * T + t;
          let kt = stepIndex * DK;
          let a = exp(logAlpha[stepIndex]);
          var p = 0.0;
          for (var i = 0; i < DK; i++) {
            let si = a * s[i];
            s[i] = si;
            p += key[kt + i] * si;
          }
          let r = value[stepIndex * DV + j] - p;
          let e = beta[stepIndex] * r;
          var o = 0.0;
          for (var i = 0; i < DK; i++) {
            let si = s[i] + key[kt + i] * e;
            s[i] = si;
            o += si * query[kt + i];
          }
          result[base + t * DV + j] = o;
          result[base + T * DV + DK * DV + t * DV + j] = r;
        }
        for (var i = 0; i < DK; i++) { result[base + T * DV + i * DV + j] = s[i]; }`,
  );
}

/**
 * Backward 1, the column adjoint: one invocation per (lane, value column j) carries dS[:, j] from t = T−1 down to 0
 * (see the header) and writes, per step, dv_t[j], e_t[j], de_t[j]·r_t[j] and o_t[j] do_t[j] − v_t[j] dv_t[j]
 * (plus column j's share of ⟨∂L/∂S_T, S_T⟩ at t = T − 1). Output: the scratch [B, H, 4·T·d_v].
 */
export function columnAdjointProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  return program(
    "delta_columns",
    ["query", "key", "value", "beta", "logAlpha", "forwardOutput", "outputGradient"],
    [B, H, scratchWidth(T, dv)],
    B * H * dv,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DV) { return; }
        let lane = index / DV;
        let j = index % DV;
        let base = lane * forwardWidth;
        let outAt = lane * scratchWidth;
        var d : array<f32, ${dk}>;
        var finalShare = 0.0;
        for (var i = 0; i < DK; i++) {
          let finalAt = base + T * DV + i * DV + j;
          d[i] = outputGradient[finalAt];
          finalShare += outputGradient[finalAt] * forwardOutput[finalAt];
        }
        for (var t = T - 1; t >= 0; t--) {
          let stepIndex = lane * T + t;
          let kt = stepIndex * DK;
          let g = outputGradient[base + t * DV + j];
          var de = 0.0;
          for (var i = 0; i < DK; i++) {
            let di = d[i] + query[kt + i] * g;
            d[i] = di;
            de += di * key[kt + i];
          }
          let r = forwardOutput[base + T * DV + DK * DV + t * DV + j];
          let b = beta[stepIndex];
          let gv = b * de;
          var share = forwardOutput[base + t * DV + j] * g - value[stepIndex * DV + j] * gv;
          if (t == T - 1) { share += finalShare; }
          result[outAt + t * DV + j] = gv;
          result[outAt + T * DV + t * DV + j] = b * r;
          result[outAt + 2 * T * DV + t * DV + j] = de * r;
          result[outAt + 3 * T * DV + t * DV + j] = share;
          // dS_{t−1} = α (dS_t + k dpᵀ), dp = −dv.
          let a = exp(logAlpha[stepIndex]);
          for (var i = 0; i < DK; i++) { d[i] = a * (d[i] - key[kt + i] * gv); }
        }`,
  );
}

/**
 * Backward 2, the rows: one invocation per (lane, key row i), given e and dp = −dv from the scratch. A forward scan
 * rebuilds S[i, :] and writes dq_t[i] = S_t[i, :] · do_t and S′[i, :] · dp_t (dk's first part); a reverse scan carries
 * dS[i, :] (dS_t += q_t do_tᵀ; dS_{t−1} = α_t (dS_t + k_t dp_tᵀ)), adds dS_t[i, :] · e_t to dk_t[i] and ends with
 * ∂L/∂S_0[i, :]. Output: the packed gradient [B, H, 2·T·d_k + T·d_v + 2·T + d_k·d_v] (dv, dβ, d log α: backward 3).
 */
export function rowProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  return program(
    "delta_rows",
    ["query", "key", "logAlpha", "initialState", "outputGradient", "scratch"],
    [B, H, gradientWidth(T, dk, dv)],
    B * H * dk,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DK) { return; }
        let lane = index / DK;
        let i = index % DK;
        let base = lane * forwardWidth;
        let scratchAt = lane * scratchWidth;
        let outAt = lane * gradientWidth;
        var s : array<f32, ${dv}>;
        for (var j = 0; j < DV; j++) { s[j] = initialState[(lane * DK + i) * DV + j]; }
        for (var t = 0; t < T; t++) {
          let stepIndex = lane * T + t;
          let ki = key[stepIndex * DK + i];
          let a = exp(logAlpha[stepIndex]);
          var decayedDotDp = 0.0;
          var gq = 0.0;
          for (var j = 0; j < DV; j++) {
            let decayed = a * s[j];
            decayedDotDp -= decayed * scratch[scratchAt + t * DV + j];
            let sj = decayed + ki * scratch[scratchAt + T * DV + t * DV + j];
            s[j] = sj;
            gq += sj * outputGradient[base + t * DV + j];
          }
          result[outAt + t * DK + i] = gq;
          result[outAt + T * DK + t * DK + i] = decayedDotDp;
        }
        for (var j = 0; j < DV; j++) { s[j] = outputGradient[base + T * DV + i * DV + j]; }
        for (var t = T - 1; t >= 0; t--) {
          let stepIndex = lane * T + t;
          let qi = query[stepIndex * DK + i];
          let ki = key[stepIndex * DK + i];
          let a = exp(logAlpha[stepIndex]);
          var w = 0.0;
          for (var j = 0; j < DV; j++) {
            let dj = s[j] + qi * outputGradient[base + t * DV + j];
            w += dj * scratch[scratchAt + T * DV + t * DV + j];
            s[j] = a * (dj - ki * scratch[scratchAt + t * DV + j]);
          }
          result[outAt + T * DK + t * DK + i] += w;
        }
        let initialAt = outAt + 2 * T * DK + T * DV + 2 * T + i * DV;
        for (var j = 0; j < DV; j++) { result[initialAt + j] = s[j]; }`,
  );
}

/**
 * Backward 3, in place on the packed gradient: one invocation per (lane, value column j) copies dv[:, j] from the
 * scratch; the lane's first also sums the per-column shares into dβ_t and ∂L/∂b_t and accumulates
 * d log α_t = Σ_{u≥t} ∂L/∂b_u.
 */
export function reduceProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  return program(
    "delta_reduce",
    ["scratch"],
    [B, H, gradientWidth(T, dk, dv)],
    B * H * dv,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DV) { return; }
        let lane = index / DV;
        let j = index % DV;
        let scratchAt = lane * scratchWidth;
        let outAt = lane * gradientWidth + 2 * T * DK;
        for (var t = 0; t < T; t++) { result[outAt + t * DV + j] = scratch[scratchAt + t * DV + j]; }
        if (j != 0) { return; }
        var decayGrad = 0.0;
        for (var t = T - 1; t >= 0; t--) {
          var betaGrad = 0.0;
          var cumulativeGrad = 0.0;
          for (var c = 0; c < DV; c++) {
            betaGrad += scratch[scratchAt + 2 * T * DV + t * DV + c];
            cumulativeGrad += scratch[scratchAt + 3 * T * DV + t * DV + c];
          }
          decayGrad += cumulativeGrad;
          result[outAt + T * DV + t] = betaGrad;
          result[outAt + T * DV + T + t] = decayGrad;
        }`,
  );
}
