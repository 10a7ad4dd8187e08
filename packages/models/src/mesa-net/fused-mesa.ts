import { tf } from "@selectiv/core";
import { CG_EPSILON, type MesaInputs } from "./recurrence.js";

/** Steps between the states the backward pass restarts from (states inside a segment are recomputed). */
const SEGMENT = 32;

/** out[at + i] = Σ_j m[mAt + i·n + j] · v[vAt + j] for an n × n matrix m; four rows per pass over v. */
function matrixVector(out: Float64Array, at: number, m: Float64Array, mAt: number, n: number, v: Float64Array, vAt: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = mAt + i * n;
    const [r1, r2, r3] = [r0 + n, r0 + 2 * n, r0 + 3 * n];
    let [a0, a1, a2, a3] = [0, 0, 0, 0];
    for (let j = 0; j < n; j++) {
      const vj = v[vAt + j]!;
      a0 += m[r0 + j]! * vj;
      a1 += m[r1 + j]! * vj;
      a2 += m[r2 + j]! * vj;
      a3 += m[r3 + j]! * vj;
    }
    out[at + i] = a0;
    out[at + i + 1] = a1;
    out[at + i + 2] = a2;
    out[at + i + 3] = a3;
  }
  for (; i < n; i++) {
    const r = mAt + i * n;
    let a = 0;
    for (let j = 0; j < n; j++) a += m[r + j]! * v[vAt + j]!;
    out[at + i] = a;
  }
}

/** m[i·n + j] += u[i] · v[vAt + j] for i, j < n; four rows per pass over v. */
function addOuterProduct(m: Float64Array, u: Float64Array, v: Float64Array, vAt: number, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const [u0, u1, u2, u3] = [u[i]!, u[i + 1]!, u[i + 2]!, u[i + 3]!];
    const r0 = i * n;
    const [r1, r2, r3] = [r0 + n, r0 + 2 * n, r0 + 3 * n];
    for (let j = 0; j < n; j++) {
      const vj = v[vAt + j]!;
      m[r0 + j] = m[r0 + j]! + u0 * vj;
      m[r1 + j] = m[r1 + j]! + u1 * vj;
      m[r2 + j] = m[r2 + j]! + u2 * vj;
      m[r3 + j] = m[r3 + j]! + u3 * vj;
    }
  }
  for (; i < n; i++) {
    const r = i * n;
    for (let j = 0; j < n; j++) m[r + j] = m[r + j]! + u[i]! * v[vAt + j]!;
  }
}

/**
 * One lane's conjugate-gradient solve of (G + Diag λ) x = q with every iterate recorded, so the backward pass can
 * run the unrolled iteration in reverse. Step i records p_i, w_i = (G + Diag λ) p_i, r_{i+1}, δ_i = r_i·r_i,
 * s_i = p_i·w_i + ε, a_i = δ_i/s_i and c_i = δ_{i+1}/(δ_i + ε).
 */
class ConjugateGradient {
  readonly x: Float64Array;
  private readonly r: Float64Array;
  private readonly p: Float64Array;
  readonly ps: Float64Array;
  readonly ws: Float64Array;
  readonly rs: Float64Array;
  readonly deltas: Float64Array;
  readonly denominators: Float64Array;
  readonly steps: Float64Array;
  readonly ratios: Float64Array;

  constructor(
    private readonly dim: number,
    readonly iterations: number,
  ) {
    this.x = new Float64Array(dim);
    this.r = new Float64Array(dim);
    this.p = new Float64Array(dim);
    this.ps = new Float64Array(iterations * dim);
    this.ws = new Float64Array(iterations * dim);
    this.rs = new Float64Array((iterations + 1) * dim);
    this.deltas = new Float64Array(iterations + 1);
    this.denominators = new Float64Array(iterations);
    this.steps = new Float64Array(iterations);
    this.ratios = new Float64Array(iterations);
  }

