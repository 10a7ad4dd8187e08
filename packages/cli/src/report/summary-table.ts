import type { Stat, SummaryRow } from "./aggregate.js";

/** A table as text cells, shared by summary.md and report.html. */
export interface TextTable {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** `mean ± std`; the mean alone for a single run; an en dash when no run has a value. */
export function formatStat(stat: Stat, digits: number): string {
  if (!Number.isFinite(stat.mean)) return "–";
  return Number.isFinite(stat.std) ? `${stat.mean.toFixed(digits)} ± ${stat.std.toFixed(digits)}` : stat.mean.toFixed(digits);
}

function formatSeeds(row: SummaryRow): string {
  const seeds = row.seeds.join(", ");
  return row.diverged ? `${seeds} (${row.diverged} diverged)` : seeds;
}

/** The summary as text cells; the settings column appears only when some condition has settings beyond width. */
export function summaryTable(rows: readonly SummaryRow[]): TextTable {
  const withSettings = rows.some((r) => r.settings);
  const header = [
    "task",
    "model",
    "preset",
    "width",
    "layers",
    ...(withSettings ? ["settings"] : []),
    "seeds",
    "TE",
    "test acc",
    "best test acc",
    "test loss",
    "majority baseline",
    "params",
    "wall (s)",
  ];
  return {
    header,
    rows: rows.map((r) => [
      r.task,
      r.model,
      r.preset,
      String(r.width),
      Number.isFinite(r.layers) ? String(r.layers) : "–",
      ...(withSettings ? [r.settings] : []),
      formatSeeds(r),
      formatStat(r.te, 3),
      formatStat(r.testAccuracy, 3),
      formatStat(r.bestTestAccuracy, 3),
      formatStat(r.testLoss, 3),
      formatStat(r.majorityBaseline, 3),
      Number.isFinite(r.params.mean) ? Math.round(r.params.mean).toLocaleString("en-US") : "–",
      formatStat(r.wallSeconds, 1),
    ]),
  };
}

function markdownCell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** "1 run", "2 runs". */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** What the summary table shows, in a sentence or two. */
export function summaryNote(runCount: number, conditionCount: number): string {
  return (
    `${plural(runCount, "run")} in ${plural(conditionCount, "condition")}. ` +
    "Each cell is the mean ± sample standard deviation over the condition's seeds (the mean alone for one seed); " +
    "accuracies and losses are on the test split at the end of training."
  );
}

export function summaryMarkdown(title: string, rows: readonly SummaryRow[], runCount: number): string {
  const table = summaryTable(rows);
  const numeric = (h: string): boolean => !["task", "model", "preset", "settings", "seeds"].includes(h);
  const lines = [
    `# ${title}`,
    "",
    summaryNote(runCount, rows.length),
    "",
    `| ${table.header.map(markdownCell).join(" | ")} |`,
    `| ${table.header.map((h) => (numeric(h) ? "---:" : "---")).join(" | ")} |`,
    ...table.rows.map((cells) => `| ${cells.map(markdownCell).join(" | ")} |`),
  ];
  return `${lines.join("\n")}\n`;
}

function csvCell(value: string | number): string {
  const text = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Column name and value, one per CSV column: mean and std in separate numeric columns, empty for NaN. */
const CSV_COLUMNS: readonly [string, (r: SummaryRow) => string | number][] = [
  ["task", (r) => r.task],
  ["model", (r) => r.model],
  ["preset", (r) => r.preset],
  ["width", (r) => r.width],
  ["layers", (r) => r.layers],
  ["settings", (r) => r.settings],
  ["runs", (r) => r.seeds.length],
  ["seeds", (r) => r.seeds.join(" ")],
  ["diverged", (r) => r.diverged],
  ["te_mean", (r) => r.te.mean],
  ["te_std", (r) => r.te.std],
  ["test_accuracy_mean", (r) => r.testAccuracy.mean],
  ["test_accuracy_std", (r) => r.testAccuracy.std],
  ["best_test_accuracy_mean", (r) => r.bestTestAccuracy.mean],
  ["best_test_accuracy_std", (r) => r.bestTestAccuracy.std],
  ["test_loss_mean", (r) => r.testLoss.mean],
  ["test_loss_std", (r) => r.testLoss.std],
  ["majority_baseline_mean", (r) => r.majorityBaseline.mean],
  ["params_mean", (r) => r.params.mean],
  ["wall_seconds_mean", (r) => r.wallSeconds.mean],
  ["wall_seconds_std", (r) => r.wallSeconds.std],
];

/** One row per condition, one value per column (pandas-readable: `pd.read_csv("summary.csv")`). */
export function summaryCsv(rows: readonly SummaryRow[]): string {
  const lines = [
    CSV_COLUMNS.map(([name]) => name).join(","),
    ...rows.map((r) => CSV_COLUMNS.map(([, value]) => csvCell(value(r))).join(",")),
  ];
  return `${lines.join("\n")}\n`;
}
