// RecNet totals at the paper's shape (docs/spec/MODELS.md §7.2): width 256, 8 layers, 41 inputs, 1601 classes, d_state 128.
import "reflect-metadata";
import { type ModelRegistry, RecNet, Tokens, createSelectivContainer } from "@selectiv/core";
import { container as root } from "tsyringe";
import { describe, expect, it } from "vitest";
import { registerModels } from "./index.js";

const TOTALS: Record<string, number> = {
  gla: 4_721_985,
  retnet: 4_654_401,
  "delta-net": 3_614_017,
  "gated-delta-net": 4_670_849,
  "gated-delta-product": 9_487_745,
  "mesa-net": 2_558_849,
  mamba: 5_304_641,
  mamba2: 4_147_713,
  transformer: 8_844_617,
  s4d: 2_007_361,
  gru: 3_584_321,
};

const container = createSelectivContainer(root);
registerModels(container);
const registry = container.resolve<ModelRegistry>(Tokens.ModelRegistry);

describe("RecNet parameter totals at d = 256 (docs/spec/MODELS.md §7.2)", () => {
  it("every model of the §7.2 table is registered", () => {
    expect(registry.ids()).toEqual(expect.arrayContaining(Object.keys(TOTALS)));
  });

  for (const [id, total] of Object.entries(TOTALS)) {
    it(`${id}: ${total.toLocaleString("en-US")}`, () => {
      const definition = registry.get(id);
      const config = "dState" in definition.defaults ? { ...definition.defaults, dState: 128 } : definition.defaults;
      const net = new RecNet(definition, config, { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 }, 1);
      expect(net.parameterCount).toBe(total);
      // Shared overhead: encoder 10,752 + 8 LayerNorms 4,096 + decoder 411,457 = 426,305.
      expect(definition.parametersPerLayer(256, 4, config) * 8 + 426_305).toBe(total);
      net.dispose();
    });
  }
});