  /** x ≈ (G + Diag λ)⁻¹ q from x = 0 (G at g[gAt..], λ at lambda[lAt..], q at q[qAt..]). */
  solve(g: Float64Array, gAt: number, lambda: Float32Array, lAt: number, q: Float32Array, qAt: number): void {
    const n = this.dim;
    const { x, r, p, ps, ws, rs } = this;
    let delta = 0;
    for (let i = 0; i < n; i++) {
      const qi = q[qAt + i]!;
      x[i] = 0;
      r[i] = qi;
      p[i] = qi;
      rs[i] = qi;
      delta += qi * qi;
    }
    this.deltas[0] = delta;
    for (let it = 0; it < this.iterations; it++) {
      const off = it * n;
      matrixVector(ws, off, g, gAt, n, p, 0);
      let pw = 0;
      for (let i = 0; i < n; i++) {
        const wi = ws[off + i]! + lambda[lAt + i]! * p[i]!;
        ws[off + i] = wi;
        ps[off + i] = p[i]!;
        pw += p[i]! * wi;
      }
      const denominator = pw + CG_EPSILON;
      const step = delta / denominator;
      let next = 0;
      for (let i = 0; i < n; i++) {
        x[i] = x[i]! + step * p[i]!;
        const ri = r[i]! - step * ws[off + i]!;
        r[i] = ri;
        rs[off + n + i] = ri;
        next += ri * ri;
      }
      const ratio = next / (delta + CG_EPSILON);
      for (let i = 0; i < n; i++) p[i] = r[i]! + ratio * p[i]!;
      this.denominators[it] = denominator;
      this.steps[it] = step;
      this.ratios[it] = ratio;
      this.deltas[it + 1] = next;
      delta = next;
    }
  }

  /**
   * Reverse mode through the recorded iteration, given x̄ = ∂L/∂x: adds ∂L/∂q to dq[qAt..], ∂L/∂G (the full,
   * unsymmetrised w̄ pᵀ sums) to dG[0..] and ∂L/∂λ to dLambda[lAt..]. Per step, in reverse:
   *   p' = r' + c p:  r̄' += p̄', c̄ = p̄'·p, p̄ = c p̄';   c = δ'/(δ + ε):  δ̄' += c̄/(δ + ε), δ̄ = −c̄ c/(δ + ε);
   *   δ' = r'·r':  r̄' += 2δ̄' r';   r' = r − a w:  ā = −r̄'·w, w̄ = −a r̄';   x' = x + a p:  ā += x̄·p, p̄ += a x̄;
   *   a = δ/s:  δ̄ += ā/s, s̄ = −ā a/s;   s = p·w + ε:  p̄ += s̄ w, w̄ += s̄ p;
   *   w = (G + Diag λ) p:  Ḡ += w̄ pᵀ, λ̄ += w̄ ⊙ p, p̄ += (G + Diag λ) w̄.
   * Finally r_0 = p_0 = q and δ_0 = q·q give q̄ = r̄_0 + p̄_0 + 2δ̄_0 q.
   */
  backward(
    xBar: Float64Array,
    g: Float64Array,
    gAt: number,
    lambda: Float32Array,
    lAt: number,
    q: Float32Array,
    qAt: number,
    dG: Float64Array,
    dq: Float32Array,
    dLambda: Float32Array,
    scratch: { rBar: Float64Array; pBar: Float64Array; wBar: Float64Array; product: Float64Array },
  ): void {
    const n = this.dim;
    const { rBar, pBar, wBar } = scratch;
    rBar.fill(0);
    pBar.fill(0);
    let deltaBar = 0;
    for (let it = this.iterations - 1; it >= 0; it--) {
      const off = it * n;
      const rNext = off + n;
      const delta = this.deltas[it]!;
      const ratio = this.ratios[it]!;
      const step = this.steps[it]!;
      const denominator = this.denominators[it]!;
      let ratioBar = 0;
      for (let i = 0; i < n; i++) {
        ratioBar += pBar[i]! * this.ps[off + i]!;
        rBar[i] = rBar[i]! + pBar[i]!;
      }
      const nextDeltaBar = deltaBar + ratioBar / (delta + CG_EPSILON);
      let deltaBarHere = (-ratioBar * ratio) / (delta + CG_EPSILON);
      let stepBar = 0;
      for (let i = 0; i < n; i++) {
        const rb = rBar[i]! + 2 * nextDeltaBar * this.rs[rNext + i]!;
        rBar[i] = rb;
        stepBar += xBar[i]! * this.ps[off + i]! - rb * this.ws[off + i]!;
      }
      deltaBarHere += stepBar / denominator;
      const denominatorBar = (-stepBar * step) / denominator;
      for (let i = 0; i < n; i++) {
        const pi = this.ps[off + i]!;
        wBar[i] = -step * rBar[i]! + denominatorBar * pi;
        pBar[i] = ratio * pBar[i]! + step * xBar[i]! + denominatorBar * this.ws[off + i]!;
      }
      addOuterProduct(dG, wBar, this.ps, off, n);
      // (G + Diag λ)ᵀ w̄ = G w̄ + λ ⊙ w̄, G being symmetric.
      matrixVector(scratch.product, 0, g, gAt, n, wBar, 0);
      for (let i = 0; i < n; i++) {
        const wb = wBar[i]!;
        dLambda[lAt + i] = dLambda[lAt + i]! + wb * this.ps[off + i]!;
        pBar[i] = pBar[i]! + scratch.product[i]! + lambda[lAt + i]! * wb;
      }
      deltaBar = deltaBarHere;
    }
    for (let i = 0; i < n; i++) {
      const qi = q[qAt + i]!;
      dq[qAt + i] = dq[qAt + i]! + rBar[i]! + pBar[i]! + 2 * deltaBar * qi;
    }
  }
}

