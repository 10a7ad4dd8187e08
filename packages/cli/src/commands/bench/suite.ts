import { Flags } from "@oclif/core";
import {
  BACKEND_PREFERENCES,
  PRESET_NAMES,
  SelectivError,
  type BackendPreference,
  type PresetName,
  type RunResult,
  type TaskDefinition,
  type TaskRegistry,
  Tokens,
  emptyOverrides,
  parseAssignments,
  runBenchmark,
  writeFileAtomic,
} from "@selectiv/core";
import { join, resolve } from "node:path";
import { SelectivCommand } from "../../base.js";
import { formatDuration } from "../../format.js";
import { svgToPng } from "../../report/index.js";
import {
  SEPARATION_LEGEND,
  type TaskRanking,
  rankTask,
  rankingCsv,
  rankingFigure,
  rankingMarkdown,
  rankingText,
} from "../../suite/ranking.js";

/** "1-4", "1,3,5" or "2": seeds as a list; anything else is a one-line error naming the flag. */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || hi < lo || hi - lo > 1000) {
      throw new SelectivError(`--seeds: got ${JSON.stringify(text)}; expected seeds such as 1-4, 1,3,5 or 2`);
    }
    for (let s = lo; s <= hi; s++) if (!seeds.includes(s)) seeds.push(s);
  }
  return seeds;
}

/** The suite's tasks in order, and its default models: those the paper reports on any suite task. */
function suiteOf(tasks: TaskRegistry): { tasks: TaskDefinition[]; paperModels: string[] } {
  const suite = tasks
    .list()
    .filter((t) => t.suite)
    .sort((a, b) => a.suite!.position - b.suite!.position);
  const paperModels = [...new Set(suite.flatMap((t) => Object.keys(t.suite!.paperAccuracy ?? {})))];
  return { tasks: suite, paperModels };
}

export default class BenchSuite extends SelectivCommand {
  static override summary = "Run the SelectivBench suite (Tasks 1–4) for several models and seeds, then rank the models per task.";
  static override description =
    "Trains every (task, model, seed) of the suite like bench run (same run folders; re-running reuses finished runs and " +
    "continues unfinished ones), then prints one ranking table per task: mean ± std over seeds, the ceiling, the " +
    "majority baseline, whether neighbours differ by more than their spread, and the paper's ranking. Writes " +
    "suite.md, suite.csv and suite.{svg,png} into the results folder.";
  static override examples = [
    "<%= config.bin %> bench suite --preset quick --models delta-net,mamba2 --seeds 1",
    "<%= config.bin %> bench suite --seeds 1-4 --out results/suite",
  ];

  static override flags = {
    preset: Flags.string({ description: `Preset: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    models: Flags.string({ description: "Comma-separated model ids. Default: the models the paper reports." }),
    seeds: Flags.string({ description: "Seeds, e.g. 1-4 or 1,3. Default: 1-4." }),
    set: Flags.string({ description: "Override one field, as bench run --set (repeatable).", multiple: true }),
    backend: Flags.string({ description: `Backend: ${BACKEND_PREFERENCES.join("|")}. Default: auto.` }),
    out: Flags.string({ description: "Results folder. Default: ./results/suite-<preset>." }),
    fresh: Flags.boolean({ description: "Train every run from scratch." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(BenchSuite);
    const container = await this.selectivContainer();
    const suite = suiteOf(container.resolve<TaskRegistry>(Tokens.TaskRegistry));
    const preset = (flags.preset ?? "quick") as PresetName;
    const tasks = suite.tasks.map((t) => t.id);
    const models = flags.models ? flags.models.split(",").map((m) => m.trim()) : suite.paperModels;
    const seeds = parseSeeds(flags.seeds ?? "1-4");
    const overrides = parseAssignments(container, flags.set ?? [], { tasks, models }, emptyOverrides());
    const outDir = resolve(flags.out ?? join("results", `suite-${preset}`));
    const json = flags.json ?? false;
    const total = tasks.length * models.length * seeds.length;
    const note = (line: string) => json || process.stderr.write(`${line}\n`);
    const progress = new SuiteProgress(total);
    const report = await runBenchmark(
      container,
      { tasks, models, seeds, preset, overrides, backend: (flags.backend ?? "auto") as BackendPreference, outDir, resume: !flags.fresh },
      {
        onRunStart: (p, i) => {
          progress.start(p.task.transfer !== undefined);
          note(`[suite ${i + 1}/${total}] ${p.task.id} ${p.model.id} seed ${p.seed}: starting${progress.left()}`);
        },
        onResume: (_step, _total, reused) => {
          if (reused) progress.reused();
        },
        onRunEnd: (r, i) => {
          progress.end();
          note(`[suite ${i + 1}/${total}] ${r.task} ${r.model} seed ${r.seed}: ${r.status}, test accuracy ${r.testAccuracy.toFixed(4)}`);
        },
      },
    );
    const rankings = suite.tasks.map((t) => rankTask(t.id, report.runs, t.suite));
    writeSuiteFiles(outDir, rankings);
    if (json) {
      this.printJson({ backend: report.backend, rankings, runs: report.runs as RunResult[] });
      return;
    }
    process.stderr.write(`backend: ${report.backend.name} (${report.backend.reason})\n`);
    this.log(rankings.map(rankingText).join("\n\n"));
    this.log(`\n${SEPARATION_LEGEND}`);
    this.log(`Suite tables and figure: ${outDir}/suite.{md,csv,svg,png}; run folders under ${outDir}/`);
  }
}

/**
 * Runs done and left, and the time left from the runs that did work here: a finished run reused whole takes no time
 * and would make the estimate drop to nothing while real runs remain (a transfer run that reuses its training run
 * still evaluates, so it counts).
 */
class SuiteProgress {
  private done = 0;
  private worked = 0;
  private workSeconds = 0;
  private startedAt = 0;
  private transfer = false;
  private wasReused = false;

  constructor(private readonly total: number) {}

  start(transfer: boolean): void {
    [this.startedAt, this.transfer, this.wasReused] = [Date.now(), transfer, false];
  }

  reused(): void {
    if (!this.transfer) this.wasReused = true;
  }

  end(): void {
    this.done++;
    if (this.wasReused) return;
    this.worked++;
    this.workSeconds += (Date.now() - this.startedAt) / 1000;
  }

  left(): string {
    if (this.done === 0) return ` (${this.total} runs)`;
    const left = this.total - this.done;
    const time = this.worked > 0 ? `, about ${formatDuration((this.workSeconds / this.worked) * left)} left` : "";
    return ` (${this.done} done, ${left} left${time})`;
  }
}

function writeSuiteFiles(outDir: string, rankings: readonly TaskRanking[]): void {
  writeFileAtomic(join(outDir, "suite.md"), rankingMarkdown(rankings));
  writeFileAtomic(join(outDir, "suite.csv"), rankingCsv(rankings));
  const svg = rankingFigure(rankings);
  writeFileAtomic(join(outDir, "suite.svg"), svg);
  writeFileAtomic(join(outDir, "suite.png"), svgToPng(svg));
}
