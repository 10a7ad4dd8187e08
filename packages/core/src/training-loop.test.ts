// train.dropoutUntil (docs/spec/TASKS.md §5.1): `first-eval` drops out only until the first evaluation, as the
// reference (its test function calls model.eval() and never model.train() again), also across a resume.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { initBackend } from "./backend.js";
import type { Config } from "./config.js";
import { type ForwardOptions, type ModelDefinition, dropoutActive } from "./model.js";
import type { RunSpec } from "./run-spec.js";
import type { TaskDefinition } from "./task.js";
import { syntheticBatch } from "./testkit/backend-parity.js";
import { tiny } from "./tiny-model.fixture.js";
import { TRAINING_DEFAULTS, TRAINING_PRESETS, type TrainingConfig } from "./training-config.js";
import { trainAndEvaluate } from "./training-loop.js";

/** The tiny model, recording for every training forward pass of layer 0 whether it dropped out. */
function recordingModel(seen: boolean[]): ModelDefinition {
  return {
    ...tiny,
    createLayer: (context, config) => {
      const layer = tiny.createLayer(context, config);
      return {
        forward: (x, options: ForwardOptions) => {
          if (options.training && context.layerIndex === 0) seen.push(dropoutActive(options));
          return layer.forward(x, options);
        },
        initialState: (batch) => layer.initialState(batch),
        step: (x, state) => layer.step(x, state),
      };
    },
  };
}

/** 24 training samples (batch 4: 6 steps), 4 test samples. */
const synthetic: TaskDefinition = {
  id: "synthetic",
  description: "test task",
  schema: {},
  defaults: {},
  presets: { smoke: {}, quick: {}, paper: {} },
  create: () => ({
    inputSize: 5,
    numClasses: 7,
    summary: {},
    splitSize: (split) => (split === "train" ? 24 : 4),
    batch: (_split, _start, count) => syntheticBatch(count, 9, 5, 7),
  }),
};

function spec(seen: boolean[], training: Partial<TrainingConfig>, outDir: string): RunSpec {
  const tc: TrainingConfig = { ...TRAINING_DEFAULTS, width: 8, layers: 1, heads: 2, batchSize: 4, dropout: 0.5, evalEvery: 8, ...training };
  return {
    task: synthetic,
    taskConfig: {} as Config,
    model: recordingModel(seen),
    modelConfig: {},
    training: tc,
    seed: 1,
    preset: "smoke",
    backend: { name: "cpu", reason: "test" },
    outDir,
  };
}

const outDir = () => mkdtempSync(join(tmpdir(), "selectiv-dropout-until-"));

describe("train.dropoutUntil (docs/spec/TASKS.md §5.1)", () => {
  it("is first-eval in the paper preset and always elsewhere", () => {
    expect(TRAINING_DEFAULTS.dropoutUntil).toBe("always");
    expect(TRAINING_PRESETS.paper.dropoutUntil).toBe("first-eval");
    expect(TRAINING_PRESETS.quick.dropoutUntil).toBeUndefined();
    expect(TRAINING_PRESETS.smoke.dropoutUntil).toBeUndefined();
  });

  it("always: every step drops out; first-eval: the steps before the first evaluation only (evaluation after step 2)", async () => {
    await initBackend("cpu");
    const always: boolean[] = [];
    await trainAndEvaluate(spec(always, { dropoutUntil: "always" }, outDir()));
    expect(always).toEqual([true, true, true, true, true, true]);
    const firstEval: boolean[] = [];
    const result = await trainAndEvaluate(spec(firstEval, { dropoutUntil: "first-eval" }, outDir()));
    expect(firstEval).toEqual([true, true, false, false, false, false]);
    expect(result.status).toBe("completed");
  });

  it("a run continued from a checkpoint after its first evaluation keeps dropout off, and ends as an uninterrupted run", async () => {
    await initBackend("cpu");
    const whole: boolean[] = [];
    const uninterrupted = await trainAndEvaluate(spec(whole, { dropoutUntil: "first-eval" }, outDir()));

    const out = outDir();
    const before: boolean[] = [];
    // Stop the process's work right after the first evaluation's checkpoint (step 2), as a killed run would.
    await expect(
      trainAndEvaluate(spec(before, { dropoutUntil: "first-eval" }, out), {
        onProgress: (p) => {
          if (p.step === 2) throw new Error("stopped");
        },
      }),
    ).rejects.toThrow("stopped");
    expect(before).toEqual([true, true]);
    const after: boolean[] = [];
    let resumedAt = -1;
    const resumed = await trainAndEvaluate(spec(after, { dropoutUntil: "first-eval" }, out), { onResume: (step) => (resumedAt = step) });
    expect(resumedAt).toBe(2);
    expect([...before, ...after]).toEqual(whole);
    const numbers = (r: typeof resumed) => [r.testAccuracy, r.testLoss, r.bestTestAccuracy, r.steps];
    expect(numbers(resumed)).toEqual(numbers(uninterrupted));
    const losses = (dir: string) =>
      readFileSync(join(dir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { testLoss: number }).testLoss);
    expect(losses(resumed.runDir)).toEqual(losses(uninterrupted.runDir));
  });

  it("differs from always once dropout is on, and is the same as always without dropout", async () => {
    await initBackend("cpu");
    const run = (training: Partial<TrainingConfig>) => trainAndEvaluate(spec([], training, outDir()));
    const [a, f] = [await run({ dropoutUntil: "always" }), await run({ dropoutUntil: "first-eval" })];
    expect(f.testLoss).not.toBe(a.testLoss);
    const [a0, f0] = [await run({ dropoutUntil: "always", dropout: 0 }), await run({ dropoutUntil: "first-eval", dropout: 0 })];
    expect(f0.testLoss).toBe(a0.testLoss);
  });
});
