import { tf } from "../../tf.js";
import { type LaneRecurrence, SEGMENT, scanLanesBackward, scanLanesForward } from "../lane-scan.js";
import { type RecurrenceResult, unpack } from "../tensor-ops.js";
import type { DeltaRuleInputs } from "./inputs.js";

/**
 * The (gated) delta rule of ./naive.ts and ./chunked.ts as one fused op over Float32Arrays, lane (batch, head) by lane, with a
 * hand-written adjoint gradient. Forward, per step:
 *   S′ = α S;  p = S′ᵀk;  e = β(v − p);  S = S′ + k eᵀ;  o = Sᵀq.
 * Backward, with dS = ∂L/∂S_t (the readout's share already added; p and e kept from the segment's recomputation):
 *   dk += dS e, de = dSᵀk;  dβ = de·(v − p), dv = β de, dp = −β de;
 *   dS′ = dS + k dpᵀ, dk += S′ dp;  d log α = α Σ dS′ ⊙ S_{t−1};  dS_{t−1} = α dS′.
 */
export function fusedDeltaRule(inputs: DeltaRuleInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, beta, logAlpha } = inputs;
  const [B, H, T, dv] = value.shape;
  const dk = key.shape[3];
  const gated = logAlpha !== undefined;
  const laIn: tf.Tensor = logAlpha ?? tf.zeros([B, H, T]);
  const s0In: tf.Tensor = initialState ?? tf.zeros([B, H, dk, dv]);
  const dims: FusedDeltaRuleDims = { B, H, T, dk, dv, gated };

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qT, kT, vT, bT, aT, s0T] = args as tf.Tensor[];
    const rule = fusedDeltaRuleArrays(
      dims,
      qT!.dataSync() as Float32Array,
      kT!.dataSync() as Float32Array,
      vT!.dataSync() as Float32Array,
      bT!.dataSync() as Float32Array,
      aT!.dataSync() as Float32Array,
      s0T!.dataSync() as Float32Array,
    );
    return {
      value: tf.tensor3d(rule.out, [B, H, T * dv + dk * dv]),
      gradFunc: (dyT: tf.Tensor) => {
        const g = rule.backward(dyT.dataSync() as Float32Array);
        return [
          tf.tensor(g.dq, qT!.shape),
          tf.tensor(g.dk, kT!.shape),
          tf.tensor(g.dv, vT!.shape),
          tf.tensor(g.dBeta, bT!.shape),
          tf.tensor(g.dLogAlpha, aT!.shape),
          tf.tensor(g.dInitialState, s0T!.shape),
        ];
      },
    };
  });
  return unpack(op(query, key, value, beta, laIn, s0In) as tf.Tensor3D, T, dk, dv);
}

/** Sizes of one fused delta rule: value [B, H, T, d_v], key [B, H, T, d_k]; `gated`: whether log α is used (α ≡ 1 if not). */
export interface FusedDeltaRuleDims {
  readonly B: number;
  readonly H: number;
  readonly T: number;
  readonly dk: number;
  readonly dv: number;
  readonly gated: boolean;
}

/** The gradients of a fused delta rule, each laid out as its input. */
export interface FusedDeltaRuleGradients {
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
  readonly dBeta: Float32Array;
  readonly dLogAlpha: Float32Array;
  readonly dInitialState: Float32Array;
}

/**
 * The fused delta rule on Float32Arrays: `out` is the packed [B, H, T·d_v + d_k·d_v] readouts and final state;
 * `backward(dy)` takes the packed gradient of `out` and returns every input's gradient. β and log α are [B, H, T]
 * (log α ignored, and its gradient zero, unless `gated`). When `residuals` ([B, H, T, d_v]) is given, the forward
 * pass also writes each step's v_t − p_t into it (p_t = S′ᵀk_t, the prediction; the registered kernels' layout).
 */