/**
 * MesaNet's recurrence (recurrence.ts, docs/spec/MODELS.md §3.6) as one fused op over Float32Arrays, lane (batch, head) by
 * lane, with a hand-written gradient through the unrolled conjugate-gradient steps, so it equals the gradient
 * of the stepwise oracle (not the implicit-function gradient of an exact solve, which differs when 30 steps do
 * not converge). Forward keeps nothing but the inputs; backward reruns the state recurrence per lane keeping
 * G, M every SEGMENT steps, recomputes each segment's states and each position's CG iterates, and runs:
 *   x̄_t = M_t do_t,  dM_t += x_t do_tᵀ,  CG reverse → q̄_t, dG_t, λ̄;
 *   β̄_t = k_tᵀ dG_t k_t + k_tᵀ dM_t v_t,  k̄_t = β_t (dG_t + dG_tᵀ) k_t + β_t dM_t v_t,  v̄_t = β_t dM_tᵀ k_t,
 *   d log α_t = α_t (⟨dG_t, G_{t−1}⟩ + ⟨dM_t, M_{t−1}⟩),  dG_{t−1} = α_t dG_t,  dM_{t−1} = α_t dM_t.
 */
export function fusedMesaRecurrence(inputs: MesaInputs, cgSteps: number): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qT, kT, vT, laT, betaT, lambdaT] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D];
    const [B, H, T, dk] = kT.shape;
    const dv = vT.shape[3];
    const q = qT.dataSync() as Float32Array;
    const k = kT.dataSync() as Float32Array;
    const v = vT.dataSync() as Float32Array;
    const la = laT.dataSync() as Float32Array;
    const beta = betaT.dataSync() as Float32Array;
    const lambda = lambdaT.dataSync() as Float32Array;
    const [sizeG, sizeM] = [dk * dk, dk * dv];
    const lanes = B * H;
    const cg = new ConjugateGradient(dk, cgSteps);

    /** G, M ← α G + β k kᵀ, α M + β k vᵀ from (src at srcAt) into (dst at dstAt); regions may coincide. */
    const advance = (
      srcG: Float64Array,
      srcM: Float64Array,
      srcAt: number,
      dstG: Float64Array,
      dstM: Float64Array,
      dstAt: number,
      lane: number,
      t: number,
    ): void => {
      const at = lane * T + t;
      const alpha = Math.exp(la[at]!);
      const b = beta[at]!;
      const ko = at * dk;
      const vo = at * dv;
      for (let i = 0; i < dk; i++) {
        const bk = b * k[ko + i]!;
        const gRow = i * dk;
        for (let j = 0; j < dk; j++) dstG[dstAt * sizeG + gRow + j] = alpha * srcG[srcAt * sizeG + gRow + j]! + bk * k[ko + j]!;
        const mRow = i * dv;
        for (let j = 0; j < dv; j++) dstM[dstAt * sizeM + mRow + j] = alpha * srcM[srcAt * sizeM + mRow + j]! + bk * v[vo + j]!;
      }
    };

    const out = new Float32Array(lanes * T * dv);
    const g = new Float64Array(sizeG);
    const m = new Float64Array(sizeM);
    for (let lane = 0; lane < lanes; lane++) {
      g.fill(0);
      m.fill(0);
      const lAt = (lane % H) * dk;
      for (let t = 0; t < T; t++) {
        advance(g, m, 0, g, m, 0, lane, t);
        cg.solve(g, 0, lambda, lAt, q, (lane * T + t) * dk);
        const oo = (lane * T + t) * dv;
        for (let i = 0; i < dk; i++) {
          const xi = cg.x[i]!;
          const row = i * dv;
          for (let j = 0; j < dv; j++) out[oo + j] = out[oo + j]! + xi * m[row + j]!;
        }
      }
    }

    return {
      value: tf.tensor4d(out, [B, H, T, dv]),
      gradFunc: (dyT: tf.Tensor) => {
        const dy = dyT.dataSync() as Float32Array;
        const dq = new Float32Array(q.length);
        const dkk = new Float32Array(k.length);
        const dvv = new Float32Array(v.length);
        const dla = new Float32Array(la.length);
        const dbeta = new Float32Array(beta.length);
        const dLambda = new Float32Array(lambda.length);
        const segments = Math.ceil(T / SEGMENT);
        const savedG = new Float64Array(segments * sizeG);
        const savedM = new Float64Array(segments * sizeM);
        // states*[r] = the state after step t0 + r − 1 of the current segment (row 0 enters the segment).
        const statesG = new Float64Array((SEGMENT + 1) * sizeG);
        const statesM = new Float64Array((SEGMENT + 1) * sizeM);
        const dG = new Float64Array(sizeG);
        const dM = new Float64Array(sizeM);
        const xBar = new Float64Array(dk);
        const scratch = {
          rBar: new Float64Array(dk),
          pBar: new Float64Array(dk),
          wBar: new Float64Array(dk),
          product: new Float64Array(dk),
        };
        for (let lane = 0; lane < lanes; lane++) {
          const lAt = (lane % H) * dk;
          g.fill(0);
          m.fill(0);
          for (let t = 0; t < T; t++) {
            if (t % SEGMENT === 0) {
              savedG.set(g, (t / SEGMENT) * sizeG);
              savedM.set(m, (t / SEGMENT) * sizeM);
            }
            advance(g, m, 0, g, m, 0, lane, t);
          }
          dG.fill(0);
          dM.fill(0);
          for (let seg = segments - 1; seg >= 0; seg--) {
            const t0 = seg * SEGMENT;
            const t1 = Math.min(T, t0 + SEGMENT);
            statesG.set(savedG.subarray(seg * sizeG, (seg + 1) * sizeG), 0);
            statesM.set(savedM.subarray(seg * sizeM, (seg + 1) * sizeM), 0);
            for (let t = t0; t < t1; t++) advance(statesG, statesM, t - t0, statesG, statesM, t - t0 + 1, lane, t);
            for (let t = t1 - 1; t >= t0; t--) {
              const at = lane * T + t;
              const [cur, prev] = [t - t0 + 1, t - t0];
              const [qo, ko, vo] = [at * dk, at * dk, at * dv];
              cg.solve(statesG, cur * sizeG, lambda, lAt, q, qo);
              // o = Mᵀx: x̄ = M do, dM += x doᵀ.
              for (let i = 0; i < dk; i++) {
                const row = cur * sizeM + i * dv;
                const xi = cg.x[i]!;
                let acc = 0;
                for (let j = 0; j < dv; j++) {
                  const dyj = dy[vo + j]!;
                  acc += statesM[row + j]! * dyj;
                  dM[i * dv + j] = dM[i * dv + j]! + xi * dyj;
                }
                xBar[i] = acc;
              }
              cg.backward(xBar, statesG, cur * sizeG, lambda, lAt, q, qo, dG, dq, dLambda, scratch);
              // The state update G_t = α G_{t−1} + β k kᵀ, M_t = α M_{t−1} + β k vᵀ, in reverse.
              const alpha = Math.exp(la[at]!);
              const b = beta[at]!;
              let betaBar = 0;
              let alphaBar = 0;
              for (let i = 0; i < dk; i++) {
                const ki = k[ko + i]!;
                let fromG = 0;
                for (let j = 0; j < dk; j++) {
                  const sym = dG[i * dk + j]! + dG[j * dk + i]!;
                  fromG += sym * k[ko + j]!;
                  betaBar += ki * dG[i * dk + j]! * k[ko + j]!;
                  alphaBar += dG[i * dk + j]! * statesG[prev * sizeG + i * dk + j]!;
                }
                let fromM = 0;
                for (let j = 0; j < dv; j++) {
                  const dmij = dM[i * dv + j]!;
                  fromM += dmij * v[vo + j]!;
                  dvv[vo + j] = dvv[vo + j]! + b * dmij * ki;
                  alphaBar += dmij * statesM[prev * sizeM + i * dv + j]!;
                }
                betaBar += ki * fromM;
                dkk[ko + i] = dkk[ko + i]! + b * (fromG + fromM);
              }
              dbeta[at] = betaBar;
              dla[at] = alpha * alphaBar;
              for (let i = 0; i < sizeG; i++) dG[i] = alpha * dG[i]!;
              for (let i = 0; i < sizeM; i++) dM[i] = alpha * dM[i]!;
            }
          }
        }
        return [
          tf.tensor4d(dq, qT.shape),
          tf.tensor4d(dkk, kT.shape),
          tf.tensor4d(dvv, vT.shape),
          tf.tensor3d(dla, laT.shape),
          tf.tensor3d(dbeta, betaT.shape),
          tf.tensor2d(dLambda, lambdaT.shape),
        ];
      },
    };
  });
  const { query, key, value, logAlpha, beta, lambda } = inputs;
  return op(query, key, value, logAlpha, beta, lambda) as tf.Tensor4D;
}
