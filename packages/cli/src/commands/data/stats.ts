import { Flags } from "@oclif/core";
import { PRESET_NAMES, SelectivError } from "@selectiv/core";
import {
  SUMMARY_STRINGS,
  createGrammarTaskInstance,
  grammarStatistics,
  meanGrammarStatistics,
  resolveTaskSelection,
  summaryRng,
} from "@selectiv/tasks";
import { SelectivCommand } from "../../base.js";
import { formatTable } from "../../format.js";

export default class DataStats extends SelectivCommand {
  static override summary = "Grammar statistics per seed and their mean: states, edges, edges into #, TE, string lengths.";
  static override description =
    "For the grammar of each --seed under the task config (preset and --set): hidden states, edges, edges into '#', " +
    "topological entropy, and the length distribution of --strings strings ('#' included). The mean row (JSON: mean) " +
    "averages over the seeds; compare with the reference generator's figures.";
  static override examples = [
    "<%= config.bin %> data stats --task task1 --set task.complexity=8 --seed 1 --seed 2 --seed 3 --json",
    "<%= config.bin %> data stats --preset paper --seed 1",
  ];

  static override flags = {
    task: Flags.string({ description: "Task id. Default: task1." }),
    preset: Flags.string({ description: `Preset of the task config: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    seed: Flags.integer({ description: "Grammar seed (repeatable). Default: 1.", multiple: true }),
    set: Flags.string({ description: "Override one task field: task.KEY=V or ID.KEY=V (repeatable).", multiple: true }),
    strings: Flags.integer({ description: `Strings drawn per grammar for the length distribution. Default: ${SUMMARY_STRINGS}.` }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataStats);
    const strings = flags.strings ?? SUMMARY_STRINGS;
    if (!(Number.isInteger(strings) && strings >= 1 && strings <= 10_000_000)) {
      throw new SelectivError(`--strings: got ${strings}; expected an integer in [1, 10000000]`);
    }
    const selection = resolveTaskSelection(await this.selectivContainer(), {
      task: flags.task ?? "task1",
      preset: flags.preset ?? "quick",
      assignments: flags.set ?? [],
    });
    const seeds = flags.seed ?? [1];
    const perSeed = seeds.map((seed) => {
      const instance = createGrammarTaskInstance(selection, seed);
      return { seed, ...grammarStatistics(instance.grammar, instance.generator.strings, summaryRng(seed), strings) };
    });
    const mean = meanGrammarStatistics(perSeed);
    const task = selection.definition.id;
    if (flags.json) {
      this.printJson({ task, preset: selection.preset, config: selection.config, strings, seeds: perSeed, mean });
      return;
    }
    const f = (v: number, digits: number): string => v.toFixed(digits);
    this.log(`${task} (${selection.preset}), ${strings} strings per grammar`);
    this.log(
      formatTable(
        ["seed", "states", "edges", "edges into #", "TE", "mean length", "min", "p10", "median", "p90", "max"],
        [
          ...perSeed.map((s) => [
            String(s.seed),
            String(s.states),
            String(s.edges),
            String(s.edgesToEnd),
            f(s.te, 4),
            f(s.meanStringLength, 2),
            ...[s.stringLengths.min, s.stringLengths.p10, s.stringLengths.median, s.stringLengths.p90, s.stringLengths.max].map(String),
          ]),
          ...(perSeed.length > 1
            ? [["mean", f(mean.states, 1), f(mean.edges, 2), f(mean.edgesToEnd, 2), f(mean.te, 4), f(mean.meanStringLength, 2)]]
            : []),
        ],
      ),
    );
    if (perSeed.length === 1) {
      const hist = perSeed[0]!.stringLengths.histogram;
      const most = Math.max(...hist.map((b) => b.count));
      this.log("\nstring lengths:");
      for (const b of hist) {
        this.log(`  ${`${b.from}-${b.to}`.padStart(9)}  ${"#".repeat(Math.round((40 * b.count) / most)).padEnd(40)} ${b.count}`);
      }
    }
  }
}
