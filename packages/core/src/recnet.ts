import { hashSeed } from "./rng.js";
import type { Config } from "./config.js";
import { SelectivError } from "./errors.js";
import {
  type ForwardOptions,
  type LayerState,
  type ModelDefinition,
  type ReferenceBuffer,
  type ReferenceLayout,
  type SequenceLayer,
  dropoutActive,
} from "./model.js";
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

/** One of our parameters and its name and layout in the reference RecNet's state_dict (docs/WEIGHTS.md). */
export interface ReferenceNaming {
  readonly ours: string;
  readonly reference: string;
  readonly layout: ReferenceLayout;
}

/** The reference RecNet's state_dict in our terms: our parameters by reference name, then its buffers. */
export interface ReferenceStateLayout {
  /** The PyTorch module of one layer, e.g. "fla.layers.GatedLinearAttention". */
  readonly module: string;
  readonly parameters: readonly ReferenceNaming[];
  readonly buffers: readonly { readonly reference: string; readonly buffer: ReferenceBuffer }[];
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

  /**
   * The names of this network's parameters in the reference RecNet's state_dict (docs/spec/MODELS.md §1): `encoder`,
   * `layers.<i>.<the layer's name>` (the model's `referenceParameters`), `norms.<i>` and `decoder`. A model without
   * reference names, or a parameter its table leaves out, is a one-line SelectivError.
   */
  referenceLayout(): ReferenceStateLayout {
    const id = this.definition.id;
    const table = this.definition.referenceParameters;
    if (!table) {
      throw new SelectivError(
        `model ${id}: has no reference parameter names (ModelDefinition.referenceParameters), so its weights cannot be exchanged with PyTorch`,
      );
    }
    const names = table.parameters(this.config);
    const parameters = this.store.names.map((ours): ReferenceNaming => {
      const wrapper = /^(encoder|decoder)\.(weight|bias)$/.exec(ours);
      // PyTorch's nn.Linear stores [out, in]; ours is [in, out].
      if (wrapper) return { ours, reference: ours, layout: wrapper[2] === "weight" ? "transpose" : "same" };
      const norm = /^layers\.(\d+)\.norm\.(weight|bias)$/.exec(ours);
      if (norm) return { ours, reference: `norms.${norm[1]}.${norm[2]}`, layout: "same" };
      const layer = /^layers\.(\d+)\.mixer\.(.+)$/.exec(ours);
      const entry = layer ? names[layer[2]!] : undefined;
      if (!layer || !entry) {
        throw new SelectivError(
          `model ${id}: parameter ${ours} has no reference name in its referenceParameters (names there: ${Object.keys(names).join(", ")})`,
        );
      }
      return { ours, reference: `layers.${layer[1]}.${entry.name}`, layout: entry.layout };
    });
    const buffers: ReferenceStateLayout["buffers"][number][] = [];
    for (let l = 0; l < this.shape.layers; l++) {
      const layerBuffers = table.buffers?.(this.shape.width, this.shape.heads, this.config) ?? {};
      for (const [name, buffer] of Object.entries(layerBuffers)) buffers.push({ reference: `layers.${l}.${name}`, buffer });
    }
    return { module: table.module, parameters, buffers };
  }

  dispose(): void {
    this.store.dispose();
  }
}
