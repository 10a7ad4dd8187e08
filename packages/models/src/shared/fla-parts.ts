// The fla layer skeleton of docs/spec/MODELS.md §3, shared by GLA, RetNet, linear attention and the delta-rule family:
// q/k/v projections → optional causal depthwise short conv (+ SiLU) → heads → recurrence (the layer's own) →
// per-head (gated) RMSNorm → o_proj. Every part keeps fla's parameter names, which seed the initial weights.
import {
  Linear,
  RMSNorm,
  SelectivError,
  ShortConv,
  l2NormalizeLastAxis,
  silu,
  tf,
  zeroState,
  type ConfigSchema,
  type LayerBuildContext,
  type LayerState,
  type ParameterScope,
} from "@selectiv/core";

// ---- Config ------------------------------------------------------------------------------------------------

/** The settings every fla-skeleton layer has. */
export interface FlaSkeletonConfig {
  [key: string]: number | boolean | string;
  /** Key width K = expandK · d. */
  expandK: number;
  /** Value width V = expandV · d. */
  expandV: number;
  /** Taps of the short convolutions on q, k and v. */
  convSize: number;
  /** Chunk length C of the chunked training form. */
  chunkSize: number;
  useShortConv: boolean;
}

/**
 * Schema fields of FlaSkeletonConfig, in this order. `withoutConv` says what q, k, v get without the short conv
 * (see {@link NoConvActivation}), which the useShortConv description states.
 */
export function flaSkeletonSchema(withoutConv: NoConvActivation): ConfigSchema {
  return {
    expandK: { type: "number", min: 0, exclusiveMin: true, description: "key width as a multiple of d_model" },
    expandV: { type: "number", min: 0, exclusiveMin: true, description: "value width as a multiple of d_model" },
    convSize: { type: "int", min: 1, max: 64, description: "short convolution taps on q, k and v" },
    chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the chunked training form" },
    useShortConv: {
      type: "boolean",
      description:
        withoutConv === "silu"
          ? "apply a causal depthwise conv before the SiLU on q, k and v"
          : "apply a causal depthwise conv + SiLU to q, k and v",
    },
  };
}

/** The schema field of the delta-rule layers' β ∈ (0, 2) option (fla allow_neg_eigval). */
export const allowNegativeEigenvaluesSpec: ConfigSchema[string] = { type: "boolean", description: "β ∈ (0, 2) instead of (0, 1)" };

/** The schema field of the output gate (fla use_gate). */
export const useOutputGateSpec: ConfigSchema[string] = { type: "boolean", description: "gate the normed readout with SiLU(x W_g)" };

export interface FlaWidths {
  keyDim: number;
  valueDim: number;
  headKeyDim: number;
  headValueDim: number;
}

/** Checks that a projection width splits into whole heads and returns the per-head width. */
export function perHeadWidth(model: string, what: string, width: number, heads: number): number {
  if (!Number.isInteger(width) || width % heads !== 0) {
    throw new SelectivError(`${model}: ${what} = ${width} must be an integer divisible by heads = ${heads}`);
  }
  return width / heads;
}

/** Key and value widths K = expandK·d, V = expandV·d, total and per head. Throws if they do not split into heads. */
export function flaWidths(model: string, d: number, heads: number, config: { expandK: number; expandV: number }): FlaWidths {
  const keyDim = d * config.expandK;
  const valueDim = d * config.expandV;
  return {
    keyDim,
    valueDim,
    headKeyDim: perHeadWidth(model, "key width d·expandK", keyDim, heads),
    headValueDim: perHeadWidth(model, "value width d·expandV", valueDim, heads),
  };
}

/**
 * The heads and key/value widths of an fla-skeleton layer (the constructor checks that the widths split into heads),
 * and its streaming state: the q, k, v conv windows, then S.
 */
export abstract class FlaLayerBase implements FlaWidths {
  readonly heads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly headKeyDim: number;
  readonly headValueDim: number;

  constructor(model: string, context: LayerBuildContext, config: { expandK: number; expandV: number }) {
    this.heads = context.heads;
    const widths = flaWidths(model, context.dModel, context.heads, config);
    this.keyDim = widths.keyDim;
    this.valueDim = widths.valueDim;
    this.headKeyDim = widths.headKeyDim;
    this.headValueDim = widths.headValueDim;
  }

  /** The q, k, v input paths; their conv windows lead the streaming state. */
  protected abstract readonly inputs: QkvPaths;

  /** Conv windows of q, k, v (when short convs are on) and S ∈ [B, H, d_k, d_v], zero. */
  initialState(batch: number): LayerState {
    return [...this.inputs.initialWindows(batch), zeroState(batch, this.heads, this.headKeyDim, this.headValueDim)];
  }

  /** S from a streaming state laid out as initialState's. */
  protected recurrentState(state: LayerState): tf.Tensor4D {
    return state[this.inputs.windowCount] as tf.Tensor4D;
  }
}

