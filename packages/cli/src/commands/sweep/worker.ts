import { Flags } from "@oclif/core";
import { SelectivError } from "@selectiv/core";
import { SelectivCommand } from "../../base.js";
import { DEFAULT_QUEUE, runQueueWorker } from "../../sweep/bullmq.js";
import { processOptionsOf } from "../../sweep/run-process.js";

export default class SweepWorker extends SelectivCommand {
  static override summary = "Work a BullMQ sweep queue: train queued runs one at a time, on any machine.";
  static override description =
    "Start one per core on every machine that should train. Results go to the sweep folder named in each job (a " +
    "shared folder), or to --out (this machine's path of it). A job whose worker dies is taken over by another " +
    "worker after the lock expires and continues from the run's checkpoint; each run completes exactly once.";
  static override examples = [
    "<%= config.bin %> sweep worker --redis redis://queue-host:6379",
    "<%= config.bin %> sweep worker --redis redis://queue-host:6379 --out sweeps/task1 --until-empty",
  ];
  static override flags = {
    redis: Flags.string({ description: "Redis URL, e.g. redis://HOST:6379.", required: true }),
    queue: Flags.string({ description: `Queue name. Default: ${DEFAULT_QUEUE}.` }),
    out: Flags.string({ description: "This machine's path of the sweep folder (default: the path in each job)." }),
    "until-empty": Flags.boolean({ description: "Exit once the queue holds no waiting, active or delayed job." }),
    "lock-seconds": Flags.integer({
      description: "Job lock; a dead worker's job is taken over after about this long. Default: 30.",
      default: 30,
      min: 1,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SweepWorker);
    if (flags.json) throw new SelectivError("--json: sweep worker prints progress lines only; use selectiv sweep status --json");
    // Plugins are loaded by the training process; loading them here too checks them before any job is taken.
    await this.selectivContainer();
    const { processed, failed } = await runQueueWorker({
      redisUrl: flags.redis,
      queueName: flags.queue ?? DEFAULT_QUEUE,
      outDir: flags.out,
      untilEmpty: flags["until-empty"],
      lockMs: flags["lock-seconds"] * 1000,
      process: processOptionsOf(this.config),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stderr.write(`worker done: ${processed} jobs processed, ${failed} failed\n`);
  }
}
