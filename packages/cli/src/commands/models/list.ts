import { Flags } from "@oclif/core";
import { type ModelDefinition, type ModelRegistry, Tokens, headsForWidth } from "@selectiv/core";
import { SelectivCommand } from "../../base.js";
import { formatTable } from "../../format.js";

export default class ModelsList extends SelectivCommand {
  static override summary = "List registered models with their taxonomy (transition, gating, channel mixing, state, parameters).";
  static override flags = {
    width: Flags.integer({ description: "Width d at which to report state size and parameters.", default: 256, min: 4 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ModelsList);
    const registry = (await this.selectivContainer()).resolve<ModelRegistry>(Tokens.ModelRegistry);
    const d = flags.width;
    const h = headsForWidth(d);
    const rows = registry.list().map((m: ModelDefinition & { owner?: string }) => ({
      id: m.id,
      description: m.description,
      owner: m.owner ?? "built-in",
      transition: m.taxonomy.transition,
      transitionDetail: m.taxonomy.transitionDetail,
      write: m.taxonomy.write,
      readout: m.taxonomy.readout,
      outputGate: m.taxonomy.outputGate,
      complementaryGating: m.taxonomy.complementaryGating,
      channelMixing: m.taxonomy.channelMixing,
      width: d,
      heads: h,
      stateSizePerLayer: m.taxonomy.stateSize(d, h),
      parametersPerLayer: m.parametersPerLayer(d, h, m.defaults),
      defaults: m.defaults,
    }));
    if (flags.json) {
      this.printJson({ models: rows });
      return;
    }
    this.log(
      formatTable(
        ["id", "transition A_t", "output gate", "coupled gates", "channel mixing", `state/layer (d=${d})`, `params/layer (d=${d})`, "from"],
        rows.map((r) => [
          r.id,
          r.transition,
          r.outputGate ? "yes" : "no",
          String(r.complementaryGating === true ? "yes" : r.complementaryGating === false ? "no" : r.complementaryGating),
          r.channelMixing ? "yes" : "no",
          r.stateSizePerLayer.toLocaleString("en-US"),
          r.parametersPerLayer.toLocaleString("en-US"),
          r.owner,
        ]),
      ),
    );
  }
}
