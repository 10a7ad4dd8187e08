import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { Flags } from "@oclif/core";
import { PRESET_NAMES, SelectivError } from "@selectiv/core";
import {
  GRAMMAR_RENDER_FORMATS,
  createGrammarTaskInstance,
  grammarJson,
  renderGrammar,
  resolveTaskSelection,
  type GrammarRenderFormat,
} from "@selectiv/tasks";
import { SelectivCommand } from "../../base.js";

export default class GrammarShow extends SelectivCommand {
  static override summary = "Draw a task's grammar: Graphviz DOT text or an SVG drawing.";
  static override description =
    "svg: states on a circle in class-id order ('#' red at the top, start states green), curved edges with arrowheads, " +
    "a tooltip on every state and edge. dot: for Graphviz (`dot -Tpng`). --json prints the grammar as JSON instead.";
  static override examples = [
    "<%= config.bin %> grammar show --task task1 --preset smoke --format svg --out grammar.svg",
    "<%= config.bin %> grammar show --set task.complexity=6 --seed 3 | dot -Tpng -o grammar.png",
  ];

  static override flags = {
    task: Flags.string({ description: "Task id. Default: task1." }),
    format: Flags.string({ description: `Output: ${GRAMMAR_RENDER_FORMATS.join("|")}. Default: dot.` }),
    out: Flags.string({ description: "File to write. Default: stdout." }),
    preset: Flags.string({ description: `Preset of the task config: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    seed: Flags.integer({ description: "Grammar seed. Default: 1." }),
    set: Flags.string({ description: "Override one task field: task.KEY=V or ID.KEY=V (repeatable).", multiple: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(GrammarShow);
    const format = (flags.format ?? "dot") as GrammarRenderFormat;
    if (!GRAMMAR_RENDER_FORMATS.includes(format)) {
      throw new SelectivError(`--format: got ${JSON.stringify(flags.format)}; expected one of ${GRAMMAR_RENDER_FORMATS.join(", ")}`);
    }
    const selection = resolveTaskSelection(await this.selectivContainer(), {
      task: flags.task ?? "task1",
      preset: flags.preset ?? "quick",
      assignments: flags.set ?? [],
    });
    const seed = flags.seed ?? 1;
    const grammar = createGrammarTaskInstance(selection, seed).grammar;
    const task = selection.definition.id;
    if (flags.json) {
      this.printJson({ task, preset: selection.preset, seed, ...grammar.stats(), ...grammarJson(grammar) });
      return;
    }
    const text = renderGrammar(grammar, format, `${task} (${selection.preset}, seed ${seed})`);
    if (flags.out === undefined) {
      process.stdout.write(text);
      return;
    }
    const path = resolve(flags.out);
    try {
      writeFileSync(path, text);
    } catch (e) {
      throw new SelectivError(`--out: cannot write ${JSON.stringify(path)} (${(e as Error).message.split("\n")[0]})`);
    }
    process.stderr.write(`${format}: ${grammar.numStates} states, ${grammar.numEdges} edges → ${path}\n`);
  }
}
