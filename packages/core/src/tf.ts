// The one TensorFlow.js instance of the process. Tasks, models and plugins use this export (plugins get it from
// the host) so that every tensor lives in the same engine and on the same backend.
import * as tf from "@tensorflow/tfjs";

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
