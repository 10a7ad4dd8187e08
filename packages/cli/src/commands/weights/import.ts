import { Args, Flags } from "@oclif/core";
import { BACKEND_PREFERENCES, PRESET_NAMES } from "@selectiv/core";
import { SelectivCommand } from "../../base.js";
import { importRunWeights } from "../../weights.js";

export default class WeightsImport extends SelectivCommand {
  static override summary = "Make a run folder from safetensors weights in the reference's PyTorch names, for selectiv eval.";
  static override description =
    "Reads FILE (a selectiv weights export, or a reference RecNet state_dict saved as safetensors, docs/WEIGHTS.md), " +
    "builds the network that --model, --task, --preset and --set give (as bench run plans it), checks that the file " +
    "holds exactly its tensors and shapes, and writes <out>/<run-id>/ with config.json and a checkpoint, so that " +
    "`selectiv eval <out>/<run-id>` evaluates the imported weights.";
  static override examples = [
    "<%= config.bin %> weights import gla.safetensors --model gla --preset smoke --out imported",
    "<%= config.bin %> weights import ref.safetensors --model delta-net --task task2 --preset paper --set train.width=128 --out imported",
  ];

  static override args = {
    file: Args.string({ description: "A .safetensors file of float32 tensors in the reference's names.", required: true }),
  };

  static override flags = {
    model: Flags.string({ description: "The model id the weights are for.", required: true }),
    task: Flags.string({ description: "Task id. Default: task1." }),
    preset: Flags.string({ description: `Preset: ${PRESET_NAMES.join("|")}. Default: quick.` }),
    set: Flags.string({
      description: "Override one field: train.KEY=V, task.KEY=V, model.KEY=V or ID.KEY=V (repeatable).",
      multiple: true,
    }),
    seed: Flags.integer({ description: "Seed of the run (its test data). Default: 1." }),
    backend: Flags.string({ description: `Backend the run is recorded on: ${BACKEND_PREFERENCES.join("|")}. Default: auto.` }),
    out: Flags.string({ description: "Results folder; the run folder is <out>/<run-id>/.", required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WeightsImport);
    const container = await this.selectivContainer();
    const r = await importRunWeights(container, args.file, {
      model: flags.model,
      task: flags.task,
      preset: flags.preset,
      assignments: flags.set ?? [],
      seed: flags.seed,
      backend: flags.backend,
      outDir: flags.out,
    });
    if (flags.json) {
      this.printJson(r);
      return;
    }
    this.log(`Imported ${r.tensors} tensors (${r.parameters.toLocaleString("en-US")} parameters of ${r.model}) into ${r.runDir}`);
    this.log(`Evaluate it with: selectiv eval ${r.runDir}`);
  }
}
