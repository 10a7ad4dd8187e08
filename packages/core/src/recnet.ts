import { hashSeed } from "./rng.js";
import type { Config } from "./config.js";
import { type ForwardOptions, type LayerState, type ModelDefinition, type SequenceLayer, dropoutActive } from "./model.js";
import { LayerNorm, Linear, dropout } from "./nn/layers.js";
import { ParameterStore } from "./nn/parameters.js";
import { tf } from "./tf.js";

/**
 * Heads for width d (docs/spec/MODELS.md §0, the reference's get_num_heads with max head size 128): 4 while d/4 ≤ 128,
 * else the smallest power of two ≥ 4 that divides d with d/H ≤ 128.
 */
export function headsForWidth(d: number, maxHeadSize = 128): number {
  if (d / 128 <= 4) return 4;
  for (let h = 4; h <= d; h *= 2) if (d % h === 0 && d / h <= maxHeadSize) return h;
  return d;
}

export interface RecNetShape {
  readonly inputSize: number;
  readonly numClasses: number;
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  readonly dropout: number;
}

/**
 * The reference's RecNet wrapper (docs/spec/MODELS.md §1): Linear encoder, then per layer the post-norm residual
 * h ← LayerNorm(h + Dropout(Layer(h))), then a Linear decoder at every step. The layers come from any
 * registered ModelDefinition.
 */
export class RecNet {
  readonly store: ParameterStore;
  private readonly encoder: Linear;
  private readonly blocks: SequenceLayer[] = [];
  private readonly norms: LayerNorm[] = [];
  private readonly decoder: Linear;

  constructor(
    readonly definition: ModelDefinition,
    readonly config: Config,
    readonly shape: RecNetShape,
    readonly seed: number,
  ) {
    this.store = new ParameterStore(seed);
    const root = this.store.scope();
    this.encoder = new Linear(root, "encoder", shape.inputSize, shape.width, { bias: true });
    for (let l = 0; l < shape.layers; l++) {
      const scope = root.child(`layers.${l}`);
      this.blocks.push(
        definition.createLayer(
          { dModel: shape.width, heads: shape.heads, layerIndex: l, params: scope.child("mixer"), dropout: shape.dropout },
          config,
        ),
      );
      this.norms.push(new LayerNorm(scope, "norm", shape.width));
    }
    this.decoder = new Linear(root, "decoder", shape.width, shape.numClasses, { bias: true });
  }

  get parameterCount(): number {
    return this.store.count();
  }

  get variables(): tf.Variable[] {
    return this.store.variables;
  }

  /**
   * x: [B, T, F] → logits [B, T, C]. `dropoutSeed` makes the dropout masks of a training step reproducible;
   * `dropout: false` turns dropout off in a training pass (`train.dropoutUntil=first-eval`).
   */
  logits(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    let h = this.encoder.apply(x);
    for (let l = 0; l < this.blocks.length; l++) {
      const layer = (): tf.Tensor3D => {
        const layerSeed = hashSeed(options.dropoutSeed ?? 0, l, "inner");
        let z = this.blocks[l]!.forward(h, { ...options, dropoutSeed: layerSeed });
        if (dropoutActive(options) && this.shape.dropout > 0) z = dropout(z, this.shape.dropout, hashSeed(options.dropoutSeed ?? 0, l));
        return this.norms[l]!.apply(tf.add(h, z));
      };
      if (options.training) h = layer();
      else {
        // Without a gradient to keep intermediates for, free each layer's as soon as it is done: evaluation
        // memory is one layer's worth, whatever the depth.
        const next = tf.tidy(layer);
        h.dispose();
        h = next;
      }
    }
    return this.decoder.apply(h);
  }

  /** Streaming inference state for a batch: one LayerState per layer. */
  initialState(batch: number): LayerState[] {
    return this.blocks.map((b) => b.initialState(batch));
  }

  /** One step of streaming inference: x_t [B, F] → logits_t [B, C]; constant memory in T. */
  step(x: tf.Tensor2D, states: LayerState[]): { logits: tf.Tensor2D; states: LayerState[] } {
    let h = this.encoder.apply(x);
    const next: LayerState[] = [];
    for (let l = 0; l < this.blocks.length; l++) {
      const r = this.blocks[l]!.step(h, states[l]!);
      next.push(r.state);
      h = this.norms[l]!.apply(tf.add(h, r.y));
    }
    return { logits: this.decoder.apply(h), states: next };
  }

  dispose(): void {
    this.store.dispose();
  }
}
