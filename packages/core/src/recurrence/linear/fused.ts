import { tf } from "../../tf.js";
import { type LaneRecurrence, scanLanesBackward, scanLanesForward } from "../lane-scan.js";
import { type RecurrenceResult, unpack } from "../tensor-ops.js";
import type { RecurrenceInputs } from "./inputs.js";

/**
 * The decayed linear recurrence of ./naive.ts and ./chunked.ts as one fused op over Float32Arrays, lane (batch, head)
 * by lane, with a hand-written adjoint gradient. On CPU backends it replaces hundreds of small TF ops per layer.
 * Forward:  S_t = D_t S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ q_t   (D_t = I, α_t I or Diag(α_t)).
 * Backward (dS carries ∂L/∂S_t):  dS_t += q_t do_tᵀ;  dq_t = S_t do_t;  dk_t = dS_t v_t;  dv_t = dS_tᵀ k_t;
 *   d log α_t = α_t ⊙ rowsum(dS_t ⊙ S_{t−1});  dS_{t−1} = D_t dS_t.
 */
export function fusedScan(inputs: RecurrenceInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, decay } = inputs;
  const [B, H, T, dv] = value.shape;
  const dk = key.shape[3];
  const kind = decay.kind;
  const logAlphaIn: tf.Tensor = kind === "none" ? tf.zeros([B, H, T]) : decay.logAlpha;
  const s0In: tf.Tensor = initialState ?? tf.zeros([B, H, dk, dv]);
  const dims: FusedScanDims = { B, H, T, dk, dv, kind, queryHeads: query.shape[1], keyHeads: key.shape[1] };

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qT, kT, vT, aT, s0T] = args as tf.Tensor[];
    const scan = fusedScanArrays(
      dims,
      qT!.dataSync() as Float32Array,
      kT!.dataSync() as Float32Array,
      vT!.dataSync() as Float32Array,
      aT!.dataSync() as Float32Array,
      s0T!.dataSync() as Float32Array,
    );
    return {
      value: tf.tensor3d(scan.out, [B, H, T * dv + dk * dv]),
      gradFunc: (dyT: tf.Tensor) => {
        const g = scan.backward(dyT.dataSync() as Float32Array);
        return [
          tf.tensor(g.dq, qT!.shape),
          tf.tensor(g.dk, kT!.shape),
          tf.tensor(g.dv, vT!.shape),
          tf.tensor(g.dLogAlpha, aT!.shape),
          tf.tensor(g.dInitialState, s0T!.shape),
        ];
      },
    };
  });
  return unpack(op(query, key, value, logAlphaIn, s0In) as tf.Tensor3D, T, dk, dv);
}

/** Sizes of one fused scan: value [B, H, T, dv], key/query heads (1 when shared by every head), the decay's kind. */
export interface FusedScanDims {
  readonly B: number;
  readonly H: number;
  readonly T: number;
  readonly dk: number;
  readonly dv: number;
  readonly kind: "none" | "scalar" | "diagonal";
  readonly queryHeads: number;
  readonly keyHeads: number;
}

/** The gradients of a fused scan, each laid out as its input. */
export interface FusedScanGradients {
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
  readonly dLogAlpha: Float32Array;
  readonly dInitialState: Float32Array;
}

/**
 * The fused scan on Float32Arrays: `out` is the packed [B, H, T·d_v + d_k·d_v] readouts and final state;
 * `backward(dy)` takes the packed gradient of `out` and returns every input's gradient. `la` is the log-decay
 * ([B, H, T] for "none" and "scalar", [B, H, T, d_k] for "diagonal"; ignored for "none").
 */
