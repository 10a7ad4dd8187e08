// WGSL programs of the decayed linear scan (docs/spec/MODELS.md §6.1), run by the webgpu backend's
// runWebGPUProgram. Every tensor is per lane (batch × head) and contiguous; the decay is per key channel
// (log α [B, H, T, d_k]); scalar decays and shared query/key heads are broadcast by the caller (./scan-kernel.ts).
//
// One invocation per lane × state column (forward, dv) or lane × state row (backward), each holding its slice of
// the d_k × d_v state in private memory and scanning time. d_k and d_v size those arrays, so they are baked into
// the shader and its key; B·H and T are uniforms.
//
// Memory: no state is stored. The backward pass rebuilds S_t row by row in a forward scan (for dq_t = S_t do_t)
// and carries the adjoint dS_t in reverse scans (for dk, dv, ∂L/∂S_0). The decay's gradient uses the identity
// ∂L/∂b_t = q_t ⊙ dq_t − k_t ⊙ dk_t (+ S_T ⊙ ∂L/∂S_T summed over d_v at t = T), with b_t = Σ_{s≤t} log α_s, and
// d log α_t = Σ_{u≥t} ∂L/∂b_u, accumulated in the reverse scan: no S_{t−1}, no division by α (which underflows
// at log α = −30). Cost: 4 scans of T·d_k·d_v (1 forward, 3 backward) and O(inputs) memory, against O(T·d_k·d_v)
// per lane for stored states.

/** What runWebGPUProgram needs of a program (TF.js 4.22's WebGPUProgram interface). */
export interface WgslProgram {
  readonly variableNames: string[];
  readonly outputShape: number[];
  shaderKey: string;
  readonly dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number];
  readonly uniforms: string;
  getUserCode(): string;
}

import { LANE_MAJOR, type ScanLayout, layoutKey, rowFunction } from "./scan-webgpu-split.js";

const WORKGROUP = 64;

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
        // A lane's packed readouts and final state: T·d_v + d_k·d_v values.
        let packedWidth = T * DV + DK * DV;
        ${body}
      }
    `,
  };
}

/**
 * Forward: one invocation per (lane, value column j) holds S[:, j] and scans t = 0..T−1:
 *   S_t[:, j] = α_t ⊙ S_{t−1}[:, j] + k_t v_t[j];  o_t[j] = q_t · S_t[:, j].
 * Output: [B, H, T·d_v + d_k·d_v], the readouts then the final state (the layout of ./fused.ts).
 */
export function forwardProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  return program(
    "scan_forward",
    ["query", "key", "value", "logAlpha", "initialState"],
    [B, H, T * dv + dk * dv],
    B * H * dv,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DV) { return; }
        let lane = index / DV;
        let j = index % DV;
        var s : array<f32, ${dk}>;
        for (var i = 0; i < DK; i++) { s[i] = initialState[(lane * DK + i) * DV + j]; }
        let base = lane * packedWidth;
        for (var t = 0; t < T; t++) {
          let at = (lane * T + t) * DK;
          let vt = value[(lane * T + t) * DV + j];
          var o = 0.0;
          for (var i = 0; i < DK; i++) {
            let si = exp(logAlpha[at + i]) * s[i] + key[at + i] * vt;
            s[i] = si;
            o += si * query[at + i];
          }
          result[base + t * DV + j] = o;
        }
        for (var i = 0; i < DK; i++) { result[base + T * DV + i * DV + j] = s[i]; }`,
  );
}

/**
 * Backward 1: one invocation per (lane, key row i) rebuilds S[i, :] forward and writes dq_t[i] = S_t[i, :] · do_t.
 * Output: dq [B, H, T, d_k].
 */