export function fusedDeltaRuleArrays(
  dims: FusedDeltaRuleDims,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  bt: Float32Array,
  la: Float32Array,
  s0: Float32Array,
  residuals?: Float32Array,
): { out: Float32Array; backward(dy: Float32Array): FusedDeltaRuleGradients } {
  const { B, H, T, dk, dv, gated } = dims;
  const alpha = new Float32Array(la.length);
  for (let i = 0; i < la.length; i++) alpha[i] = gated ? Math.exp(la[i]!) : 1;
  // p and e of every step of the current segment (slot t mod SEGMENT): the forward and the backward's
  // recomputation of a segment write them, the backward walk reads them instead of predicting again.
  const pred = new Float32Array(SEGMENT * dv);
  const err = new Float32Array(SEGMENT * dv);
  const de = new Float32Array(dv);
  // Gradient accumulators, allocated when the backward pass runs.
  let dkk = new Float32Array(0);
  let dvv = new Float32Array(0);
  let dbt = new Float32Array(0);
  let dla = new Float32Array(0);

  /** p = S′ᵀk with S′ = α S (S at `at` in `src`), then e = β(v − p), into slot `o`. */
  const predict = (src: Float32Array, at: number, st: number, o: number): void => {
    const a = alpha[st]!;
    const ko = st * dk;
    const vo = st * dv;
    pred.fill(0, o, o + dv);
    for (let i = 0; i < dk; i++) {
      const ki = a * k[ko + i]!;
      const r = at + i * dv;
      for (let j = 0; j < dv; j++) pred[o + j] = pred[o + j]! + src[r + j]! * ki;
    }
    for (let j = 0; j < dv; j++) err[o + j] = bt[st]! * (v[vo + j]! - pred[o + j]!);
  };

  /**
   * Backward through step t (its p and e in slot `o`), with the readout's share first when `dy` is given:
   * dS += q doᵀ, dq += S_t do.
   */
  const backStep = (
    states: Float32Array,
    prevAt: number,
    curAt: number,
    dS: Float32Array,
    st: number,
    o: number,
    readout?: { q: Float32Array; qo: number; dy: Float32Array; oo: number; dq: Float32Array },
  ): void => {
    const a = alpha[st]!;
    const b = bt[st]!;
    const ko = st * dk;
    const vo = st * dv;
    // The write S = S′ + k eᵀ: dk = dS e; de = dSᵀk.
    de.fill(0);
    for (let i = 0; i < dk; i++) {
      const ki = k[ko + i]!;
      const row = i * dv;
      let gk = 0;
      if (readout) {
        const { dy, oo } = readout;
        const qi = readout.q[readout.qo + i]!;
        let gq = 0;
        for (let j = 0; j < dv; j++) {
          const g = dy[oo + j]!;
          const d = dS[row + j]! + qi * g;
          dS[row + j] = d;
          gq += states[curAt + row + j]! * g;
          gk += d * err[o + j]!;
          de[j] = de[j]! + d * ki;
        }
        readout.dq[readout.qo + i] = readout.dq[readout.qo + i]! + gq;
      } else {
        for (let j = 0; j < dv; j++) {
          const d = dS[row + j]!;
          gk += d * err[o + j]!;
          de[j] = de[j]! + d * ki;
        }
      }
      dkk[ko + i] = dkk[ko + i]! + gk;
    }
    // The error e = β(v − p): dβ, dv and dp = −β de.
    let gBeta = 0;
    for (let j = 0; j < dv; j++) {
      gBeta += de[j]! * (v[vo + j]! - pred[o + j]!);
      dvv[vo + j] = dvv[vo + j]! + b * de[j]!;
      de[j] = -b * de[j]!;
    }
    dbt[st] = gBeta;
    // The prediction p = S′ᵀk and the decay S′ = α S_{t−1}.
    let gAlpha = 0;
    for (let i = 0; i < dk; i++) {
      const ki = k[ko + i]!;
      const row = i * dv;
      let gk = 0;
      for (let j = 0; j < dv; j++) {
        const prev = states[prevAt + row + j]!;
        const d = dS[row + j]! + ki * de[j]!;
        gk += prev * de[j]!;
        gAlpha += d * prev;
        dS[row + j] = a * d;
      }
      dkk[ko + i] = dkk[ko + i]! + a * gk;
    }
    dla[st] = a * gAlpha;
  };

  const recurrence: LaneRecurrence = {
    lanes: B * H,
    steps: T,
    dk,
    dv,
    queryOffset: (lane, t) => (lane * T + t) * dk,
    advance(src, srcAt, dst, dstAt, lane, t) {
      const st = lane * T + t;
      const a = alpha[st]!;
      const ko = st * dk;
      const o = (t % SEGMENT) * dv;
      predict(src, srcAt, st, o);
      for (let i = 0; i < dk; i++) {
        const ki = k[ko + i]!;
        const r0 = srcAt + i * dv;
        const r1 = dstAt + i * dv;
        for (let j = 0; j < dv; j++) dst[r1 + j] = a * src[r0 + j]! + ki * err[o + j]!;
      }
    },
    advanceAndRead(S, lane, t, qs, qo, out, oo) {
      const st = lane * T + t;
      const a = alpha[st]!;
      const ko = st * dk;
      const o = (t % SEGMENT) * dv;
      predict(S, 0, st, o);
      if (residuals) for (let j = 0; j < dv; j++) residuals[st * dv + j] = v[st * dv + j]! - pred[o + j]!;
      for (let i = 0; i < dk; i++) {
        const ki = k[ko + i]!;
        const qi = qs[qo + i]!;
        const row = i * dv;
        for (let j = 0; j < dv; j++) {
          const x = a * S[row + j]! + ki * err[o + j]!;
          S[row + j] = x;
          out[oo + j] = out[oo + j]! + x * qi;
        }
      }
    },
    adjoint(states, prevAt, curAt, dS, lane, t) {
      backStep(states, prevAt, curAt, dS, lane * T + t, (t % SEGMENT) * dv);
    },
    readoutAdjoint(states, prevAt, curAt, dS, lane, t, qs, qo, dy, oo, dq) {
      backStep(states, prevAt, curAt, dS, lane * T + t, (t % SEGMENT) * dv, { q: qs, qo, dy, oo, dq });
    },
  };
  const { out, saved } = scanLanesForward(recurrence, q, s0);
  return {
    out,
    backward(dy: Float32Array): FusedDeltaRuleGradients {
      const dq = new Float32Array(q.length);
      dkk = new Float32Array(k.length);
      dvv = new Float32Array(v.length);
      dbt = new Float32Array(bt.length);
      dla = new Float32Array(la.length);
      const ds0 = scanLanesBackward(recurrence, q, saved, dy, dq);
      return { dq, dk: dkk, dv: dvv, dBeta: dbt, dLogAlpha: gated ? dla : new Float32Array(la.length), dInitialState: ds0 };
    },
  };
}
