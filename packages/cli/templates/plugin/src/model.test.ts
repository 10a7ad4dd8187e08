// The model contract from @selectiv/core/testkit (training form ≡ stepwise oracle in values and gradients,
// streaming ≡ forward, determinism from the seed, parametersPerLayer = parameters created, taxonomy, schema),
// then a test of what is particular to this model.
import { ParameterStore, initBackend, tf } from "@selectiv/core";
import { describeModelContract, registeredModel } from "@selectiv/core/testkit";
import { describe, expect, it } from "vitest";
import { MODEL_ID, register } from "./index.js";

const definition = await registeredModel(register, MODEL_ID);

describeModelContract(definition, { describe, it, variants: { "without short convolutions": { useShortConv: false } } });

describe(`${MODEL_ID}: the input gate`, () => {
  it("a closed input gate writes nothing, so the layer outputs zeros", async () => {
    await initBackend("cpu");
    const store = new ParameterStore(1);
    const layer = definition.createLayer(
      { dModel: 16, heads: 2, layerIndex: 0, params: store.scope("layer"), dropout: 0 },
      definition.defaults,
    );
    const [, inputGateBias] = store.entries().find(([name]) => name === "layer.i_proj.bias")!;
    inputGateBias.assign(tf.fill(inputGateBias.shape, -1e4)); // σ(−10⁴) = 0 in float32
    const y = layer.forward(tf.randomNormal([2, 7, 16], 0, 1, "float32", 3), { training: false });
    expect(Array.from(y.dataSync()).every((value) => value === 0)).toBe(true);
    store.dispose();
  });
});