export function fusedScanArrays(
  dims: FusedScanDims,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  la: Float32Array,
  s0: Float32Array,
): { out: Float32Array; backward(dy: Float32Array): FusedScanGradients } {
  const { B, H, T, dk, dv, kind, queryHeads: hq, keyHeads: hk } = dims;
  // α per step (and per key channel for a diagonal decay), exponentiated once.
  const perStep = kind === "diagonal" ? dk : 1;
  const alpha = new Float32Array(la.length);
  for (let i = 0; i < la.length; i++) alpha[i] = kind === "none" ? 1 : Math.exp(la[i]!);
  // q and k may have one head shared by all heads (Mamba2's B and C): index them by their own head count.
  const headOf = (lane: number, heads: number) => (heads === 1 ? Math.floor(lane / H) : lane);
  // Gradient accumulators, allocated when the backward pass runs.
  let dkk = new Float32Array(0);
  let dvv = new Float32Array(0);
  let dla = new Float32Array(0);

  const recurrence: LaneRecurrence = {
    lanes: B * H,
    steps: T,
    dk,
    dv,
    queryOffset: (lane, t) => (headOf(lane, hq) * T + t) * dk,
    advance(src, srcAt, dst, dstAt, lane, t) {
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
    },
    advanceAndRead(S, lane, t, qs, qo, out, oo) {
      const ao = (lane * T + t) * perStep;
      const ko = (headOf(lane, hk) * T + t) * dk;
      const vo = (lane * T + t) * dv;
      for (let i = 0; i < dk; i++) {
        const a = alpha[perStep === 1 ? ao : ao + i]!;
        const ki = k[ko + i]!;
        const qi = qs[qo + i]!;
        const row = i * dv;
        for (let j = 0; j < dv; j++) {
          const s = a * S[row + j]! + ki * v[vo + j]!;
          S[row + j] = s;
          out[oo + j] = out[oo + j]! + s * qi;
        }
      }
    },
    readoutAdjoint(states, prevAt, curAt, dS, lane, t, qs, qo, dy, oo, dq) {
      const ko = (headOf(lane, hk) * T + t) * dk;
      const vo = (lane * T + t) * dv;
      const ao = (lane * T + t) * perStep;
      for (let i = 0; i < dk; i++) {
        const ki = k[ko + i]!;
        const qi = qs[qo + i]!;
        const ai = perStep === 1 ? ao : ao + i;
        const a = alpha[ai]!;
        const row = i * dv;
        let gq = 0;
        let gk = 0;
        let gAlpha = 0;
        for (let j = 0; j < dv; j++) {
          const g = dy[oo + j]!;
          const d = dS[row + j]! + qi * g;
          gq += states[curAt + row + j]! * g;
          gk += d * v[vo + j]!;
          dvv[vo + j] = dvv[vo + j]! + d * ki;
          gAlpha += d * states[prevAt + row + j]!;
          dS[row + j] = a * d;
        }
        dq[qo + i] = dq[qo + i]! + gq;
        dkk[ko + i] = dkk[ko + i]! + gk;
        dla[ai] = dla[ai]! + a * gAlpha;
      }
    },
    adjoint(states, prevAt, _curAt, dS, lane, t) {
      const ko = (headOf(lane, hk) * T + t) * dk;
      const vo = (lane * T + t) * dv;
      const ao = (lane * T + t) * perStep;
      for (let i = 0; i < dk; i++) {
        const ki = k[ko + i]!;
        const ai = perStep === 1 ? ao : ao + i;
        const a = alpha[ai]!;
        const row = i * dv;
        let gk = 0;
        let gAlpha = 0;
        for (let j = 0; j < dv; j++) {
          const d = dS[row + j]!;
          gk += d * v[vo + j]!;
          dvv[vo + j] = dvv[vo + j]! + d * ki;
          gAlpha += d * states[prevAt + row + j]!;
          dS[row + j] = a * d;
        }
        dkk[ko + i] = dkk[ko + i]! + gk;
        dla[ai] = dla[ai]! + a * gAlpha;
      }
    },
  };
  const { out, saved } = scanLanesForward(recurrence, q, s0);
  return {
    out,
    backward(dy: Float32Array): FusedScanGradients {
      const dq = new Float32Array(q.length);
      dkk = new Float32Array(k.length);
      dvv = new Float32Array(v.length);
      dla = new Float32Array(la.length);
      const ds0 = scanLanesBackward(recurrence, q, saved, dy, dq);
      return { dq, dk: dkk, dv: dvv, dLogAlpha: kind === "none" ? new Float32Array(la.length) : dla, dInitialState: ds0 };
    },
  };
}
