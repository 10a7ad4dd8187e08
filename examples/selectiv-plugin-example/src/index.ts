// A third-party LRM as a selectiv plugin. Everything at run time comes from the host (its TF.js and its core
// parts); @selectiv/core is imported for types only, so the plugin never carries a second TF.js engine.
import type * as Core from "@selectiv/core";
import type { LayerBuildContext, LayerState, ModelDefinition, PluginHost, SequenceLayer } from "@selectiv/core";

type Tf = PluginHost["tf"];

interface GatedRetentionConfig {
  [key: string]: number | boolean | string;
  chunkSize: number;
  convSize: number;
}

/**
 * Gated retention: per head, S_t = α_t S_{t−1} + k_t v_tᵀ with a data-dependent scalar decay
 * α_t = σ(x_t w_h + b_h) (a "scalar" transition in the paper's taxonomy), o_t = S_tᵀ q_t / √d_k, then a per-head
 * RMSNorm and o_proj. It composes the host's Linear, ShortConv, RMSNorm and recurrence engine.
 */
function defineGatedRetention(tf: Tf, core: typeof Core): ModelDefinition<GatedRetentionConfig> {
  class GatedRetention implements SequenceLayer {
    private readonly q: Core.Linear;
    private readonly k: Core.Linear;
    private readonly v: Core.Linear;
    private readonly gate: Core.Linear;
    private readonly o: Core.Linear;
    private readonly conv: Core.ShortConv;
    private readonly norm: Core.RMSNorm;
    private readonly heads: number;
    private readonly dk: number;

    constructor(
      ctx: LayerBuildContext,
      private readonly config: GatedRetentionConfig,
    ) {
      const d = ctx.dModel;
      this.heads = ctx.heads;
      this.dk = d / ctx.heads;
      this.q = new core.Linear(ctx.params, "q_proj", d, d, { bias: false });
      this.k = new core.Linear(ctx.params, "k_proj", d, d, { bias: false });
      this.v = new core.Linear(ctx.params, "v_proj", d, d, { bias: false });
      this.gate = new core.Linear(ctx.params, "a_proj", d, ctx.heads, { bias: true, biasInit: core.init.constant(3) });
      this.o = new core.Linear(ctx.params, "o_proj", d, d, { bias: false });
      this.conv = new core.ShortConv(ctx.params, "conv", d, config.convSize, { bias: false, activation: "silu" });
      this.norm = new core.RMSNorm(ctx.params, "o_norm", this.dk);
    }

    private parts(x: Core.Tensor, xc: Core.Tensor): { q: Core.Tensor; k: Core.Tensor; v: Core.Tensor; logAlpha: Core.Tensor } {
      return {
        q: tf.mul(this.q.apply(xc), 1 / Math.sqrt(this.dk)),
        k: this.k.apply(xc),
        v: this.v.apply(x),
        logAlpha: core.logSigmoid(this.gate.apply(x)),
      };
    }

    forward(x: Core.tf.Tensor3D, options: Core.ForwardOptions): Core.tf.Tensor3D {
      const p = this.parts(x, this.conv.apply(x));
      const split = (t: Core.Tensor) => core.splitHeads(t as Core.tf.Tensor3D, this.heads);
      const logAlpha = tf.transpose(p.logAlpha, [0, 2, 1]) as Core.tf.Tensor3D;
      const r = core.linearRecurrence(
        { query: split(p.q), key: split(p.k), value: split(p.v), decay: { kind: "scalar", logAlpha } },
        options.form ?? "chunked",
        { chunkSize: this.config.chunkSize },
      );
      return this.o.apply(core.mergeHeads(this.norm.apply(r.output)));
    }

    initialState(batch: number): LayerState {
      return [this.conv.initialWindow(batch), core.zeroState(batch, this.heads, this.dk, this.dk)];
    }

    step(x: Core.tf.Tensor2D, state: LayerState): { y: Core.tf.Tensor2D; state: LayerState } {
      const [b, d] = x.shape;
      const c = this.conv.step(x, state[0] as Core.tf.Tensor3D);
      const p = this.parts(x, c.y);
      const head = (t: Core.Tensor) => tf.reshape(t, [b, this.heads, this.dk]) as Core.tf.Tensor3D;
      const r = core.recurrenceStep(state[1] as Core.tf.Tensor4D, head(p.q), head(p.k), head(p.v), "scalar", p.logAlpha);
      const y = this.o.apply(tf.reshape(this.norm.apply(r.output), [b, d])) as Core.tf.Tensor2D;
      return { y, state: [c.window, r.state] };
    }
  }

  return {
    id: "example-gated-retention",
    description: "Example plugin: retention with a data-dependent scalar decay per head (σ gate).",
    schema: {
      chunkSize: { type: "int", min: 1, max: 1024, description: "chunk length of the training form" },
      convSize: { type: "int", min: 1, max: 16, description: "short convolution taps on q and k" },
    },
    defaults: { chunkSize: 32, convSize: 4 },
    taxonomy: {
      transition: "scalar",
      transitionDetail: "α_t I per head, α_t = σ(x_t w_h + b_h)",
      write: "k_t v_tᵀ",
      readout: "q_t/√d_k; RMSNorm, no output gate",
      outputGate: false,
      complementaryGating: false,
      channelMixing: false,
      stateSize: (d, h) => h * (d / h) * (d / h),
    },
    createLayer: (ctx, config) => new GatedRetention(ctx, config),
    // q, k, v, o (4d²) + gate (dH + H) + conv (K·d) + norm (d/H).
    parametersPerLayer: (d, h, config) => 4 * d * d + d * h + h + config.convSize * d + d / h,
  };
}

export function register(host: PluginHost): void {
  host.registerModel(defineGatedRetention(host.tf, host.core as unknown as typeof Core));
}
