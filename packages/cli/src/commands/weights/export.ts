import { Args, Flags } from "@oclif/core";
import { SelectivCommand } from "../../base.js";
import { exportRunWeights } from "../../weights.js";

export default class WeightsExport extends SelectivCommand {
  static override summary = "Write a run's weights as safetensors, in the reference's PyTorch names and layouts.";
  static override description =
    "Reads RUN_DIR's checkpoint and writes float32 tensors named as the reference RecNet's state_dict (encoder, " +
    "layers.<i>.<the fla / mamba_ssm / reference layer's names>, norms.<i>, decoder) in PyTorch's layouts, with " +
    "metadata: the selectiv model id, the reference's model name and module, the run's model and training config " +
    "(JSON), the task's input size and number of classes. docs/WEIGHTS.md has the table of names and layouts.";
  static override examples = [
    "<%= config.bin %> weights export results/<run-id>",
    "<%= config.bin %> weights export results/<run-id> --out gla.safetensors --json",
  ];

  static override args = {
    runDir: Args.string({ description: "A run's folder (<out>/<run-id>) with a checkpoint.", required: true }),
  };

  static override flags = {
    out: Flags.string({ description: "The file to write. Default: RUN_DIR/weights.safetensors." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WeightsExport);
    const container = await this.selectivContainer();
    const e = await exportRunWeights(container, args.runDir, flags.out);
    if (flags.json) {
      this.printJson(e);
      return;
    }
    this.log(
      `Wrote ${e.file}: ${e.tensors} tensors, ${e.parameters.toLocaleString("en-US")} parameters of ${e.model} (reference module ${e.referenceModule})`,
    );
  }
}