// ---- Input paths -------------------------------------------------------------------------------------------

/**
 * What a q/k/v path applies when the short conv is off: "silu" (the fla delta-rule layers, docs/spec/MODELS.md §3.3–§3.5:
 * SiLU(x W) either way) or "identity" (GLA, RetNet, linear attention: the SiLU comes with the conv, so x W).
 */
export type NoConvActivation = "silu" | "identity";

export interface ShortConvSettings {
  readonly useShortConv: boolean;
  readonly convSize: number;
}

/** One input path: x W → causal depthwise short conv → SiLU, or without the conv x W or SiLU(x W). */
export class ConvProjection {
  constructor(
    readonly proj: Linear,
    readonly conv: ShortConv | undefined,
    private readonly withoutConv: NoConvActivation,
  ) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    const projected = this.proj.apply(x);
    if (this.conv) return this.conv.apply(projected);
    return this.withoutConv === "silu" ? silu(projected) : projected;
  }

  /** The conv window (the last K−1 projected inputs), or nothing without a short conv. */
  initialWindows(batch: number): tf.Tensor3D[] {
    return this.conv ? [this.conv.initialWindow(batch)] : [];
  }

  /** Streaming: x_t [B, d] and this path's window(s) from initialWindows → y_t [B, width] and the new window(s). */
  step(x: tf.Tensor2D, windows: readonly tf.Tensor[]): { y: tf.Tensor2D; windows: tf.Tensor3D[] } {
    const projected = this.proj.apply(x);
    if (!this.conv) return { y: this.withoutConv === "silu" ? silu(projected) : projected, windows: [] };
    const r = this.conv.step(projected, windows[0] as tf.Tensor3D);
    return { y: r.y, windows: [r.window] };
  }
}

/** Output widths of the q, k and v projections. */
export interface QkvWidths {
  readonly q: number;
  readonly k: number;
  readonly v: number;
}

/** The bias-free projections q_proj, k_proj, v_proj (created in that order). */
export interface QkvProjections {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
}

export function qkvProjections(scope: ParameterScope, dModel: number, widths: QkvWidths): QkvProjections {
  return {
    q: new Linear(scope, "q_proj", dModel, widths.q, { bias: false }),
    k: new Linear(scope, "k_proj", dModel, widths.k, { bias: false }),
    v: new Linear(scope, "v_proj", dModel, widths.v, { bias: false }),
  };
}

function shortConv(scope: ParameterScope, name: string, channels: number, settings: ShortConvSettings): ShortConv | undefined {
  if (!settings.useShortConv) return undefined;
  return new ShortConv(scope, `${name}_conv1d`, channels, settings.convSize, { bias: false, activation: "silu" });
}

/**
 * The q, k, v input paths. Streaming state layout: the q, k, v conv windows first (with short convs), then
 * whatever the layer keeps; `windowCount` says how many windows there are.
 */
export class QkvPaths {
  private constructor(
    readonly q: ConvProjection,
    readonly k: ConvProjection,
    readonly v: ConvProjection,
  ) {}

  /** Projections made earlier (see qkvProjections), with their short convs created now: GLA, RetNet, linear attention. */
  static withShortConvs(
    scope: ParameterScope,
    projections: QkvProjections,
    settings: ShortConvSettings,
    withoutConv: NoConvActivation,
  ): QkvPaths {
    const path = (name: "q" | "k" | "v") =>
      new ConvProjection(projections[name], shortConv(scope, name, projections[name].outFeatures, settings), withoutConv);
    return new QkvPaths(path("q"), path("k"), path("v"));
  }

  /** Each projection followed by its short conv (q_proj, q_conv1d, k_proj, …): the fla delta-rule layers. */
  static interleaved(
    scope: ParameterScope,
    dModel: number,
    widths: QkvWidths,
    settings: ShortConvSettings,
    withoutConv: NoConvActivation,
  ): QkvPaths {
    const path = (name: "q" | "k" | "v") => {
      const proj = new Linear(scope, `${name}_proj`, dModel, widths[name], { bias: false });
      return new ConvProjection(proj, shortConv(scope, name, widths[name], settings), withoutConv);
    };
    // Arguments are evaluated left to right: q_proj, q_conv1d, k_proj, k_conv1d, v_proj, v_conv1d.
    return new QkvPaths(path("q"), path("k"), path("v"));
  }

  /** How many conv windows lead the streaming state (3 with short convs, else 0). */
  get windowCount(): number {
    return this.q.conv ? 3 : 0;
  }

  apply(x: tf.Tensor3D): { q: tf.Tensor3D; k: tf.Tensor3D; v: tf.Tensor3D } {
    return { q: this.q.apply(x), k: this.k.apply(x), v: this.v.apply(x) };
  }

  initialWindows(batch: number): tf.Tensor3D[] {
    return [...this.q.initialWindows(batch), ...this.k.initialWindows(batch), ...this.v.initialWindows(batch)];
  }

