// Our export against the reference itself: fixtures/reference-state-dicts.json holds the state_dict names and shapes
// of the reference RecNet (fla 0.5.2, mamba_ssm, torch) per model at a small config, written by the Python reference
// check (benchmarks/reference-check/state_dicts.py). Every model must export exactly those names and shapes, with the
// reference's buffers as buffers, and the same number of trainable parameters (docs/WEIGHTS.md).
import "reflect-metadata";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Config, RecNet, referenceStateDict } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { builtInModels } from "./index.js";

interface ReferenceStateDicts {
  config: {
    inp_size: number;
    d_output: number;
    d_model: number;
    layers: number;
    n_head: number;
    d_state: number;
    d_state_applies_to: string[];
  };
  models: Record<
    string,
    { reference: string; parameters: number; stateDict: Record<string, { shape: number[]; kind: "parameter" | "buffer" }> }
  >;
}

const fixture = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../../../fixtures/reference-state-dicts.json"), "utf8"),
) as ReferenceStateDicts;
const c = fixture.config;

/** The reference's constructor arguments in our config: d_state where it applies; linear-attention without convs (fla has none). */
function configFor(id: string, defaults: Config): Config {
  if (id === "linear-attention") return { ...defaults, useShortConv: false };
  return c.d_state_applies_to.includes(id) ? { ...defaults, dState: c.d_state } : defaults;
}

describe("export ≡ the reference RecNet's state_dict (fixtures/reference-state-dicts.json)", () => {
  it("the fixture covers every built-in model", () => {
    expect(Object.keys(fixture.models).sort()).toEqual(builtInModels.map((m) => m.id).sort());
  });

  for (const definition of builtInModels) {
    it(`${definition.id}: the same names, shapes, buffers and parameter count`, async () => {
      const reference = fixture.models[definition.id]!;
      const shape = { inputSize: c.inp_size, numClasses: c.d_output, width: c.d_model, layers: c.layers, heads: c.n_head, dropout: 0 };
      const net = new RecNet(definition, configFor(definition.id, definition.defaults), shape, 1);
      const exported = await referenceStateDict(net);
      const shapes = (entries: Iterable<[string, { shape: readonly number[] }]>) =>
        Object.fromEntries([...entries].map(([name, t]) => [name, [...t.shape]]));
      expect(shapes(exported)).toEqual(shapes(Object.entries(reference.stateDict)));
      const buffers = Object.entries(reference.stateDict).filter(([, e]) => e.kind === "buffer");
      expect(net.referenceLayout().buffers.map((b) => b.reference)).toEqual(buffers.map(([name]) => name));
      expect(net.parameterCount).toBe(reference.parameters);
      net.dispose();
    });
  }
});
