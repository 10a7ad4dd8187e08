/**
 * The scaffolding shared by the fused CPU kernels: a recurrence over T steps run independently per lane
 * (batch × head) on Float32Arrays, with a key-major state of d_k × d_v and the readout o_t = S_tᵀ q_t.
 * The forward pass keeps the state every SEGMENT steps; the backward pass recomputes the states of one segment
 * at a time from there and walks it backwards, so memory is O(T / SEGMENT · d_k·d_v) per lane.
 */
export const SEGMENT = 32;

export interface LaneRecurrence {
  readonly lanes: number;
  readonly steps: number;
  readonly dk: number;
  readonly dv: number;
  /** Offset of q_t of `lane` in the query array (lets a shared query head serve every head). */
  queryOffset(lane: number, t: number): number;
  /** dst ← the state after step t, from src = the state before it (the two regions may coincide). */
  advance(src: Float32Array, srcAt: number, dst: Float32Array, dstAt: number, lane: number, t: number): void;
  /**
   * Optional, for speed: `advance` in place on S (at offset 0) and the readout o_t = S_tᵀ q_t added to
   * out[outAt .. outAt + d_v), in one pass over the state (half the memory traffic of advance + a readout loop).
   */
  advanceAndRead?(S: Float32Array, lane: number, t: number, q: Float32Array, queryAt: number, out: Float32Array, outAt: number): void;
  /**
   * Backward through the update of step t: `dS` holds ∂L/∂S_t including the readout's share; accumulate the
   * step's input gradients and leave ∂L/∂S_{t−1} in `dS`. `states[prevAt]` is S_{t−1}, `states[curAt]` is S_t.
   */
  adjoint(states: Float32Array, prevAt: number, curAt: number, dS: Float32Array, lane: number, t: number): void;
  /**
   * Optional, for speed: the readout's share (dS += q_t do_tᵀ, dq_t += S_t do_t) and then `adjoint`, in one pass
   * over the state. `dy[outAt ..]` is do_t.
   */
  readoutAdjoint?(
    states: Float32Array,
    prevAt: number,
    curAt: number,
    dS: Float32Array,
    lane: number,
    t: number,
    q: Float32Array,
    queryAt: number,
    dy: Float32Array,
    outAt: number,
    dq: Float32Array,
  ): void;
}

/** Forward: outputs [lanes, T·d_v + d_k·d_v] (the readouts, then the final state) and the saved states. */
export function scanLanesForward(r: LaneRecurrence, q: Float32Array, s0: Float32Array): { out: Float32Array; saved: Float32Array } {
  const { lanes, steps: T, dk, dv } = r;
  const sizeS = dk * dv;
  const segments = Math.ceil(T / SEGMENT);
  const out = new Float32Array(lanes * (T * dv + sizeS));
  const saved = new Float32Array(lanes * segments * sizeS);
  const S = new Float32Array(sizeS);
  for (let lane = 0; lane < lanes; lane++) {
    S.set(s0.subarray(lane * sizeS, (lane + 1) * sizeS));
    const base = lane * (T * dv + sizeS);
    for (let t = 0; t < T; t++) {
      if (t % SEGMENT === 0) saved.set(S, (lane * segments + t / SEGMENT) * sizeS);
      const qo = r.queryOffset(lane, t);
      const oo = base + t * dv;
      if (r.advanceAndRead) {
        r.advanceAndRead(S, lane, t, q, qo, out, oo);
        continue;
      }
      r.advance(S, 0, S, 0, lane, t);
      for (let i = 0; i < dk; i++) {
        const qi = q[qo + i]!;
        const row = i * dv;
        for (let j = 0; j < dv; j++) out[oo + j] = out[oo + j]! + S[row + j]! * qi;
      }
    }
    out.set(S, base + T * dv);
  }
  return { out, saved };
}

/**
 * Backward: walks every lane from its end. The readout's share (dS += q doᵀ, dq += S_t do) is done here;
 * `r.adjoint` handles the update. Returns ∂L/∂S_0 per lane; accumulates dq.
 */
export function scanLanesBackward(
  r: LaneRecurrence,
  q: Float32Array,
  saved: Float32Array,
  dy: Float32Array,
  dq: Float32Array,
): Float32Array {
  const { lanes, steps: T, dk, dv } = r;
  const sizeS = dk * dv;
  const segments = Math.ceil(T / SEGMENT);
  const ds0 = new Float32Array(lanes * sizeS);
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
      for (let t = t0; t < t1; t++) r.advance(states, (t - t0) * sizeS, states, (t - t0 + 1) * sizeS, lane, t);
      for (let t = t1 - 1; t >= t0; t--) {
        const cur = (t - t0 + 1) * sizeS;
        const qo = r.queryOffset(lane, t);
        const oo = base + t * dv;
        if (r.readoutAdjoint) {
          r.readoutAdjoint(states, cur - sizeS, cur, dS, lane, t, q, qo, dy, oo, dq);
          continue;
        }
        for (let i = 0; i < dk; i++) {
          const qi = q[qo + i]!;
          const row = i * dv;
          let gq = 0;
          for (let j = 0; j < dv; j++) {
            const g = dy[oo + j]!;
            dS[row + j] = dS[row + j]! + qi * g;
            gq += states[cur + row + j]! * g;
          }
          dq[qo + i] = dq[qo + i]! + gq;
        }
        r.adjoint(states, cur - sizeS, cur, dS, lane, t);
      }
    }
    ds0.set(dS, lane * sizeS);
  }
  return ds0;
}
