import { Args, Flags } from "@oclif/core";
import { join } from "node:path";
import { SelectivCommand } from "../base.js";
import { evaluateRun } from "../evaluate-run.js";
import { fixed, formatTable } from "../format.js";

export default class Eval extends SelectivCommand {
  static override summary = "Evaluate a finished run's weights under another test condition, without retraining.";
  static override description =
    "Loads RUN_DIR's final checkpoint (checked against the run's settings and backend), changes the task's test " +
    "condition with --set (gaps, noise, length, distractors: any task field that keeps the alphabet and classes) and " +
    "evaluates on the test split with the run's seed. With no --set it reproduces the run's result.json. Each " +
    "evaluation is appended to RUN_DIR/evaluations.jsonl; the run's own files are not touched. A Task-4 run " +
    "evaluates its Task-2 run's weights on each test gap.";
  static override examples = [
    "<%= config.bin %> eval results/<run-id>",
    "<%= config.bin %> eval results/<run-id> --set task.testGap=0.5 --set task.noise=0.2",
    "<%= config.bin %> eval results/<task4-run-id> --set task4.testGaps=1,20,60 --json",
  ];

  static override args = {
    runDir: Args.string({ description: "A finished run's folder (<out>/<run-id>).", required: true }),
  };

  static override flags = {
    set: Flags.string({
      description: "Change one task field: task.KEY=V or TASK-ID.KEY=V (repeatable); train.* and model.* are refused.",
      multiple: true,
    }),
    backend: Flags.string({ description: "The run's backend (the default); a checkpoint loads only on the backend that trained it." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Eval);
    const container = await this.selectivContainer();
    const e = await evaluateRun(container, args.runDir, { assignments: flags.set ?? [], backend: flags.backend });
    if (flags.json) {
      this.printJson(e);
      return;
    }
    const prediction = e.testKl !== undefined;
    const variants = e.variants !== undefined;
    const changed = Object.entries(e.changed).map(([key, c]) => `${key} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`);
    // Task 4: a row per test gap, then their mean (the run's headline number).
    const rows = [...(e.variants ?? []).map((v) => ({ ...v, test: v.label })), { ...e, test: "mean" }];
    this.log(
      formatTable(
        [
          "task",
          "model",
          "seed",
          "changed",
          ...(variants ? ["test"] : []),
          "test acc",
          "ceiling",
          "majority baseline",
          ...(prediction ? ["test KL"] : []),
          "test loss",
        ],
        rows.map((r) => [
          e.task,
          e.model,
          String(e.seed),
          changed.join(", ") || "none",
          ...(variants ? [r.test] : []),
          fixed(r.testAccuracy),
          fixed(r.ceiling ?? NaN),
          fixed(r.majorityBaseline),
          ...(prediction ? [fixed(r.testKl ?? NaN)] : []),
          fixed(r.testLoss),
        ]),
      ),
    );
    this.log(`\nAppended to ${join(e.runDir, "evaluations.jsonl")} (backend ${e.backend})`);
  }
}
