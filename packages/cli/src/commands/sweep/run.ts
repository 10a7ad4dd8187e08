import { Args, Flags } from "@oclif/core";
import { BACKEND_PREFERENCES, type BackendPreference, PRESET_NAMES, type PresetName, SelectivError } from "@selectiv/core";
import { resolve } from "node:path";
import { SelectivCommand } from "../../base.js";
import { tableLines } from "../../format.js";
import { writeResultsIndex } from "@selectiv/core";
import { BullmqExecutor, DEFAULT_QUEUE, checkRedisUrl } from "../../sweep/bullmq.js";
import { LocalExecutor, type SweepExecutor, defaultWorkerCount } from "../../sweep/executor.js";
import { SweepFolder, countStates } from "../../sweep/folder.js";
import { describePoint, expandSweep, planningProgressLine, readSweepFile } from "../../sweep/plan.js";
import { processOptionsOf } from "../../sweep/run-process.js";

export default class SweepRun extends SelectivCommand {
  static override summary = "Run a sweep (a grid or random search over tasks, models, seeds and any config field).";
  static override description =
    "SWEEP is a selectiv sweep file or one of the reference's W&B sweep files. Every run is identified by core's run id " +
    "(a hash of all its settings): a repeated or interrupted sweep skips finished runs and continues unfinished ones " +
    "from their checkpoints. Results go to <out>/<run-id>/ as with bench run, and <out>/results.{csv,jsonl}. See docs/SWEEPS.md.";
  static override examples = [
    "<%= config.bin %> sweep run sweep.yaml",
    "<%= config.bin %> sweep run wb_configs/task1_complexity.yaml --dry-run",
    "<%= config.bin %> sweep run sweep.yaml --executor bullmq --redis redis://queue-host:6379",
  ];
  static override args = {
    file: Args.string({ description: "Sweep file (selectiv YAML/JSON, or a W&B sweep YAML).", required: true }),
  };
  static override flags = {
    out: Flags.string({ description: "Sweep folder (shared by every worker). Default: the file's out, else sweeps/<name>." }),
    executor: Flags.string({
      description: "local (worker processes on this machine) or bullmq (a Redis queue for many machines).",
      default: "local",
    }),
    workers: Flags.integer({ description: "local: worker processes. Default: one per CPU core." }),
    redis: Flags.string({ description: "bullmq: Redis URL, e.g. redis://HOST:6379." }),
    queue: Flags.string({ description: `bullmq: queue name. Default: ${DEFAULT_QUEUE}.` }),
    wait: Flags.boolean({ description: "bullmq: wait until every run is done or failed, then write the results index." }),
    "dry-run": Flags.boolean({ description: "List the expanded runs and their count; train nothing." }),
    set: Flags.string({
      description: "Override one field in every run: train.KEY=V, task.KEY=V, model.KEY=V or ID.KEY=V (repeatable).",
      multiple: true,
    }),
    preset: Flags.string({ description: `Preset: ${PRESET_NAMES.join("|")}. Default: the file's (W&B files: paper).` }),
    backend: Flags.string({ description: `Backend: ${BACKEND_PREFERENCES.join("|")}. Default: the file's, else auto.` }),
    count: Flags.integer({ description: "Random search: configurations to draw (overrides the file's count / run_cap).", min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SweepRun);
    if (flags.preset !== undefined && !(PRESET_NAMES as readonly string[]).includes(flags.preset)) {
      throw new SelectivError(`--preset: got ${JSON.stringify(flags.preset)}; expected one of ${PRESET_NAMES.join(", ")}`);
    }
    if (flags.backend !== undefined && !BACKEND_PREFERENCES.includes(flags.backend as BackendPreference)) {
      throw new SelectivError(`--backend: got ${JSON.stringify(flags.backend)}; expected one of ${BACKEND_PREFERENCES.join(", ")}`);
    }
    if (flags.executor !== "local" && flags.executor !== "bullmq") {
      throw new SelectivError(`--executor: got ${JSON.stringify(flags.executor)}; expected local or bullmq`);
    }
    if (flags.executor === "bullmq" && !flags.redis) throw new SelectivError("--executor bullmq needs --redis URL");
    if (flags.redis) checkRedisUrl(flags.redis);
    if (flags.executor === "local" && (flags.redis || flags.queue || flags.wait)) {
      throw new SelectivError("--redis, --queue and --wait belong to --executor bullmq");
    }
    const json = flags.json ?? false;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const container = await this.selectivContainer();
    const source = readSweepFile(container, args.file);
    // Progress only for sweeps that take a while to plan: lines start after the first second.
    let showedProgress = false;
    const { runs, duplicates } = expandSweep(
      container,
      source,
      {
        preset: flags.preset as PresetName | undefined,
        backend: flags.backend as BackendPreference | undefined,
        count: flags.count,
        set: flags.set,
      },
      {
        onProgress: (planned, total) => {
          if (planned === total && !showedProgress) return;
          showedProgress = true;
          log(planningProgressLine(planned, total));
        },
      },
    );
    const outDir = resolve(flags.out ?? source.out ?? `sweeps/${source.name}`);
    const header = `sweep ${source.name} (${source.format === "wandb" ? "W&B file" : "selectiv file"} ${args.file}, ${source.method}): ${runs.length} runs${duplicates ? ` (${duplicates} repeated points merged)` : ""}`;
    if (source.ignored.length) log(`ignored (no effect on results, see docs/SWEEPS.md): ${source.ignored.map((i) => i.name).join(", ")}`);

    if (flags["dry-run"]) {
      if (json) {
        this.printJsonWithList(
          {
            sweep: { name: source.name, file: args.file, format: source.format, method: source.method, out: outDir },
            count: runs.length,
            duplicates,
            ignored: source.ignored,
          },
          "runs",
          runs,
        );
        return;
      }
      const varying = source.dimensions
        .filter((d) => d.domain.kind !== "values" || d.domain.values.length > 1)
        .map((d) => d.key)
        .filter((k) => !["task", "model", "seed"].includes(k));
      // Rows are made as the table is written (twice: widths, then lines), never held for a whole sweep.
      const rows = {
        *[Symbol.iterator]() {
          for (const r of runs) {
            yield [r.id, r.task, r.model, String(r.seed), describePoint(Object.fromEntries(varying.map((k) => [k, r.point[k]])))];
          }
        },
      };
      this.log(header);
      this.printLines(tableLines(["run id", "task", "model", "seed", "varying settings"], rows));
      this.log(`${runs.length} runs (dry run: nothing trained; results would go to ${outDir})`);
      return;
    }

    const folder = new SweepFolder(outDir);
    folder.ensure();
    const manifest = folder.writeManifest(source, runs);
    log(`${header} → ${outDir}`);
    const executor: SweepExecutor =
      flags.executor === "bullmq"
        ? new BullmqExecutor(flags.redis!, flags.queue ?? DEFAULT_QUEUE, flags.wait)
        : new LocalExecutor(flags.workers ?? defaultWorkerCount(), processOptionsOf(this.config));
    const summary = await executor.execute({ folder, manifest, runs }, log);
    if (executor.name === "local") writeResultsIndex(outDir);
    const counts = countStates(folder.status({ ...manifest, runs }));
    if (json) {
      this.printJson({ sweep: { id: manifest.id, name: source.name, file: args.file, out: outDir }, summary, counts });
    } else {
      this.log(
        summary.executor === "local"
          ? `${counts.done}/${runs.length} runs done (${summary.completed} trained now, ${summary.alreadyDone} done before) in ${summary.wallSeconds.toFixed(1)} s`
          : `${summary.enqueued} runs enqueued; ${counts.done}/${runs.length} done`,
      );
      this.log(`Sweep folder: ${outDir} (selectiv sweep status ${outDir}; results.csv once runs are done)`);
    }
    if (summary.failed.length) {
      throw new SelectivError(
        `${summary.failed.length} of ${runs.length} runs failed (first: ${summary.failed[0]!.runId}: ${summary.failed[0]!.error}); see selectiv sweep status ${outDir}`,
      );
    }
  }
}
