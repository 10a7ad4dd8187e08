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

/** Whether some row has a KL divergence (prediction runs, docs/spec/TASKS.md §4): the tables then get KL columns. */
export function hasKl(rows: readonly SummaryRow[]): boolean {
  return rows.some((r) => r.testKl.n > 0);
}

/**
 * The summary as text cells; the settings column appears only when some condition has settings beyond width, the KL
 * columns only when some condition trains the prediction objective (its accuracy cells are then "–").
 */
export function summaryTable(rows: readonly SummaryRow[]): TextTable {
  const withSettings = rows.some((r) => r.settings);
  const withKl = hasKl(rows);
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
    ...(withKl ? ["test KL", "best test KL"] : []),
    "test loss",
    "majority baseline",
    "ceiling",
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
      ...(withKl ? [formatStat(r.testKl, 4), formatStat(r.bestTestKl, 4)] : []),
      formatStat(r.testLoss, 3),
      formatStat(r.majorityBaseline, 3),
      formatStat(r.ceiling, 3),
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
    "accuracies and losses are on the test split at the end of training. The ceiling is the best accuracy any " +
    "model can reach on the test split (an exact Bayes filter of the task's generator, docs/spec/TASKS.md §4.1)."
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
  ["ceiling_mean", (r) => r.ceiling.mean],
  ["params_mean", (r) => r.params.mean],
  ["wall_seconds_mean", (r) => r.wallSeconds.mean],
  ["wall_seconds_std", (r) => r.wallSeconds.std],
];

/** Prediction runs' columns, after best_test_accuracy_std when some condition has them. */
const KL_CSV_COLUMNS: readonly [string, (r: SummaryRow) => string | number][] = [
  ["test_kl_mean", (r) => r.testKl.mean],
  ["test_kl_std", (r) => r.testKl.std],
  ["best_test_kl_mean", (r) => r.bestTestKl.mean],
  ["best_test_kl_std", (r) => r.bestTestKl.std],
];

/** One row per condition, one value per column (pandas-readable: `pd.read_csv("summary.csv")`). */
export function summaryCsv(rows: readonly SummaryRow[]): string {
  const at = CSV_COLUMNS.findIndex(([name]) => name === "best_test_accuracy_std") + 1;
  const columns = hasKl(rows) ? [...CSV_COLUMNS.slice(0, at), ...KL_CSV_COLUMNS, ...CSV_COLUMNS.slice(at)] : CSV_COLUMNS;
  const lines = [columns.map(([name]) => name).join(","), ...rows.map((r) => columns.map(([, value]) => csvCell(value(r))).join(","))];
  return `${lines.join("\n")}\n`;
}
