// Every model trains on WebGPU with the CPU's losses (issue 7): the whole trainingStep — forward, backward,
// dropout, clipping, Adam — for three steps, same seed and batch. Runs where a WebGPU adapter exists (CI installs
// Mesa's software Vulkan driver, so its shaders are compiled and run there too); SELECTIV_REQUIRE_WEBGPU=1 makes
// a missing adapter a failure instead of a skip.
import "reflect-metadata";
import { type ModelRegistry, Tokens, createSelectivContainer, probeWebgpu } from "@selectiv/core";
import { checkBackendParity, contractConfig } from "@selectiv/core/testkit";
import { container as root } from "tsyringe";
import { describe, expect, it } from "vitest";
import { registerModels } from "./index.js";

const container = createSelectivContainer(root);
registerModels(container);
const registry = container.resolve<ModelRegistry>(Tokens.ModelRegistry);
const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

describe("training on webgpu gives the cpu's losses (3 steps, relative 1e-4)", () => {
  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });
  for (const id of registry.ids()) {
    it.runIf(probe.ok)(
      id,
      async () => {
        const definition = registry.get(id);
        const r = await checkBackendParity(definition, { config: contractConfig(definition), backend: "webgpu" });
        expect(r.other).toHaveLength(3);
        expect(r.worst).toBeLessThanOrEqual(1e-4);
      },
      600_000,
    );
  }
});
