import { Flags } from "@oclif/core";
import {
  BACKEND_PREFERENCES,
  PRESET_NAMES,
  type BackendPreference,
  type Overrides,
  type PresetName,
  type RunResult,
  emptyOverrides,
  parseAssignments,
  runBenchmark,
} from "@selectiv/core";
import { resolve } from "node:path";
import { SelectivCommand } from "../../base.js";
import { readBenchConfigFile, readRunFolder } from "../../config-file.js";
import { ProgressLine, fixed, formatDuration, formatTable } from "../../format.js";

export default class BenchRun extends SelectivCommand {
  static override summary = "Train and evaluate models on tasks, then print a results table.";
  static override description =
    "With no flags, runs the quick preset: Task 1 on a small grammar, GLA, seed 1. Results go to <out>/<run-id>/ " +
    "(config.json, metrics.jsonl, result.json) and <out>/results.{jsonl,csv}.";
  static override examples = [
    "<%= config.bin %> bench run",
    "<%= config.bin %> bench run --preset smoke --model gla --json",
    "<%= config.bin %> bench run --task task1 --model gla --seed 1 --seed 2 --set train.width=128 --set task.ambiguities=6",
  ];

  static override flags = {
    task: Flags.string({ description: "Task id (repeatable). Default: task1.", multiple: true }),
    model: Flags.string({ description: "Model id (repeatable). Default: gla.", multiple: true }),
    preset: Flags.string({ description: `Preset: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    config: Flags.string({
      description: "JSON or YAML file with preset, tasks, models, seeds, backend, out, train, task, model, overrides.",
    }),
    set: Flags.string({
      description: "Override one field: train.KEY=V, task.KEY=V, model.KEY=V or ID.KEY=V (repeatable).",
      multiple: true,
    }),
    seed: Flags.integer({ description: "Seed (repeatable). Default: 1.", multiple: true }),
    backend: Flags.string({ description: `Backend: ${BACKEND_PREFERENCES.join("|")}. Default: auto.` }),
    out: Flags.string({ description: "Results folder. Default: ./results." }),
    resume: Flags.string({
      description:
        "Continue the run in this folder (its config.json gives task, model, seed and settings); other run flags are not allowed with it.",
      exclusive: ["task", "model", "preset", "config", "set", "seed", "fresh"],
    }),
    fresh: Flags.boolean({ description: "Train from scratch even where a finished or checkpointed run with the same settings exists." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(BenchRun);
    const file = flags.resume ? readRunFolder(flags.resume) : flags.config ? readBenchConfigFile(flags.config) : {};
    const container = await this.selectivContainer();
    const tasks = flags.task ?? file.tasks ?? ["task1"];
    const models = flags.model ?? file.models ?? ["gla"];
    const overrides: Overrides = emptyOverrides();
    Object.assign(overrides.train, file.train);
    Object.assign(overrides.task, file.task);
    Object.assign(overrides.model, file.model);
    for (const [id, section] of Object.entries(file.overrides ?? {})) {
      // An id names a task or a model; planBenchmark rejects ids that are neither.
      (tasks.includes(id) ? overrides.tasks : overrides.models)[id] = section;
    }
    parseAssignments(container, flags.set ?? [], { tasks, models }, overrides);
    const outDir = resolve(flags.resume ? file.out! : (flags.out ?? file.out ?? "results"));
    const json = flags.json ?? false;
    const progress = new ProgressLine(!json && process.stderr.isTTY === true);
    let label = "";
    const report = await runBenchmark(
      container,
      {
        tasks,
        models,
        seeds: flags.seed ?? file.seeds ?? [1],
        preset: (flags.preset ?? file.preset ?? "quick") as PresetName,
        overrides,
        backend: (flags.backend ?? file.backend ?? "auto") as BackendPreference,
        outDir,
        resume: !flags.fresh,
      },
      {
        onRunStart: (run, i, n) => {
          label = `[${i + 1}/${n}] ${run.task.id} ${run.model.id} seed ${run.seed}`;
          if (!json) process.stderr.write(`${label}: starting\n`);
        },
        onResume: (step, total, reused) => {
          if (json) return;
          process.stderr.write(
            reused?.status === "diverged"
              ? `${label}: diverged earlier at step ${step} with the same settings; reusing that result (same seed, same divergence; --fresh retrains)\n`
              : step >= total || reused
                ? `${label}: finished earlier with the same settings; reusing it (--fresh retrains)\n`
                : `${label}: continuing from the checkpoint at step ${step}/${total}\n`,
          );
        },
        onProgress: (p) =>
          progress.update(label, p.step, p.totalSteps, p.loss, p.kl === undefined ? p.accuracy : undefined, p.etaSeconds, p.kl),
        onRunEnd: (r) => {
          progress.done();
          if (!json) {
            const metric =
              r.objective === "prediction"
                ? `test KL ${fixed(r.testKl ?? NaN)} (test loss ${fixed(r.testLoss)})`
                : `test accuracy ${r.testAccuracy.toFixed(4)} (majority baseline ${r.majorityBaseline.toFixed(4)}, ceiling ${fixed(r.ceiling ?? NaN)})`;
            process.stderr.write(`${label}: ${r.status}, ${metric} in ${formatDuration(r.wallSeconds)}\n`);
          }
        },
      },
    );
    if (json) {
      this.printJson({ backend: report.backend, runs: report.runs });
      return;
    }
    process.stderr.write(`backend: ${report.backend.name} (${report.backend.reason})\n`);
    this.log(resultsTable(report.runs));
    this.log(`\nResults: ${outDir}/results.csv (one row per run), run folders under ${outDir}/`);
  }
}

/**
 * One row per run; a "test KL" column appears when some run trains the prediction objective (accuracy, baseline and
 * ceiling are then "–"). The ceiling is the best accuracy any model can reach (docs/spec/TASKS.md §4.1).
 */
function resultsTable(runs: readonly RunResult[]): string {
  const kl = runs.some((r) => r.objective === "prediction");
  return formatTable(
    [
      "task",
      "model",
      "seed",
      "params",
      "test acc",
      "majority baseline",
      "ceiling",
      ...(kl ? ["test KL"] : []),
      "test loss",
      "status",
      "backend",
      "wall",
    ],
    runs.map((r) => [
      r.task,
      r.model,
      String(r.seed),
      r.params.toLocaleString("en-US"),
      r.objective === "prediction" ? "–" : r.testAccuracy.toFixed(4),
      r.objective === "prediction" ? "–" : r.majorityBaseline.toFixed(4),
      fixed(r.ceiling ?? NaN),
      ...(kl ? [r.objective === "prediction" ? fixed(r.testKl ?? NaN) : "–"] : []),
      r.testLoss.toFixed(4),
      r.status,
      r.backend,
      formatDuration(r.wallSeconds),
    ]),
  );
}
