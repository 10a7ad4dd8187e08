import { tf } from "./tf.js";
import { sumOfTensors } from "./nn/layers.js";
import { adamStepsInPlace } from "./optim-in-place.js";
import { adamStep, squaredGlobalNorm } from "./optim-kernel.js";

/** Linear warm-up from 0 to `peak` over `warmup` steps, then cosine decay to 0 at `total` (docs/spec/TASKS.md §5). */
export function learningRateAt(step: number, peak: number, warmup: number, total: number): number {
  if (warmup > 0 && step < warmup) return (peak * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/**
 * Global L2 norm of the gradients and the gradients clipped to `maxNorm` (scaled by maxNorm / norm when above).
 * Asynchronous: the norm is read back with data(), as the webgpu backend cannot read synchronously in Node.
 */
export async function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): Promise<{ grads: tf.NamedTensorMap; norm: number }> {
  const names = Object.keys(grads);
  const squared = tf.tidy(() => sumOfTensors(names.map((n) => tf.sum(tf.square(grads[n]!)))));
  const norm = Math.sqrt((await squared.data())[0]!);
  squared.dispose();
  if (!(maxNorm > 0) || !Number.isFinite(norm) || norm <= maxNorm) return { grads, norm };
  const scale = maxNorm / (norm + 1e-6);
  const out: tf.NamedTensorMap = {};
  for (const n of names) {
    out[n] = tf.mul(grads[n]!, scale);
    grads[n]!.dispose();
  }
  return { grads: out, norm };
}

/** Adam (no weight decay), with state that can be saved and restored. */
export class Adam {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

  constructor(
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-8,
  ) {}

  get stepCount(): number {
    return this.t;
  }

  /** Applies one update; `variables` maps the names used in `grads` to the variables. */
  apply(variables: ReadonlyMap<string, tf.Variable>, grads: tf.NamedTensorMap, lr: number): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const variable = variables.get(name);
        if (!variable || !g) continue;
        let m = this.m.get(name);
        let v = this.v.get(name);
        if (!m || !v) {
          m = tf.variable(tf.zerosLike(variable), false);
          v = tf.variable(tf.zerosLike(variable), false);
          this.m.set(name, m);
          this.v.set(name, v);
        }
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const update = tf.div(tf.mul(m, lr / c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        variable.assign(tf.sub(variable, update));
      }
    });
  }

  /**
   * Global-norm clipping and this update as registered kernels (./optim-kernel.ts), with nothing read back: the
   * gradients are clipped to `maxNorm` (0: not clipped) and the step is skipped on the device when `loss` or the
   * norm is not finite. Returns ‖g‖² (a [1] tensor the caller reads and disposes). The step counts as taken; call
   * `uncountStep()` when the readback shows that it was skipped.
   */
  applyClipped(
    variables: ReadonlyMap<string, tf.Variable>,
    grads: tf.NamedTensorMap,
    lr: number,
    maxNorm: number,
    loss: tf.Tensor,
  ): tf.Tensor1D {
    const names = Object.keys(grads).filter((n) => variables.has(n) && grads[n]);
    const squaredNorm = squaredGlobalNorm(names.map((n) => grads[n]!));
    this.t++;
    const attrs = {
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      stepSize: lr / (1 - this.beta1 ** this.t),
      secondCorrection: 1 - this.beta2 ** this.t,
      maxNorm: maxNorm > 0 ? maxNorm : 0,
    };
    tf.tidy(() => {
      const loss1 = tf.reshape(loss, [1]) as tf.Tensor1D;
      const slots = names.map((name) => {
        const variable = variables.get(name)!;
        let m = this.m.get(name);
        let v = this.v.get(name);
        if (!m || !v) {
          m = tf.variable(tf.zerosLike(variable), false);
          v = tf.variable(tf.zerosLike(variable), false);
          this.m.set(name, m);
          this.v.set(name, v);
        }
        return { param: variable, gradient: grads[name]!, firstMoment: m, secondMoment: v };
      });
      const notInPlace = new Set(adamStepsInPlace(slots, squaredNorm, loss1, attrs));
      for (const s of slots.filter((slot) => notInPlace.has(slot))) {
        const [p2, m2, v2] = adamStep(s.param, s.gradient, s.firstMoment, s.secondMoment, squaredNorm, loss1, attrs);
        s.param.assign(p2);
        s.firstMoment.assign(m2);
        s.secondMoment.assign(v2);
      }
    });
    return squaredNorm;
  }

  /** Takes back the step count of an applyClipped step that the device skipped (loss or norm not finite). */
  uncountStep(): void {
    this.t--;
  }

  /** Moments by parameter name, for checkpoints. */
  async getState(): Promise<{ step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }> {
    const read = async (src: Map<string, tf.Variable>) =>
      new Map(await Promise.all([...src].map(async ([k, x]) => [k, (await x.data()) as Float32Array] as const)));
    return { step: this.t, m: await read(this.m), v: await read(this.v) };
  }

  setState(
    state: { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> },
    shapes: ReadonlyMap<string, number[]>,
  ): void {
    this.dispose();
    this.t = state.step;
    for (const [name, values] of state.m) {
      const shape = shapes.get(name);
      const v = state.v.get(name);
      if (!shape || !v) continue;
      // tidy frees the tensors the moments start from: each moment is its buffer's only holder.
      this.m.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(values, shape), false)),
      );
      this.v.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(v, shape), false)),
      );
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
