import { type TaskRegistry, Tokens } from "@selectiv/core";
import { SelectivCommand } from "../../base.js";
import { formatTable } from "../../format.js";

export default class TasksList extends SelectivCommand {
  static override summary = "List registered tasks with their defaults and presets.";

  async run(): Promise<void> {
    const { flags } = await this.parse(TasksList);
    const registry = (await this.selectivContainer()).resolve<TaskRegistry>(Tokens.TaskRegistry);
    const rows = registry.list().map((t: { owner?: string } & ReturnType<TaskRegistry["get"]>) => ({
      id: t.id,
      description: t.description,
      owner: t.owner ?? "built-in",
      defaults: t.defaults,
      presets: t.presets,
      fields: Object.fromEntries(Object.entries(t.schema).map(([k, s]) => [k, s.description])),
    }));
    if (flags.json) {
      this.printJson({ tasks: rows });
      return;
    }
    this.log(
      formatTable(
        ["id", "description", "from"],
        rows.map((r) => [r.id, r.description, r.owner]),
      ),
    );
  }
}
