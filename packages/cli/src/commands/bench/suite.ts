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
    const started = Date.now();
    const note = (line: string) => json || process.stderr.write(`${line}\n`);
    let done = 0;
    const report = await runBenchmark(
      container,
      { tasks, models, seeds, preset, overrides, backend: (flags.backend ?? "auto") as BackendPreference, outDir, resume: !flags.fresh },
      {
        onRunStart: (p, i) =>
          note(`[suite ${i + 1}/${total}] ${p.task.id} ${p.model.id} seed ${p.seed}: starting${eta(done, total, started)}`),
        onRunEnd: (r, i) => {
          done = i + 1;
          note(`[suite ${done}/${total}] ${r.task} ${r.model} seed ${r.seed}: ${r.status}, test accuracy ${r.testAccuracy.toFixed(4)}`);
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

/** Time left from the average time of the runs done so far (reused runs make it shrink fast, which is right). */
function eta(done: number, total: number, started: number): string {
  if (done === 0) return ` (${total} runs)`;
  const perRun = (Date.now() - started) / 1000 / done;
  return ` (${done} done, ${total - done} left, about ${formatDuration(perRun * (total - done))} left)`;
}

function writeSuiteFiles(outDir: string, rankings: readonly TaskRanking[]): void {
  writeFileAtomic(join(outDir, "suite.md"), rankingMarkdown(rankings));
  writeFileAtomic(join(outDir, "suite.csv"), rankingCsv(rankings));
  const svg = rankingFigure(rankings);
  writeFileAtomic(join(outDir, "suite.svg"), svg);
  writeFileAtomic(join(outDir, "suite.png"), svgToPng(svg));
}
