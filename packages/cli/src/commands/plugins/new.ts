import { Args, Flags } from "@oclif/core";
import { builtInModels } from "@selectiv/models";
import { basename, resolve } from "node:path";
import { SelectivCommand } from "../../base.js";
import { checkModelId, checkPluginName, modelIdFor, renderPlugin, runningCoreDependency, writePlugin } from "../../plugin-scaffold.js";

export default class PluginsNew extends SelectivCommand {
  static override summary = "Create a plugin package: a new LRM built from the core parts, with build and contract tests.";
  static override description =
    "The package registers a gated linear recurrence with a separate input gate, tests it with @selectiv/core/testkit, " +
    "and links @selectiv/core from this selectiv installation (pnpm install needs no network). See docs/PLUGINS.md.";
  static override examples = [
    "<%= config.bin %> plugins new selectiv-plugin-my-lrm",
    "<%= config.bin %> plugins new @me/selectiv-plugin-my-lrm --dir ./my-lrm --id my-lrm",
  ];

  static override args = {
    name: Args.string({ description: "npm package name of the plugin, e.g. selectiv-plugin-my-lrm.", required: true }),
  };

  static override flags = {
    dir: Flags.string({ description: "Folder to create (new or empty). Default: ./NAME without its scope." }),
    id: Flags.string({ description: "Model id to register. Default: NAME without its scope and the selectiv-plugin- prefix." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PluginsNew);
    checkPluginName(args.name);
    const modelId = flags.id ?? modelIdFor(args.name);
    checkModelId(
      modelId,
      builtInModels.map((m) => m.id),
      flags.id === undefined ? `the id taken from ${JSON.stringify(args.name)} (pass --id)` : "--id",
    );
    const dir = resolve(flags.dir ?? basename(args.name));
    const files = renderPlugin({ name: args.name, modelId, coreDependency: runningCoreDependency() });
    writePlugin(dir, files);
    if (flags.json) {
      this.printJson({ name: args.name, modelId, dir, files: [...files.keys()] });
      return;
    }
    this.log(`Created plugin ${args.name} (model "${modelId}") in ${dir}: ${[...files.keys()].join(", ")}`);
    this.log("Next:");
    for (const step of [
      `cd ${dir}`,
      "pnpm install && pnpm build && pnpm test",
      `${this.config.bin} plugins link ${dir} --no-install`,
      `${this.config.bin} bench run --preset smoke --model ${modelId}`,
    ]) {
      this.log(`  ${step}`);
    }
  }
}
