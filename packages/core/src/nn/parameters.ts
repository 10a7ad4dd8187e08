import { Rng, hashSeed } from "../rng.js";
import { tf } from "../tf.js";

/** Fills `size` initial values. Each parameter gets its own Rng, seeded from (model seed, parameter name). */
export type Initializer = (rng: Rng, size: number) => Float32Array;

export const init = {
  uniform(lo: number, hi: number): Initializer {
    return (rng, size) => {
      const a = new Float32Array(size);
      for (let i = 0; i < size; i++) a[i] = lo + (hi - lo) * rng.next();
      return a;
    };
  },
  /** PyTorch's default for Linear/Conv1d weights and biases: U(−1/√fan_in, 1/√fan_in). */
  fanIn(fanIn: number): Initializer {
    const b = 1 / Math.sqrt(fanIn);
    return init.uniform(-b, b);
  },
  constant(value: number): Initializer {
    return (_rng, size) => new Float32Array(size).fill(value);
  },
  normal(std: number): Initializer {
    return (rng, size) => {
      const a = new Float32Array(size);
      for (let i = 0; i < size; i++) a[i] = std * rng.normal();
      return a;
    };
  },
  /** Values computed per element index (e.g. A_log[e, n] = log(n + 1)). */
  byIndex(f: (index: number, rng: Rng) => number): Initializer {
    return (rng, size) => {
      const a = new Float32Array(size);
      for (let i = 0; i < size; i++) a[i] = f(i, rng);
      return a;
    };
  },
};

// TF.js variable names are global to the engine: make them unique across stores.
let variableSerial = 0;

/** Owns a model's trainable variables, by dotted name. Initial values depend only on (seed, name). */
export class ParameterStore {
  private readonly vars = new Map<string, tf.Variable>();

  constructor(readonly seed: number) {}

  scope(prefix = ""): ParameterScope {
    return new ParameterScope(this, prefix);
  }

  create(name: string, shape: number[], initializer: Initializer): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} is created twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = initializer(new Rng(hashSeed(this.seed, "init", name)), size);
    // tidy frees the initial tensor (the variable keeps the buffer), so the variable is the buffer's only holder.
    const v = tf.tidy(() => tf.variable(tf.tensor(values, shape, "float32"), true, `${name}#${variableSerial++}`));
    this.vars.set(name, v);
    return v;
  }

  get names(): string[] {
    return [...this.vars.keys()];
  }

  get variables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  entries(): [string, tf.Variable][] {
    return [...this.vars.entries()];
  }

  /** Total trainable scalars. */
  count(prefix = ""): number {
    let n = 0;
    for (const [name, v] of this.vars) if (name.startsWith(prefix)) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** A view of a ParameterStore under a name prefix, handed to layer factories. */
export class ParameterScope {
  constructor(
    private readonly store: ParameterStore,
    readonly prefix: string,
  ) {}

  child(name: string): ParameterScope {
    return new ParameterScope(this.store, this.path(name));
  }

  variable(name: string, shape: number[], initializer: Initializer): tf.Variable {
    return this.store.create(this.path(name), shape, initializer);
  }

  /** Trainable scalars created under this scope so far. */
  count(): number {
    return this.store.count(this.prefix === "" ? "" : `${this.prefix}.`);
  }

  private path(name: string): string {
    return this.prefix === "" ? name : `${this.prefix}.${name}`;
  }
}
