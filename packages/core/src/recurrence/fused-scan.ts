import { tf } from "../tf.js";
import type { RecurrenceInputs, RecurrenceResult } from "./linear-recurrence.js";

/** Steps between stored states in the backward pass (states inside a segment are recomputed). */
const SEGMENT = 32;

/**
 * The decayed linear recurrence of linear-recurrence.ts as one fused op over Float32Arrays, lane (batch, head)
 * by lane, with a hand-written adjoint gradient. On CPU backends it replaces hundreds of small TF ops per layer.
 * Forward:  S_t = D_t S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q_t   (D_t = I, α_t I or Diag(α_t)).
 * Backward (dS carries ∂L/∂S_t):  dS_t += q_t do_tᵀ;  dq_t = S_t do_t;  dk_t = dS_t v_t;  dv_t = dS_tᵀ k_t;
 *   d log α_t = α_t ⊙ rowsum(dS_t ⊙ S_{t−1});  dS_{t−1} = D_t dS_t.
 * States are kept every SEGMENT steps and recomputed inside a segment, so memory is O(T/SEGMENT · d_k·d_v) a lane.
 */
export function fusedScan(inputs: RecurrenceInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, decay } = inputs;
  const [B, H, T, dk] = value.shape.slice(0, 3).concat(key.shape[3]) as [number, number, number, number];
  const dv = value.shape[3];
  const kind = decay.kind;
  const logAlphaIn: tf.Tensor = kind === "none" ? tf.zeros([B, H, T]) : decay.logAlpha;
  const s0In: tf.Tensor = initialState ?? tf.zeros([B, H, dk, dv]);
  const hq = query.shape[1];
  const hk = key.shape[1];
  const sizeS = dk * dv;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qT, kT, vT, aT, s0T] = args as tf.Tensor[];
    const q = qT!.dataSync() as Float32Array;
    const k = kT!.dataSync() as Float32Array;
    const v = vT!.dataSync() as Float32Array;
    const la = aT!.dataSync() as Float32Array;
    const s0 = s0T!.dataSync() as Float32Array;
    // α per step (and per key channel for a diagonal decay), exponentiated once.
    const perStep = kind === "diagonal" ? dk : 1;
    const alpha = new Float32Array(la.length);
    for (let i = 0; i < la.length; i++) alpha[i] = kind === "none" ? 1 : Math.exp(la[i]!);
    const lanes = B * H;
    const segments = Math.ceil(T / SEGMENT);
    const out = new Float32Array(lanes * (T * dv + sizeS));
    const saved = new Float32Array(lanes * segments * sizeS);
    // q and k may have one head shared by all heads (Mamba2's B and C): index them by their own head count.
    const headOf = (lane: number, heads: number) => (heads === 1 ? Math.floor(lane / H) : lane);

    /** S_next = D_t S_prev + k_t v_tᵀ (S_prev and S_next may be the same array region). */
    const advance = (src: Float32Array, srcAt: number, dst: Float32Array, dstAt: number, lane: number, t: number): void => {
      const ao = (lane * T + t) * perStep;
      const ko = (headOf(lane, hk) * T + t) * dk;
      const vo = (lane * T + t) * dv;
      for (let i = 0; i < dk; i++) {
        const a = alpha[perStep === 1 ? ao : ao + i]!;
        const ki = k[ko + i]!;
        const r0 = srcAt + i * dv;
        const r1 = dstAt + i * dv;
        for (let j = 0; j < dv; j++) dst[r1 + j] = a * src[r0 + j]! + ki * v[vo + j]!;
      }
    };

    const S = new Float32Array(sizeS);
    for (let lane = 0; lane < lanes; lane++) {
      S.set(s0.subarray(lane * sizeS, (lane + 1) * sizeS));
      const base = lane * (T * dv + sizeS);
      for (let t = 0; t < T; t++) {
        if (t % SEGMENT === 0) saved.set(S, (lane * segments + t / SEGMENT) * sizeS);
        advance(S, 0, S, 0, lane, t);
        const qo = (headOf(lane, hq) * T + t) * dk;
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
        const dla = new Float32Array(la.length);
        const ds0 = new Float32Array(s0.length);
        const dS = new Float32Array(sizeS);
        const states = new Float32Array((SEGMENT + 1) * sizeS);
        for (let lane = 0; lane < lanes; lane++) {
          const base = lane * (T * dv + sizeS);
          dS.set(dy.subarray(base + T * dv, base + T * dv + sizeS));
          for (let seg = segments - 1; seg >= 0; seg--) {
            const t0 = seg * SEGMENT;
            const t1 = Math.min(T, t0 + SEGMENT);
            // states[r] = S_{t0 + r − 1}: row 0 is the state entering the segment.
            states.set(saved.subarray((lane * segments + seg) * sizeS, (lane * segments + seg + 1) * sizeS), 0);
            for (let t = t0; t < t1; t++) advance(states, (t - t0) * sizeS, states, (t - t0 + 1) * sizeS, lane, t);
            for (let t = t1 - 1; t >= t0; t--) {
              const St = (t - t0 + 1) * sizeS;
              const Sp = St - sizeS;
              const qo = (headOf(lane, hq) * T + t) * dk;
              const ko = (headOf(lane, hk) * T + t) * dk;
              const vo = (lane * T + t) * dv;
              const oo = base + t * dv;
              const ao = (lane * T + t) * perStep;
              for (let i = 0; i < dk; i++) {
                const qi = q[qo + i]!;
                const ki = k[ko + i]!;
                const ai = perStep === 1 ? ao : ao + i;
                const a = alpha[ai]!;
                const row = i * dv;
                let gq = 0;
                let gk = 0;
                let gAlpha = 0;
                for (let j = 0; j < dv; j++) {
                  const g = dy[oo + j]!;
                  const d = dS[row + j]! + qi * g;
                  gq += states[St + row + j]! * g;
                  gk += d * v[vo + j]!;
                  dvv[vo + j] = dvv[vo + j]! + d * ki;
                  gAlpha += d * states[Sp + row + j]!;
                  dS[row + j] = a * d;
                }
                dq[qo + i] = dq[qo + i]! + gq;
                dkk[ko + i] = dkk[ko + i]! + gk;
                dla[ai] = dla[ai]! + a * gAlpha;
              }
            }
          }
          ds0.set(dS, lane * sizeS);
        }
        return [
          tf.tensor(dq, qT!.shape),
          tf.tensor(dkk, kT!.shape),
          tf.tensor(dvv, vT!.shape),
          tf.tensor(kind === "none" ? new Float32Array(la.length) : dla, aT!.shape),
          tf.tensor(ds0, s0T!.shape),
        ];
      },
    };
  });
  const packed = op(query, key, value, logAlphaIn, s0In) as tf.Tensor3D;
  const output = tf.reshape(tf.slice(packed, [0, 0, 0], [B, H, T * dv]), [B, H, T, dv]) as tf.Tensor4D;
  const state = tf.reshape(tf.slice(packed, [0, 0, T * dv], [B, H, sizeS]), [B, H, dk, dv]) as tf.Tensor4D;
  return { output, state };
}
