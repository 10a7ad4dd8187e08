import { Args, Flags } from "@oclif/core";
import { SelectivCommand } from "../base.js";
import { formatTable } from "../format.js";
import { buildReport } from "../report/index.js";
import { plural, summaryTable } from "../report/summary-table.js";

export default class Report extends SelectivCommand {
  static override summary = "Summarise a results folder: a table over seeds, figures (SVG and PNG) and one HTML page.";
  static override description =
    "Reads every run folder under DIR (as written by bench run --out) and writes summary.md and summary.csv (mean ± std " +
    "over seeds for each condition), figures/*.svg and *.png (accuracy vs width, vs grammar TE, vs test gap, training " +
    "curves) and report.html, which embeds them. Folders that are not runs are skipped with a warning.";
  static override examples = ["<%= config.bin %> report results", "<%= config.bin %> report results --out site/report --json"];

  static override args = {
    dir: Args.string({ description: "Results folder (bench run --out).", required: true }),
  };

  static override flags = {
    out: Flags.string({ description: "Report folder. Default: DIR/report." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Report);
    const report = buildReport({ dir: args.dir, outDir: flags.out });
    for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
    if (flags.json) {
      this.printJson(report);
      return;
    }
    for (const figure of report.skippedFigures) process.stderr.write(`note: figure "${figure.title}" not drawn: ${figure.reason}\n`);
    const table = summaryTable(report.summary);
    this.log(formatTable(table.header, table.rows));
    this.log(`\n${plural(report.runs, "run")} in ${plural(report.conditions, "condition")} from ${report.dir}`);
    this.log(`Summary: ${report.files.summaryMarkdown}, ${report.files.summaryCsv}`);
    for (const figure of report.files.figures) this.log(`Figure: ${figure.svg} (+ .png)`);
    this.log(`Report: ${report.files.html}`);
  }
}
