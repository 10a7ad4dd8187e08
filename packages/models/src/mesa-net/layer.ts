import {
  Linear,
  RMSNorm,
  ShortConv,
  init,
  logSigmoid,
  splitHeads,
  prefersFusedKernels,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import { mesaNetHeadDim, type MesaNetConfig } from "./config.js";
import { fusedMesaRecurrence } from "./fused-mesa.js";
import { mesaStep, mesaParallel, mesaStepwise, zeroMesaState } from "./recurrence.js";

/**
 * fla's l2norm over the last axis: x / sqrt(Σx² + 1e-6) (docs/spec/MODELS.md §2). The per-row factor is spread over the
 * row by a [N, 1] × [1, D] matmul: the CPU backend broadcasts a size-1 axis one element at a time.
 */
function l2Normalize<T extends tf.Tensor>(x: T): T {
  const width = x.shape[x.rank - 1]!;
  const factor = tf.rsqrt(tf.add(tf.sum(tf.square(tf.reshape(x, [-1, width])), 1, true), 1e-6));
  return tf.mul(x, tf.reshape(tf.matMul(factor, tf.ones([1, width])), x.shape)) as T;
}

/**
 * MesaNet (fla `MesaNet`, docs/spec/MODELS.md §3.6). Per head, with q, k L2-normalised (no 1/√d_k scale):
 *   G_t = α_t G_{t−1} + β_t k_t k_tᵀ,  M_t = α_t M_{t−1} + β_t k_t v_tᵀ,  o_t = M_tᵀ (G_t + Diag(λ_h))⁻¹ q_t,
 * α = σ(a_proj x), β = σ(b_proj x), λ = softplus(lambda_params) + lower bound; the inverse is 30 CG steps.
 * q and k pass a short conv + SiLU; v has neither. Then a per-head RMSNorm (no gate) and o_proj.
 * The training form is the fused kernel (fused-mesa.ts) on every backend; "stepwise" is the TF-op recurrence.
 */
export class MesaNet implements SequenceLayer {
  readonly heads: number;
  readonly headDim: number;

  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly aProj: Linear;
  private readonly bProj: Linear;
  private readonly lambdaParams: tf.Variable;
  private readonly qConv: ShortConv;
  private readonly kConv: ShortConv;
  private readonly outNorm: RMSNorm;
  private readonly oProj: Linear;

  constructor(
    context: LayerBuildContext,
    private readonly config: MesaNetConfig,
  ) {
    const d = context.dModel;
    const scope = context.params;
    this.heads = context.heads;
    this.headDim = mesaNetHeadDim(d, this.heads, config);

    this.qProj = new Linear(scope, "q_proj", d, d, { bias: false });
    this.kProj = new Linear(scope, "k_proj", d, d, { bias: false });
    this.vProj = new Linear(scope, "v_proj", d, d, { bias: false });
    this.aProj = new Linear(scope, "a_proj", d, this.heads, { bias: true });
    this.bProj = new Linear(scope, "b_proj", d, this.heads, { bias: true });
    // λ = softplus(lambda_params) + lower bound starts at lambdaInit: lambda_params = softplus⁻¹(λ₀ − bound).
    const start = Math.log(Math.expm1(config.lambdaInit - config.lambdaLowerBound));
    this.lambdaParams = scope.variable("lambda_params", [d], init.constant(start));
    this.qConv = new ShortConv(scope, "q_conv1d", d, config.convSize, { bias: false, activation: "silu" });
    this.kConv = new ShortConv(scope, "k_conv1d", d, config.convSize, { bias: false, activation: "silu" });
    this.outNorm = new RMSNorm(scope, "o_norm", this.headDim, 1e-5);
    this.oProj = new Linear(scope, "o_proj", d, d, { bias: false });
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = x.shape;
      const split = (y: tf.Tensor3D) => splitHeads(y, this.heads);
      const gates = (y: tf.Tensor3D) => tf.transpose(y, [0, 2, 1]) as tf.Tensor3D;
      const inputs = {
        query: l2Normalize(split(this.qConv.apply(this.qProj.apply(x)))),
        key: l2Normalize(split(this.kConv.apply(this.kProj.apply(x)))),
        value: split(this.vProj.apply(x)),
        logAlpha: gates(logSigmoid(this.aProj.apply(x))),
        beta: gates(tf.sigmoid(this.bProj.apply(x))),
        lambda: this.lambda(),
      };
      // The fused kernel reads its inputs back synchronously: CPU backends only; GPU backends take the parallel form.
      const form = options.form ?? "chunked";
      const output =
        form === "stepwise"
          ? mesaStepwise(inputs, this.config.cgSteps)
          : prefersFusedKernels()
            ? fusedMesaRecurrence(inputs, this.config.cgSteps)
            : mesaParallel(inputs, this.config.cgSteps);
      const normed = this.outNorm.apply(tf.transpose(output, [0, 2, 1, 3]));
      return this.oProj.apply(tf.reshape(normed, [b, t, d]) as tf.Tensor3D);
    });
  }

  /** The q and k conv windows, then G [B, H, d_k, d_k] and M [B, H, d_k, d_v]. */
  initialState(batch: number): LayerState {
    const { g, m } = zeroMesaState(batch, this.heads, this.headDim, this.headDim);
    return [this.qConv.initialWindow(batch), this.kConv.initialWindow(batch), g, m];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const [b, d] = x.shape;
      const perHead = (y: tf.Tensor2D) => tf.reshape(y, [b, this.heads, this.headDim]) as tf.Tensor3D;
      const q = this.qConv.step(this.qProj.apply(x), state[0] as tf.Tensor3D);
      const k = this.kConv.step(this.kProj.apply(x), state[1] as tf.Tensor3D);
      const r = mesaStep(
        { g: state[2] as tf.Tensor4D, m: state[3] as tf.Tensor4D },
        l2Normalize(perHead(q.y)),
        l2Normalize(perHead(k.y)),
        perHead(this.vProj.apply(x)),
        logSigmoid(this.aProj.apply(x)),
        tf.sigmoid(this.bProj.apply(x)),
        this.lambda(),
        this.config.cgSteps,
      );
      const y = this.oProj.apply(tf.reshape(this.outNorm.apply(r.output), [b, d]) as tf.Tensor2D);
      return { y, state: [q.window, k.window, r.state.g, r.state.m] };
    });
  }

  /** λ = softplus(lambda_params) + lower bound, per head and key channel [H, d_k]. */
  private lambda(): tf.Tensor2D {
    return tf.reshape(tf.add(tf.softplus(this.lambdaParams), this.config.lambdaLowerBound), [this.heads, this.headDim]);
  }
}
