import type { Config, ConfigSchema, ConfigValue } from "./config.js";
import type { ParameterScope } from "./nn/parameters.js";
import type { PresetName } from "./task.js";
import type { tf } from "./tf.js";

/** How the transition A_t of S_t = A_t ∘ S_{t−1} + B_t acts on the state (docs/spec/MODELS.md §8). */
export type TransitionKind =
  | "identity"
  | "constant-scalar"
  | "scalar"
  | "diagonal"
  | "householder"
  | "gated-householder"
  | "householder-product"
  | "nonlinear"
  | "none";

/** The paper's taxonomy of a layer, so the taxonomy table can be read off the registry. */
export interface Taxonomy {
  readonly transition: TransitionKind;
  /** A_t in words, e.g. "Diag(σ(Wx)^{1/16}), per key channel". */
  readonly transitionDetail: string;
  /** B_t in words. */
  readonly write: string;
  /** C_t in words. */
  readonly readout: string;
  /** Whether the readout is multiplied by a data-dependent output gate. */
  readonly outputGate: boolean;
  /** Whether writing is tied to forgetting (input and forget gates coupled). */
  readonly complementaryGating: boolean | "partial";
  /** Whether A_t mixes state coordinates (is not diagonal). */
  readonly channelMixing: boolean;
  /** Recurrent state floats per layer (per sample) at width d with H heads. */
  stateSize(d: number, heads: number): number;
}

/** Which computation a layer's forward pass uses. Both must give the same values and gradients. */
export type ComputeForm = "chunked" | "stepwise";

export interface ForwardOptions {
  readonly training: boolean;
  /** "chunked" (default) is the training form; "stepwise" is the plain recurrence (the oracle). */
  readonly form?: ComputeForm;
  /** Seed for any dropout inside the layer during training (same seed → same mask). */
  readonly dropoutSeed?: number;
  /**
   * false: no dropout although training (gradients are still taken), as the reference after its first evaluation
   * (`train.dropoutUntil=first-eval`, docs/spec/TASKS.md §5.1). Default: dropout whenever `training`.
   */
  readonly dropout?: boolean;
}

/** Whether a forward pass drops out: when training, unless `dropout` is false (docs/spec/TASKS.md §5.1). */
export function dropoutActive(options: ForwardOptions): boolean {
  return options.training && options.dropout !== false;
}

/** What a layer factory gets: the wrapper's width and head count, and a scope that creates its parameters. */
export interface LayerBuildContext {
  readonly dModel: number;
  readonly heads: number;
  readonly layerIndex: number;
  readonly params: ParameterScope;
  /** The wrapper's dropout rate, for layers that drop out inside (the reference Transformer's feed-forward). */
  readonly dropout: number;
}

/** Per-layer recurrent state carried between streaming steps (constant memory in T). */
export type LayerState = readonly tf.Tensor[];

/** One sequence-mixing layer: [B, T, d] → [B, T, d]. */
export interface SequenceLayer {
  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D;
  /** Streaming inference: the state before the first step. */
  initialState(batch: number): LayerState;
  /** Streaming inference: one step, x_t [B, d] → y_t [B, d]. The state passed in is not disposed. */
  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState };
}

/**
 * How one parameter is laid out in the reference's PyTorch state_dict (docs/WEIGHTS.md):
 * - `same`: the same shape and element order;
 * - `transpose`: ours [in, out] (docs/spec/MODELS.md §0), torch's Linear weight [out, in];
 * - `depthwise-conv`: ours [K, C] (ShortConv taps × channels, §2), torch's depthwise Conv1d weight [C, 1, K];
 * - `pointwise-conv`: ours [in, out], torch's Conv1d(in, out, kernel_size=1) weight [out, in, 1].
 */
export type ReferenceLayout = "same" | "transpose" | "depthwise-conv" | "pointwise-conv";

/** A parameter's name inside the reference module and its layout there. */
export interface ReferenceParameter {
  readonly name: string;
  readonly layout: ReferenceLayout;
}

/** A state_dict entry of the reference module that is a buffer, not a parameter here; its values follow from the config. */
export interface ReferenceBuffer {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/**
 * One layer's names in the reference's state_dict (`layers.<i>.<name>` of its RecNet; docs/WEIGHTS.md). Only the
 * layer: the wrapper's own names (encoder, norms, decoder) belong to core's RecNet.
 */
export interface ReferenceParameters<C extends Config = Config> {
  /** The PyTorch module a layer is in the reference, e.g. "fla.layers.GatedLinearAttention". */
  readonly module: string;
  /**
   * Each parameter the layer creates under this config (its name under the layer's scope) → its name in `module` and
   * its layout. Most tables ignore the config; fla renames a norm when an option is off (GLA's g_norm).
   */
  parameters(config: C): Readonly<Record<string, ReferenceParameter>>;
  /** The module's persistent buffers, by name (the reference Transformer's `rotary.inv_freq`); none if absent. */
  buffers?(dModel: number, heads: number, config: C): Readonly<Record<string, ReferenceBuffer>>;
}

export interface ModelDefinition<C extends Config = Config> {
  readonly id: string;
  readonly description: string;
  readonly schema: ConfigSchema;
  readonly defaults: C;
  /** Optional overrides of `defaults` per preset. */
  readonly presets?: Readonly<Partial<Record<PresetName, Partial<C>>>>;
  readonly taxonomy: Taxonomy;
  createLayer(context: LayerBuildContext, config: C): SequenceLayer;
  /** Closed-form parameters per layer (docs/spec/MODELS.md §7.1); tests check it against the built layer. */
  parametersPerLayer(d: number, heads: number, config: C): number;
  /**
   * The width this model trains at when `train.width` asks for `width` (default: the same). The whole network
   * (encoder, layers, decoder) takes it, as in the reference, which rewrites feat_size for its Transformer
   * (docs/spec/MODELS.md §5.1, `transformer.referenceWidths`).
   */
  trainingWidth?(width: number, config: C): number;
  /**
   * Width-sized floats one layer keeps per step (batch × time position) through a forward and backward pass;
   * sizes the automatic micro-batches (optimizer-step.ts). Default DEFAULT_ACTIVATION_WIDTHS, measured on wasm.
   */
  readonly activationWidths?: number;
  /**
   * The model's names in the reference's W&B sweep files (train.py's `--model`), e.g. ["delta_net"]; importing such
   * a file maps them to this model. Absent where the reference has no such model (its own id is still accepted).
   */
  readonly referenceNames?: readonly string[];
  /**
   * train.py arguments the reference passes to this model, each to the key of this model's config it sets, e.g.
   * { d_state: "dState" }: a W&B sweep's `--d_state` becomes `<id>.dState` for this model only.
   */
  readonly referenceArguments?: Readonly<Record<string, string>>;
  /**
   * Settings of this model's config that a W&B import of the reference's files sets, for what train.py does to
   * this model beyond its arguments, e.g. the Transformer's { referenceWidths: true } (docs/SWEEPS.md).
   */
  readonly referenceSettings?: Readonly<Record<string, ConfigValue>>;
  /**
   * The layer's parameter names and layouts in the reference's PyTorch state_dict, for `selectiv weights export` and
   * `import` (docs/WEIGHTS.md). Absent: this model's weights cannot be exchanged with PyTorch.
   */
  readonly referenceParameters?: ReferenceParameters<C>;
}

/** Measured at width 256, T = 400: most layers keep 230–320 width-sized floats per step (tf.profile peak). */
export const DEFAULT_ACTIVATION_WIDTHS = 320;
