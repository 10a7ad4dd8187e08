import { tf } from "../tf.js";
import type { DeltaRuleInputs } from "./delta-rule.js";
import type { RecurrenceResult } from "./linear-recurrence.js";

/** Steps between stored states in the backward pass (states inside a segment are recomputed). */
const SEGMENT = 32;

/**
 * The (gated) delta rule of delta-rule.ts as one fused op over Float32Arrays, lane (batch, head) by lane, with a
 * hand-written adjoint gradient. Forward, per step:
 *   S′ = α S;  p = S′ᵀk;  e = β(v − p);  S = S′ + k eᵀ;  o = Sᵀq.
 * Backward, with dS = ∂L/∂S_t:
 *   dS += q doᵀ, dq = S do;  dk += dS e, de = dSᵀk;  dβ = de·(v − p), dv = β de, dp = −β de;
 *   dS′ = dS + k dpᵀ, dk += S′ dp;  d log α = α Σ dS′ ⊙ S_{t−1};  dS_{t−1} = α dS′.
 * States are stored every SEGMENT steps and recomputed inside a segment.
 */
export function fusedDeltaRule(inputs: DeltaRuleInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, beta, logAlpha } = inputs;
  const [B, H, T, dv] = value.shape;
  const dk = key.shape[3];
  const sizeS = dk * dv;
  const gated = logAlpha !== undefined;
  const laIn: tf.Tensor = logAlpha ?? tf.zeros([B, H, T]);
  const s0In: tf.Tensor = initialState ?? tf.zeros([B, H, dk, dv]);

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qT, kT, vT, bT, aT, s0T] = args as tf.Tensor[];
    const q = qT!.dataSync() as Float32Array;
    const k = kT!.dataSync() as Float32Array;
    const v = vT!.dataSync() as Float32Array;
    const bt = bT!.dataSync() as Float32Array;
    const la = aT!.dataSync() as Float32Array;
    const s0 = s0T!.dataSync() as Float32Array;
    const alpha = new Float32Array(la.length);
    for (let i = 0; i < la.length; i++) alpha[i] = gated ? Math.exp(la[i]!) : 1;
    const lanes = B * H;
    const segments = Math.ceil(T / SEGMENT);
    const out = new Float32Array(lanes * (T * dv + sizeS));
    const saved = new Float32Array(lanes * segments * sizeS);
    const err = new Float32Array(dv);

    /** dst = S after step t, from src = S before it (the regions may coincide). */
    const advance = (src: Float32Array, srcAt: number, dst: Float32Array, dstAt: number, lane: number, t: number): void => {
      const st = lane * T + t;
      const a = alpha[st]!;
      const b = bt[st]!;
      const ko = st * dk;
      const vo = st * dv;
      for (let j = 0; j < dv; j++) err[j] = 0;
      for (let i = 0; i < dk; i++) {
        const ki = k[ko + i]!;
        const r = srcAt + i * dv;
        for (let j = 0; j < dv; j++) err[j] = err[j]! + a * src[r + j]! * ki;
      }
      for (let j = 0; j < dv; j++) err[j] = b * (v[vo + j]! - err[j]!);
      for (let i = 0; i < dk; i++) {
        const ki = k[ko + i]!;
        const r0 = srcAt + i * dv;
        const r1 = dstAt + i * dv;
        for (let j = 0; j < dv; j++) dst[r1 + j] = a * src[r0 + j]! + ki * err[j]!;
      }
    };

    const S = new Float32Array(sizeS);
    for (let lane = 0; lane < lanes; lane++) {
      S.set(s0.subarray(lane * sizeS, (lane + 1) * sizeS));
      const base = lane * (T * dv + sizeS);
      for (let t = 0; t < T; t++) {
        if (t % SEGMENT === 0) saved.set(S, (lane * segments + t / SEGMENT) * sizeS);
        advance(S, 0, S, 0, lane, t);
        const qo = (lane * T + t) * dk;
        const oo = base + t * dv;
        for (let i = 0; i < dk; i++) {
          const qi = q[qo + i]!;
          const row = i * dv;
          for (let j = 0; j < dv; j++) out[oo + j] = out[oo + j]! + S[row + j]! * qi;
        }
      }
      out.set(S, base + T * dv);
    }

    return {
      value: tf.tensor3d(out, [B, H, T * dv + sizeS]),
      gradFunc: (dyT: tf.Tensor) => {
        const dy = dyT.dataSync() as Float32Array;
        const dq = new Float32Array(q.length);
        const dkk = new Float32Array(k.length);
        const dvv = new Float32Array(v.length);
        const dbt = new Float32Array(bt.length);
        const dla = new Float32Array(la.length);
        const ds0 = new Float32Array(s0.length);
        const dS = new Float32Array(sizeS);
        const states = new Float32Array((SEGMENT + 1) * sizeS);
        const pred = new Float32Array(dv);
        const e = new Float32Array(dv);
        const de = new Float32Array(dv);
        for (let lane = 0; lane < lanes; lane++) {
          const base = lane * (T * dv + sizeS);
          dS.set(dy.subarray(base + T * dv, base + T * dv + sizeS));
          for (let seg = segments - 1; seg >= 0; seg--) {
            const t0 = seg * SEGMENT;
            const t1 = Math.min(T, t0 + SEGMENT);
            states.set(saved.subarray((lane * segments + seg) * sizeS, (lane * segments + seg + 1) * sizeS), 0);
            for (let t = t0; t < t1; t++) advance(states, (t - t0) * sizeS, states, (t - t0 + 1) * sizeS, lane, t);
            for (let t = t1 - 1; t >= t0; t--) {
              const St = (t - t0 + 1) * sizeS;
              const Sp = St - sizeS;
              const st = lane * T + t;
              const a = alpha[st]!;
              const b = bt[st]!;
              const ko = st * dk;
              const vo = st * dv;
              const oo = base + t * dv;
              // Recompute p = S′ᵀk and e = β(v − p) for this step.
              for (let j = 0; j < dv; j++) pred[j] = 0;
              for (let i = 0; i < dk; i++) {
                const ki = k[ko + i]!;
                const r = Sp + i * dv;
                for (let j = 0; j < dv; j++) pred[j] = pred[j]! + a * states[r + j]! * ki;
              }
              for (let j = 0; j < dv; j++) e[j] = b * (v[vo + j]! - pred[j]!);
              // Readout and the write: dS += q doᵀ; dq = S do; dk = dS e; de = dSᵀk.
              for (let j = 0; j < dv; j++) de[j] = 0;
              for (let i = 0; i < dk; i++) {
                const qi = q[ko + i]!;
                const ki = k[ko + i]!;
                const row = i * dv;
                let gq = 0;
                let gk = 0;
                for (let j = 0; j < dv; j++) {
                  const g = dy[oo + j]!;
                  const d = dS[row + j]! + qi * g;
                  dS[row + j] = d;
                  gq += states[St + row + j]! * g;
                  gk += d * e[j]!;
                  de[j] = de[j]! + d * ki;
                }
                dq[ko + i] = dq[ko + i]! + gq;
                dkk[ko + i] = dkk[ko + i]! + gk;
              }
              // The error: dβ, dv and dp = −β de.
              let gBeta = 0;
              for (let j = 0; j < dv; j++) {
                gBeta += de[j]! * (v[vo + j]! - pred[j]!);
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
                  const prev = states[Sp + row + j]!;
                  const d = dS[row + j]! + ki * de[j]!;
                  gk += a * prev * de[j]!;
                  gAlpha += d * prev;
                  dS[row + j] = a * d;
                }
                dkk[ko + i] = dkk[ko + i]! + gk;
              }
              dla[st] = a * gAlpha;
            }
          }
          ds0.set(dS, lane * sizeS);
        }
        return [
          tf.tensor(dq, qT!.shape),
          tf.tensor(dkk, kT!.shape),
          tf.tensor(dvv, vT!.shape),
          tf.tensor(dbt, bT!.shape),
          tf.tensor(gated ? dla : new Float32Array(la.length), aT!.shape),
          tf.tensor(ds0, s0T!.shape),
        ];
      },
    };
  });
  const packed = op(query, key, value, beta, laIn, s0In) as tf.Tensor3D;
  const output = tf.reshape(tf.slice(packed, [0, 0, 0], [B, H, T * dv]), [B, H, T, dv]) as tf.Tensor4D;
  const state = tf.reshape(tf.slice(packed, [0, 0, T * dv], [B, H, sizeS]), [B, H, dk, dv]) as tf.Tensor4D;
  return { output, state };
}
