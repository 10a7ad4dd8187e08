// Every registered model trains on the smoke preset of Task 1 and its loss goes down. A new model is covered
// by registering it; this file does not change.
import "reflect-metadata";
import {
  type ModelRegistry,
  Tokens,
  createSelectivContainer,
  emptyOverrides,
  initBackend,
  planBenchmark,
  trainAndEvaluate,
} from "@selectiv/core";
import { registerModels } from "@selectiv/models";
import { registerTasks } from "@selectiv/tasks";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { container as root } from "tsyringe";
import { beforeAll, describe, expect, it } from "vitest";

const container = createSelectivContainer(root);
registerTasks(container);
registerModels(container);
const modelIds = container.resolve<ModelRegistry>(Tokens.ModelRegistry).ids();

describe("every registered model trains on the smoke preset", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  it("has models registered", () => {
    expect(modelIds.length).toBeGreaterThan(0);
  });

  for (const id of modelIds) {
    it(`${id}: loss decreases over a few steps and results are written`, async () => {
      const out = mkdtempSync(join(tmpdir(), `selectiv-every-${id}-`));
      const overrides = emptyOverrides();
      overrides.train = { lr: 1e-2, warmupSteps: 0 };
      const [run] = planBenchmark(container, {
        tasks: ["task1"],
        models: [id],
        seeds: [1],
        preset: "smoke",
        overrides,
        backend: "cpu",
        outDir: out,
      });
      const losses: number[] = [];
      const result = await trainAndEvaluate(
        { ...run!, backend: { name: "cpu", reason: "test" }, outDir: out, resume: false },
        { onProgress: (p) => losses.push(p.loss) },
      );
      expect(result.status).toBe("completed");
      expect(losses.length).toBeGreaterThanOrEqual(4);
      const head = losses.slice(0, 2).reduce((a, b) => a + b) / 2;
      const tail = losses.slice(-2).reduce((a, b) => a + b) / 2;
      expect(tail, `losses ${losses.map((l) => l.toFixed(3)).join(" ")}`).toBeLessThan(head);
      expect(result.params).toBeGreaterThan(0);
      expect(Number.isFinite(result.testAccuracy)).toBe(true);
    });
  }
});
