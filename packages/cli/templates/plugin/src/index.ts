// {{PLUGIN_NAME}}: a selectiv plugin that registers the LRM "{{MODEL_ID}}",
// a gated linear recurrence with a separate input gate. At run time it uses only the host's TF.js and
// @selectiv/core parts (host.tf, host.core); @selectiv/core is imported for types only, so the plugin never
// loads a second TF.js engine.
import type * as Core from "@selectiv/core";
import type { ForwardOptions, LayerBuildContext, LayerState, ModelDefinition, PluginHost, SequenceLayer } from "@selectiv/core";

type Tf = PluginHost["tf"];
type Tensor = Core.Tensor;
type Tensor2D = Core.tf.Tensor2D;
type Tensor3D = Core.tf.Tensor3D;
type Tensor4D = Core.tf.Tensor4D;

export const MODEL_ID = "{{MODEL_ID}}";

export type GatedInputConfig = {
  chunkSize: number;
  useShortConv: boolean;
  convSize: number;
};

/**
 * The layer, per head h with a key-major state S ∈ ℝ^{d_k×d_v}:
 *   α_t = σ(x_t w_f + b_f)              forget gate, one scalar per head: the transition A_t = α_t I
 *   i_t = σ(x_t w_i + b_i)              input gate, one scalar per head, separate from α_t
 *   S_t = α_t S_{t−1} + i_t k_t v_tᵀ    the write B_t, with i_t folded into v_t
 *   o_t = S_tᵀ q_t / √d_k               the readout C_t, then a per-head RMSNorm and o_proj
 * q and k pass through optional causal short convolutions. The recurrence is the core engine's scalar-decay
 * linear recurrence, so the training form (chunked or fused) and the stepwise oracle come with it.
 */
