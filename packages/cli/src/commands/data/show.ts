import { Flags } from "@oclif/core";
import { PRESET_NAMES, type Split } from "@selectiv/core";
import { createGrammarTaskInstance, resolveTaskSelection, sampleView, type SampleView } from "@selectiv/tasks";
import { SelectivCommand } from "../../base.js";

/** ANSI styles; identity functions when colour is off. */
interface Palette {
  readonly dim: (s: string) => string;
  readonly bold: (s: string) => string;
  readonly distractor: (s: string) => string;
  /** The colour of hidden states with ambiguity index i (letters with one state stay plain). */
  readonly state: (name: string) => string;
}

const STATE_COLOURS = [36, 33, 35, 32, 34, 96, 93, 95];

function palette(colour: boolean): Palette {
  const sgr = (code: string) => (s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    dim: sgr("2"),
    bold: sgr("1"),
    distractor: sgr("31;1"),
    state: (name) => {
      if (!colour || name.length < 2) return name === "#" ? sgr("2")(name) : name;
      return sgr(String(STATE_COLOURS[Number(name.slice(1)) % STATE_COLOURS.length]))(name);
    },
  };
}

/** Colour when stdout is a terminal, unless NO_COLOR is set; FORCE_COLOR turns it on elsewhere. */
export function useColour(env: NodeJS.ProcessEnv = process.env, stream: NodeJS.WriteStream = process.stdout): boolean {
  if (env.NO_COLOR) return false;
  return stream.isTTY === true || Boolean(env.FORCE_COLOR && env.FORCE_COLOR !== "0");
}

/** The gap after a symbol as text: `·` per blank step (`·×n` beyond 3), or its distractor tokens. */
function gapText(steps: number, tokens: readonly string[]): string {
  if (tokens.length > 0) return tokens.join("");
  if (steps === 0) return "";
  return steps <= 3 ? "·".repeat(steps) : `·×${steps}`;
}

/** Rows pos / symbol / state / gap, one column per symbol, wrapped to `width` characters. */
export function formatSample(view: SampleView, width: number, p: Palette): string {
  const labels = ["pos", "symbol", "state", "gap"];
  const labelWidth = Math.max(...labels.map((l) => l.length)) + 2;
  const columns = view.symbols.map((symbol, i) => {
    const gap = gapText(view.gaps[i]!, view.distractors[i]!);
    const cells = [String(i), symbol, view.states[i]!, gap];
    return { cells, width: Math.max(...cells.map((c) => c.length)) + 1 };
  });
  const blocks: string[] = [];
  for (let first = 0; first < columns.length;) {
    let used = labelWidth;
    let last = first;
    while (last < columns.length && (last === first || used + columns[last]!.width <= width)) used += columns[last++]!.width;
    const rows = labels.map((label, row) => {
      const cells = columns.slice(first, last).map(({ cells, width: w }, k) => {
        const text = cells[row]!;
        const pad = " ".repeat(w - text.length);
        const i = first + k;
        if (row === 0) return p.dim(text) + pad;
        if (row === 1) return (text === "#" ? p.dim(text) : p.bold(text)) + pad;
        if (row === 2) return p.state(text) + pad;
        return (view.distractors[i]!.length > 0 ? p.distractor(text) : p.dim(text)) + pad;
      });
      return (p.dim(label.padEnd(labelWidth)) + cells.join("")).trimEnd();
    });
    blocks.push(rows.join("\n"));
    first = last;
  }
  return blocks.join("\n\n");
}

export default class DataShow extends SelectivCommand {
  static override summary = "Print one sample: its symbols, hidden states, gaps and distractors.";
  static override description =
    "Colours (hidden states by ambiguity index, distractor tokens in red) when stdout is a terminal; NO_COLOR turns them off.";
  static override examples = [
    "<%= config.bin %> data show --task task3 --preset quick --index 2",
    "<%= config.bin %> data show --task task2 --split test --json",
  ];

  static override flags = {
    task: Flags.string({ description: "Task id. Default: task1." }),
    split: Flags.string({ description: "train or test. Default: train.", options: ["train", "test"] }),
    index: Flags.integer({ description: "Sample index within the split. Default: 0." }),
    preset: Flags.string({ description: `Preset of the task config: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    seed: Flags.integer({ description: "Seed. Default: 1." }),
    set: Flags.string({ description: "Override one task field: task.KEY=V or ID.KEY=V (repeatable).", multiple: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataShow);
    const selection = resolveTaskSelection(await this.selectivContainer(), {
      task: flags.task ?? "task1",
      preset: flags.preset ?? "quick",
      assignments: flags.set ?? [],
    });
    const seed = flags.seed ?? 1;
    const instance = createGrammarTaskInstance(selection, seed);
    const view = sampleView(instance, (flags.split ?? "train") as Split, flags.index ?? 0);
    const task = selection.definition.id;
    if (flags.json) {
      this.printJson({ task, preset: selection.preset, seed, distractorGaps: instance.generator.options.distractors, ...view });
      return;
    }
    const p = palette(useColour());
    const filled = instance.generator.options.distractors ? "distractor gaps" : "blank gaps";
    const noise = view.noise > 0 ? `; noise Uniform[0, 1) × ${view.noise} on every input entry (not shown)` : "";
    this.log(
      p.bold(`${task} (${selection.preset}, seed ${seed}), ${view.split} sample ${view.index}: `) +
        `${view.symbols.length} symbols, ${view.steps} steps; ${filled}${noise}`,
    );
    this.log("");
    this.log(formatSample(view, Math.max(40, process.stdout.columns || 100), p));
    this.log("");
    this.log(p.dim(`gap: · = one blank step; red letters = distractor tokens (not allowed by the grammar in that state)`));
  }
}