export function queryGradientProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  return program(
    "scan_dq",
    ["key", "value", "logAlpha", "initialState", "outputGradient"],
    [B, H, T, dk],
    B * H * dk,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DK) { return; }
        let lane = index / DK;
        let i = index % DK;
        var s : array<f32, ${dv}>;
        for (var j = 0; j < DV; j++) { s[j] = initialState[(lane * DK + i) * DV + j]; }
        for (var t = 0; t < T; t++) {
          let at = (lane * T + t) * DK + i;
          let a = exp(logAlpha[at]);
          let ki = key[at];
          let vt = (lane * T + t) * DV;
          let dyAt = lane * packedWidth + t * DV;
          var g = 0.0;
          for (var j = 0; j < DV; j++) {
            let sj = a * s[j] + ki * value[vt + j];
            s[j] = sj;
            g += sj * outputGradient[dyAt + j];
          }
          result[at] = g;
        }`,
  );
}

/**
 * The packed gradient's width per lane: dq, dk, d log α (each T·d_k, key-channel last), dv (T·d_v), ∂L/∂S_0
 * (d_k·d_v), in that order.
 */
export function gradientWidth(T: number, dk: number, dv: number): number {
  return 3 * T * dk + T * dv + dk * dv;
}

/**
 * Backward 2: one invocation per (lane, key row i) carries dS[i, :] from t = T−1 down to 0:
 *   dS_t[i, :] = α_{t+1,i} dS_{t+1}[i, :] + q_t[i] do_t (plus ∂L/∂S_T at the end);  dk_t[i] = dS_t[i, :] · v_t;
 *   d log α_t[i] = Σ_{u≥t} (q_u[i] dq_u[i] − k_u[i] dk_u[i]) + S_T[i, :] · ∂L/∂S_T[i, :];  ∂L/∂S_0[i, :] = α_0 dS_0.
 * Writes dq (copied from backward 1), dk, d log α and ∂L/∂S_0 into the packed gradient.
 */
export function keyDecayGradientProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  const width = gradientWidth(T, dk, dv);
  return program(
    "scan_dk_dlogalpha",
    ["query", "key", "value", "logAlpha", "queryGradient", "outputGradient", "forwardOutput"],
    [B, H, width],
    B * H * dk,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DK) { return; }
        let lane = index / DK;
        let i = index % DK;
        let grad = lane * (3 * T * DK + T * DV + DK * DV);
        var d : array<f32, ${dv}>;
        var decayGrad = 0.0;
        let finalAt = lane * packedWidth + T * DV + i * DV;
        for (var j = 0; j < DV; j++) {
          d[j] = outputGradient[finalAt + j];
          decayGrad += d[j] * forwardOutput[finalAt + j];
        }
        for (var t = T - 1; t >= 0; t--) {
          let at = (lane * T + t) * DK + i;
          let qi = query[at];
          let vt = (lane * T + t) * DV;
          let dyAt = lane * packedWidth + t * DV;
          var gk = 0.0;
          for (var j = 0; j < DV; j++) {
            let dj = d[j] + qi * outputGradient[dyAt + j];
            d[j] = dj;
            gk += dj * value[vt + j];
          }
          let gq = queryGradient[at];
          decayGrad += qi * gq - key[at] * gk;
          let rowAt = t * DK + i;
          result[grad + rowAt] = gq;
          result[grad + T * DK + rowAt] = gk;
          result[grad + 2 * T * DK + rowAt] = decayGrad;
          let a = exp(logAlpha[at]);
          for (var j = 0; j < DV; j++) { d[j] = a * d[j]; }
        }
        for (var j = 0; j < DV; j++) { result[grad + 3 * T * DK + T * DV + i * DV + j] = d[j]; }`,
  );
}

/**
 * Backward 3: one invocation per (lane, value column j) carries dS[:, j] from t = T−1 down to 0 and writes
 * dv_t[j] = k_t · dS_t[:, j] into the packed gradient (written in place: `output` is backward 2's result).
 */
export function valueGradientProgram(B: number, H: number, T: number, dk: number, dv: number): WgslProgram {
  const width = gradientWidth(T, dk, dv);
  return program(
    "scan_dv",
    ["query", "key", "logAlpha", "outputGradient"],
    [B, H, width],
    B * H * dv,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DV) { return; }
        let lane = index / DV;
        let j = index % DV;
        let grad = lane * (3 * T * DK + T * DV + DK * DV);
        var d : array<f32, ${dk}>;
        for (var i = 0; i < DK; i++) { d[i] = outputGradient[lane * packedWidth + T * DV + i * DV + j]; }
        for (var t = T - 1; t >= 0; t--) {
          let at = (lane * T + t) * DK;
          let g = outputGradient[lane * packedWidth + t * DV + j];
          var gv = 0.0;
          for (var i = 0; i < DK; i++) {
            let di = d[i] + query[at + i] * g;
            gv += di * key[at + i];
            d[i] = exp(logAlpha[at + i]) * di;
          }
          result[grad + 3 * T * DK + t * DV + j] = gv;
        }`,
  );
}

/**
 * Without state (the other programs in ./scan-webgpu-split.ts): d log α_t[i] = Σ_{u≥t} (q_u[i] dq_u[i] − k_u[i] dk_u[i]),
 * backward 2's identity with ∂L/∂S_T = 0, dq and dk per lane (before a shared head's sum); one invocation per (lane,
 * key row i). Output: d log α [B, H, T, d_k]. A scalar decay's is scalarDecayGradientProgram (./scan-webgpu-split.ts).
 */
export function decayGradientProgram(
  B: number,
  H: number,
  T: number,
  dk: number,
  dv: number,
  layout: ScanLayout = LANE_MAJOR,
): WgslProgram {
  const made = program(
    "scan_dlogalpha",
    ["query", "key", "queryGradient", "keyGradient"],
    layout.timeMajor ? [B, T, H, dk] : [B, H, T, dk],
    B * H * dk,
    dk,
    dv,
    `
        if (index >= uniforms.lanes * DK) { return; }
        let lane = index / DK;
        let i = index % DK;
        var acc = 0.0;
        for (var t = T - 1; t >= 0; t--) {
          let at = row(lane, t, T) * DK + i;
          let qk = qkRow(lane, t, T) * DK + i;
          acc += query[qk] * queryGradient[at] - key[qk] * keyGradient[at];
          result[at] = acc;
        }`,
  );
  const code = made.getUserCode();
  return { ...made, shaderKey: made.shaderKey + layoutKey(layout), getUserCode: () => `${rowFunction(layout)}\n${code}` };
}