  /** One streaming step: x_t [B, d] and the layer state (windows first) → q_t, k_t, v_t and the new windows. */
  step(x: tf.Tensor2D, state: LayerState): { q: tf.Tensor2D; k: tf.Tensor2D; v: tf.Tensor2D; windows: tf.Tensor3D[] } {
    const w = this.q.conv ? 1 : 0;
    const q = this.q.step(x, state.slice(0, w));
    const k = this.k.step(x, state.slice(w, 2 * w));
    const v = this.v.step(x, state.slice(2 * w, 3 * w));
    return { q: q.y, k: k.y, v: v.y, windows: [...q.windows, ...k.windows, ...v.windows] };
  }
}

/** One streaming step's [B, H·X] → [B, H, X]. */
export function stepHeads(y: tf.Tensor2D, heads: number): tf.Tensor3D {
  return tf.reshape(y, [y.shape[0], heads, y.shape[1] / heads]);
}

/** q/√d_k (fla's default kernel scale). */
export function scaleQuery<T extends tf.Tensor>(q: T, headKeyDim: number): T {
  return tf.mul(q, 1 / Math.sqrt(headKeyDim));
}

/** fla's in-kernel L2 norm over the last (head) axis: x / sqrt(Σ x² + 1e-6) (docs/spec/MODELS.md §2). */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return l2NormalizeLastAxis(x, 1e-6);
}

/** The delta rule's write strength β = σ(x W_b), doubled (β ∈ (0, 2)) when negative eigenvalues are allowed. */
export function deltaBeta<T extends tf.Tensor2D | tf.Tensor3D>(bProj: Linear, x: T, allowNegativeEigenvalues: boolean): T {
  const beta = tf.sigmoid(bProj.apply(x));
  return allowNegativeEigenvalues ? tf.mul(beta, 2) : beta;
}

// ---- Readout -----------------------------------------------------------------------------------------------

/** The output gate's projection g_proj: d → V, no bias. */
export function outputGateProjection(scope: ParameterScope, dModel: number, valueDim: number): Linear {
  return new Linear(scope, "g_proj", dModel, valueDim, { bias: false });
}

export interface NormedOutputOptions {
  /** The output gate's g_proj (outputGateProjection), made where the layer's parameter order puts it; none: no gate. */
  readonly gate?: Linear;
  /** The norm's parameter name: "o_norm" (default) or GLA's and RetNet's "g_norm_swish_gate". */
  readonly normName?: string;
}

/**
 * The readout path: per-head RMSNorm (eps 1e-5) with one weight of size d_v shared by the heads, optionally times
 * SiLU(x W_g) (fla FusedRMSNormGated: norm first, then the gate; docs/spec/MODELS.md §2), heads concatenated, then o_proj.
 * Creates the norm, then o_proj.
 */
export class NormedOutput {
  private readonly norm: RMSNorm;
  private readonly gProj?: Linear;
  private readonly oProj: Linear;

  constructor(
    scope: ParameterScope,
    dModel: number,
    private readonly heads: number,
    private readonly headValueDim: number,
    options: NormedOutputOptions = {},
  ) {
    const valueDim = heads * headValueDim;
    this.gProj = options.gate;
    this.norm = new RMSNorm(scope, options.normName ?? "o_norm", headValueDim, 1e-5);
    this.oProj = new Linear(scope, "o_proj", valueDim, dModel, { bias: false });
  }

  /** readout [B, H, T, d_v] (from the recurrence) and x [B, T, d] → [B, T, d]. */
  sequence(readout: tf.Tensor4D, x: tf.Tensor3D): tf.Tensor3D {
    const [b, , t] = readout.shape;
    return this.finish(tf.transpose(readout, [0, 2, 1, 3]), x, [b, t, this.heads * this.headValueDim]);
  }

  /** readout [B, T, H, d_v] (linearRecurrenceOutputByTime's layout) and x [B, T, d] → [B, T, d]; no transpose. */
  sequenceByTime(readout: tf.Tensor4D, x: tf.Tensor3D): tf.Tensor3D {
    const [b, t] = readout.shape;
    return this.finish(readout, x, [b, t, this.heads * this.headValueDim]);
  }

  /** readout [B, H, d_v] (one streaming step) and x_t [B, d] → [B, d]. */
  step(readout: tf.Tensor3D, x: tf.Tensor2D): tf.Tensor2D {
    return this.finish(readout, x, [readout.shape[0], this.heads * this.headValueDim]);
  }

  private finish<T extends tf.Tensor2D | tf.Tensor3D>(perHead: tf.Tensor, x: T, mergedShape: number[]): T {
    const normed: tf.Tensor = tf.reshape(this.norm.apply(perHead), mergedShape);
    return this.oProj.apply((this.gProj ? tf.mul(normed, silu(this.gProj.apply(x))) : normed) as T);
  }
}
