import { Args } from "@oclif/core";
import { resolve } from "node:path";
import { SelectivCommand } from "../../base.js";
import { formatTable } from "../../format.js";
import { SweepFolder, countStates } from "../../sweep/folder.js";

export default class SweepStatus extends SelectivCommand {
  static override summary = "Show how far a sweep is: runs done, running, failed and queued.";
  static override description =
    "Reads the sweep folder only (works for both executors and from any machine that sees the folder). running = a " +
    "worker holds the run and is alive (same machine: its pid; another machine: a heartbeat in the last 30 s).";
  static override examples = [
    "<%= config.bin %> sweep status sweeps/task1_complexity",
    "<%= config.bin %> sweep status sweeps/smoke --json",
  ];
  static override args = {
    dir: Args.string({ description: "Sweep folder.", required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SweepStatus);
    const folder = new SweepFolder(resolve(args.dir));
    const manifest = folder.requireManifest();
    const statuses = folder.status(manifest);
    const counts = countStates(statuses);
    if (flags.json) {
      this.printJson({
        sweep: { id: manifest.id, name: manifest.name, file: manifest.file, out: folder.dir },
        counts,
        runs: statuses.map((s) => ({
          id: s.run.id,
          state: s.state,
          task: s.run.task,
          model: s.run.model,
          seed: s.run.seed,
          ...(s.holder ? { holder: s.holder } : {}),
          ...(s.error ? { error: s.error } : {}),
        })),
      });
      return;
    }
    this.log(`sweep ${manifest.name} (${manifest.id}) in ${folder.dir}`);
    this.log(`${counts.done} done, ${counts.running} running, ${counts.failed} failed, ${counts.queued} queued (${counts.total} runs)`);
    const notable = statuses.filter((s) => s.state === "running" || s.state === "failed");
    if (notable.length) {
      this.log(
        formatTable(
          ["run id", "state", "where / error"],
          notable.map((s) => [
            s.run.id,
            s.state,
            s.state === "running" ? `${s.holder!.executor} ${s.holder!.host} pid ${s.holder!.pid}` : (s.error ?? ""),
          ]),
        ),
      );
    }
  }
}
