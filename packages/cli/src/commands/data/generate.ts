import { Flags } from "@oclif/core";
import { PRESET_NAMES, SelectivError, type Split } from "@selectiv/core";
import {
  DATASET_FORMATS,
  createGrammarTaskInstance,
  defaultCacheDir,
  generateDataset,
  resolveTaskSelection,
  type DatasetFormat,
} from "@selectiv/tasks";
import { resolve } from "node:path";
import { SelectivCommand } from "../../base.js";

export default class DataGenerate extends SelectivCommand {
  static override summary = "Write a task's samples to a folder, in selectiv or the reference's format.";
  static override description =
    "Samples 0 .. N-1 of each split. The files are generated once into the cache (<cache>/datasets/<key>/, the key a " +
    "hash of everything they are made from) and copied to --out; the same request again copies from the cache after " +
    "checking the entry against its listing (a damaged entry is regenerated). --out gets selectiv-files.json last (every " +
    "file with its size and sha256); a folder holding one is replaced whole, any other non-empty folder only with --force. " +
    "selectiv format: manifest.json, grammar.json, train.jsonl, test.jsonl (symbols, states, gaps, distractors). " +
    "reference format (docs/spec/TASKS.md §6): transitions, config.yaml, train, test.";
  static override examples = [
    "<%= config.bin %> data generate --task task2 --preset quick --out data/task2",
    "<%= config.bin %> data generate --task task1 --split test --size 100 --format reference --seed 3 --out data/ref",
    "<%= config.bin %> data generate --task reference-dataset --set reference-dataset.path=ref --out data/imported",
  ];

  static override flags = {
    task: Flags.string({ description: "Task id. Default: task1." }),
    split: Flags.string({ description: "train or test. Default: both.", options: ["train", "test"] }),
    size: Flags.integer({ description: "Samples per split written (samples 0 .. N-1). Default: the split's size in the task config." }),
    out: Flags.string({
      description: "Folder to write into: new, empty, or an earlier output of data generate (replaced whole).",
      required: true,
    }),
    force: Flags.boolean({ description: "Replace the contents of a non-empty --out that is not an earlier output of data generate." }),
    format: Flags.string({ description: `File format: ${DATASET_FORMATS.join("|")}. Default: selectiv.` }),
    preset: Flags.string({ description: `Preset of the task config: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    seed: Flags.integer({ description: "Seed (the grammar seed and the samples' seed). Default: 1." }),
    set: Flags.string({ description: "Override one task field: task.KEY=V or ID.KEY=V (repeatable).", multiple: true }),
    cache: Flags.string({
      description: "Cache folder. Default: $SELECTIV_CACHE_DIR, else $XDG_CACHE_HOME/selectiv, else ~/.cache/selectiv.",
    }),
    "no-cache": Flags.boolean({ description: "Write straight to --out without reading or filling the cache." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DataGenerate);
    const format = (flags.format ?? "selectiv") as DatasetFormat;
    if (!DATASET_FORMATS.includes(format)) {
      throw new SelectivError(`--format: got ${JSON.stringify(flags.format)}; expected one of ${DATASET_FORMATS.join(", ")}`);
    }
    const selection = resolveTaskSelection(await this.selectivContainer(), {
      task: flags.task ?? "task1",
      preset: flags.preset ?? "quick",
      assignments: flags.set ?? [],
    });
    const seed = flags.seed ?? 1;
    const instance = createGrammarTaskInstance(selection, seed);
    const splits: Partial<Record<Split, number>> = {};
    for (const split of flags.split ? [flags.split as Split] : (["train", "test"] as const)) {
      const available = instance.splitSize(split);
      const size = flags.size ?? available;
      if (!(Number.isInteger(size) && size >= 1 && size <= available)) {
        throw new SelectivError(
          `--size: got ${size}; expected an integer in [1, ${available}] (the ${split} samples of ${selection.definition.id}; raise its ${split}Size to write more)`,
        );
      }
      splits[split] = size;
    }
    const cacheDir = flags["no-cache"] ? undefined : resolve(flags.cache ?? defaultCacheDir());
    const out = resolve(flags.out);
    const task = selection.definition.id;
    const result = generateDataset({ task, config: selection.config, seed, instance, splits, format }, out, cacheDir, {
      force: flags.force,
    });
    const summary = {
      task,
      preset: selection.preset,
      seed,
      format,
      splits,
      key: result.key,
      reused: result.reused,
      cachePath: result.cachePath ?? null,
      out: result.out,
      files: result.files,
    };
    if (flags.json) {
      this.printJson(summary);
      return;
    }
    const counts = Object.entries(splits)
      .map(([split, n]) => `${n} ${split}`)
      .join(" + ");
    const source = result.cachePath
      ? `${result.reused ? "reused from" : "generated into"} the cache ${result.cachePath}`
      : "generated (cache off)";
    this.log(`${task} (${selection.preset}, seed ${seed}): ${counts} samples in ${format} format → ${out}`);
    this.log(`files: ${result.files.join(", ")}; key ${result.key}, ${source}`);
  }
}
