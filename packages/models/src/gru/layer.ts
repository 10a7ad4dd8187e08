import {
  init,
  prefersFusedKernels,
  tf,
  type ForwardOptions,
  type LayerBuildContext,
  type LayerState,
  type SequenceLayer,
} from "@selectiv/core";
import type { GruConfig } from "./config.js";
import { fusedGru } from "./fused-gru.js";

/**
 * One-layer GRU (PyTorch `nn.GRU(d, d)`, docs/spec/MODELS.md §5.3), gate order r, z, n:
 *   r_t = σ(W_ir x + b_ir + W_hr h + b_hr),  z_t = σ(W_iz x + b_iz + W_hz h + b_hz),
 *   n_t = tanh(W_in x + b_in + r_t ⊙ (W_hn h + b_hn)),  h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1},  h_0 = 0.
 * The layer's output is h_t. Weights are stored in × out ([d, 3d]), PyTorch's transposed, under PyTorch's names.
 * A nonlinear recurrence has no chunked form: the training form is the fused kernel (fused-gru.ts) on CPU
 * backends and the step loop elsewhere; "stepwise" is always the step loop (the oracle).
 */
export class Gru implements SequenceLayer {
  readonly hiddenSize: number;

  private readonly inputWeight: tf.Variable;
  private readonly recurrentWeight: tf.Variable;
  private readonly inputBias?: tf.Variable;
  private readonly recurrentBias?: tf.Variable;

  constructor(context: LayerBuildContext, config: GruConfig) {
    const d = context.dModel;
    const scope = context.params;
    this.hiddenSize = d;
    // §5.3: every parameter U(−1/√d, 1/√d).
    const uniform = init.fanIn(d);
    this.inputWeight = scope.variable("weight_ih_l0", [d, 3 * d], uniform);
    this.recurrentWeight = scope.variable("weight_hh_l0", [d, 3 * d], uniform);
    if (config.bias) {
      this.inputBias = scope.variable("bias_ih_l0", [3 * d], uniform);
      this.recurrentBias = scope.variable("bias_hh_l0", [3 * d], uniform);
    }
  }

  forward(x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = x.shape;
      const inputGates = tf.reshape(this.inputGates(tf.reshape(x, [b * t, d]) as tf.Tensor2D), [b, t, 3 * d]) as tf.Tensor3D;
      if ((options.form ?? "chunked") === "chunked" && prefersFusedKernels()) {
        const bias = this.recurrentBias ?? (tf.zeros([3 * d]) as tf.Tensor1D);
        return fusedGru(inputGates, this.recurrentWeight as tf.Tensor2D, bias as tf.Tensor1D);
      }
      return this.stepLoop(inputGates);
    });
  }

  /** h ∈ [B, d]. */
  initialState(batch: number): LayerState {
    return [tf.zeros([batch, this.hiddenSize])];
  }

  step(x: tf.Tensor2D, state: LayerState): { y: tf.Tensor2D; state: LayerState } {
    return tf.tidy(() => {
      const h = this.cell(this.inputGates(x), state[0] as tf.Tensor2D);
      return { y: h, state: [tf.clone(h)] };
    });
  }

  /** The oracle: the cell over time in TF ops. */
  private stepLoop(inputGates: tf.Tensor3D): tf.Tensor3D {
    const [b, t, d3] = inputGates.shape;
    let h = this.initialState(b)[0] as tf.Tensor2D;
    const outputs: tf.Tensor2D[] = [];
    for (let i = 0; i < t; i++) {
      h = this.cell(tf.reshape(tf.slice(inputGates, [0, i, 0], [b, 1, d3]), [b, d3]), h);
      outputs.push(h);
    }
    // tf.stack rejects a single tensor inside gradient tapes: expand instead.
    return (t === 1 ? tf.expandDims(outputs[0]!, 1) : tf.stack(outputs, 1)) as tf.Tensor3D;
  }

  /** x W_ih + b_ih: the input side of all three gates, [N, 3d]. */
  private inputGates(x: tf.Tensor2D): tf.Tensor2D {
    const projected = tf.matMul(x, this.inputWeight) as tf.Tensor2D;
    return this.inputBias ? (tf.add(projected, this.inputBias) as tf.Tensor2D) : projected;
  }

  /** One GRU step from the input-side pre-activations gi [B, 3d] and h_{t−1} [B, d] (§5.3). */
  private cell(inputGates: tf.Tensor2D, h: tf.Tensor2D): tf.Tensor2D {
    const [b, d] = h.shape;
    const product = tf.matMul(h, this.recurrentWeight) as tf.Tensor2D;
    const recurrentGates = this.recurrentBias ? (tf.add(product, this.recurrentBias) as tf.Tensor2D) : product;
    const gate = (x: tf.Tensor2D, k: number) => tf.slice(x, [0, k * d], [b, d]);
    const r = tf.sigmoid(tf.add(gate(inputGates, 0), gate(recurrentGates, 0)));
    const z = tf.sigmoid(tf.add(gate(inputGates, 1), gate(recurrentGates, 1)));
    const n = tf.tanh(tf.add(gate(inputGates, 2), tf.mul(r, gate(recurrentGates, 2))));
    return tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
  }
}