export function defineGatedInputRecurrence(tf: Tf, core: typeof Core): ModelDefinition<GatedInputConfig> {
  class GatedInputRecurrence implements SequenceLayer {
    private readonly q: Core.Linear;
    private readonly k: Core.Linear;
    private readonly v: Core.Linear;
    private readonly forgetGate: Core.Linear;
    private readonly inputGate: Core.Linear;
    private readonly qConv?: Core.ShortConv;
    private readonly kConv?: Core.ShortConv;
    private readonly norm: Core.RMSNorm;
    private readonly o: Core.Linear;
    private readonly heads: number;
    private readonly headSize: number;

    constructor(
      ctx: LayerBuildContext,
      private readonly config: GatedInputConfig,
    ) {
      const d = ctx.dModel;
      if (d % ctx.heads !== 0) throw new core.SelectivError(`${MODEL_ID}: width ${d} is not divisible by heads ${ctx.heads}`);
      this.heads = ctx.heads;
      this.headSize = d / ctx.heads;
      const p = ctx.params;
      this.q = new core.Linear(p, "q_proj", d, d, { bias: false });
      this.k = new core.Linear(p, "k_proj", d, d, { bias: false });
      this.v = new core.Linear(p, "v_proj", d, d, { bias: false });
      // Forget-gate bias 3: α ≈ 0.95 at initialisation, so the state starts out remembering about 20 steps.
      this.forgetGate = new core.Linear(p, "f_proj", d, ctx.heads, { bias: true, biasInit: core.init.constant(3) });
      this.inputGate = new core.Linear(p, "i_proj", d, ctx.heads, { bias: true });
      if (config.useShortConv) {
        this.qConv = new core.ShortConv(p, "q_conv", d, config.convSize, { bias: false, activation: "silu" });
        this.kConv = new core.ShortConv(p, "k_conv", d, config.convSize, { bias: false, activation: "silu" });
      }
      this.norm = new core.RMSNorm(p, "o_norm", this.headSize);
      this.o = new core.Linear(p, "o_proj", d, d, { bias: false });
    }

    /** i_t v_t: the input gate scales each head's value, which scales the write k_t (i_t v_t)ᵀ. Any leading shape. */
    private gatedValue<T extends Tensor>(x: T): T {
      const lead = x.shape.slice(0, -1);
      const gate = tf.reshape(tf.sigmoid(this.inputGate.apply(x)), [...lead, this.heads, 1]);
      const value = tf.reshape(this.v.apply(x), [...lead, this.heads, this.headSize]);
      return tf.reshape(tf.mul(value, gate), x.shape) as T;
    }

    forward(x: Tensor3D, options: ForwardOptions): Tensor3D {
      const q = this.qConv ? this.qConv.apply(this.q.apply(x)) : this.q.apply(x);
      const k = this.kConv ? this.kConv.apply(this.k.apply(x)) : this.k.apply(x);
      const split = (t: Tensor3D) => core.splitHeads(t, this.heads);
      // log α_t per head and step, [B, T, H] → [B, H, T]; kept in log space by the engine.
      const logAlpha = tf.transpose(core.logSigmoid(this.forgetGate.apply(x)), [0, 2, 1]) as Tensor3D;
      const r = core.linearRecurrence(
        {
          query: split(tf.mul(q, 1 / Math.sqrt(this.headSize))),
          key: split(k),
          value: split(this.gatedValue(x)),
          decay: { kind: "scalar", logAlpha },
        },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      return this.o.apply(core.mergeHeads(this.norm.apply(r.output)));
    }

    /** [q window, k window,] S: the convolutions' last K−1 inputs and the recurrent state. */
    initialState(batch: number): LayerState {
      const state = core.zeroState(batch, this.heads, this.headSize, this.headSize);
      return this.qConv && this.kConv ? [this.qConv.initialWindow(batch), this.kConv.initialWindow(batch), state] : [state];
    }

    step(x: Tensor2D, state: LayerState): { y: Tensor2D; state: LayerState } {
      const [b, d] = x.shape;
      let q = this.q.apply(x);
      let k = this.k.apply(x);
      const windows: Tensor[] = [];
      if (this.qConv && this.kConv) {
        const qc = this.qConv.step(q, state[0] as Tensor3D);
        const kc = this.kConv.step(k, state[1] as Tensor3D);
        [q, k] = [qc.y, kc.y];
        windows.push(qc.window, kc.window);
      }
      const perHead = (t: Tensor) => tf.reshape(t, [b, this.heads, this.headSize]) as Tensor3D;
      const r = core.recurrenceStep(
        state[state.length - 1] as Tensor4D,
        perHead(tf.mul(q, 1 / Math.sqrt(this.headSize))),
        perHead(k),
        perHead(this.gatedValue(x)),
        "scalar",
        core.logSigmoid(this.forgetGate.apply(x)),
      );
      const y = this.o.apply(tf.reshape(this.norm.apply(r.output), [b, d])) as Tensor2D;
      return { y, state: [...windows, r.state] };
    }
  }

  return {
    id: MODEL_ID,
    description: "Gated linear recurrence with a separate input gate: S_t = α_t S_{t−1} + i_t k_t v_tᵀ, scalar gates per head.",
    schema: {
      chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the training form on GPU backends" },
      useShortConv: { type: "boolean", description: "causal depthwise convolutions on q and k" },
      convSize: { type: "int", min: 2, max: 16, description: "taps of the short convolutions" },
    },
    defaults: { chunkSize: 16, useShortConv: true, convSize: 4 },
    taxonomy: {
      transition: "scalar",
      transitionDetail: "α_t I per head, α_t = σ(x_t w_f + b_f)",
      write: "i_t k_t v_tᵀ, input gate i_t = σ(x_t w_i + b_i) per head",
      readout: "S_tᵀ q_t/√d_k; per-head RMSNorm, no output gate",
      outputGate: false,
      complementaryGating: false,
      channelMixing: false,
      // H·d_k·d_v, as the built-in models count it (the convolutions' windows are not included).
      stateSize: (d, h) => h * (d / h) * (d / h),
    },
    createLayer: (ctx, config) => new GatedInputRecurrence(ctx, config),
    // q, k, v, o: 4d²; forget and input gates: 2(dH + H); short convolutions: 2Kd; RMSNorm: d/H.
    parametersPerLayer: (d, h, config) => 4 * d * d + 2 * (d * h + h) + (config.useShortConv ? 2 * config.convSize * d : 0) + d / h,
  };
}

/** Called by selectiv when it loads the plugin. */
export function register(host: PluginHost): void {
  host.registerModel(defineGatedInputRecurrence(host.tf, host.core as unknown as typeof Core));
}
