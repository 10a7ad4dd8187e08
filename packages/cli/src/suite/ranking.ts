import type { RunResult, SuiteEntry } from "@selectiv/core";
import { formatTable } from "../format.js";
import { type Stat, meanStd } from "../report/aggregate.js";
import { type PlotSeries, renderPlot } from "../report/svg-plot.js";

/** One model on one suite task: our accuracy over seeds, the task's ceiling and baseline, and the paper's number. */
export interface RankingRow {
  readonly model: string;
  readonly accuracy: Stat;
  readonly ceiling: Stat;
  readonly baseline: Stat;
  /**
   * Whether this model's mean exceeds the next one's by more than the sum of their standard deviations; undefined
   * when either has fewer than two seeds (no spread to compare), and for the last row.
   */
  readonly separatedFromNext: boolean | undefined;
  readonly paper?: { readonly mean: number; readonly std: number; readonly rank: number };
}

export interface TaskRanking {
  readonly task: string;
  readonly rows: readonly RankingRow[];
  readonly paperFinding?: string;
}

/** Ranks the models of one task by mean test accuracy over their completed runs (diverged runs count as missing). */
export function rankTask(task: string, runs: readonly RunResult[], suite: SuiteEntry | undefined): TaskRanking {
  const byModel = new Map<string, RunResult[]>();
  for (const r of runs) if (r.task === task) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  // The paper's order among the models ranked here, so that the two rank columns compare directly.
  const paperOrder = Object.entries(suite?.paperAccuracy ?? {})
    .filter(([model]) => byModel.has(model))
    .sort((a, b) => b[1].mean - a[1].mean);
  const unsorted = [...byModel].map(([model, rs]) => {
    const done = rs.filter((r) => r.status === "completed");
    const paperAt = paperOrder.findIndex(([m]) => m === model);
    return {
      model,
      accuracy: meanStd(done.map((r) => r.testAccuracy)),
      ceiling: meanStd(rs.map((r) => r.ceiling ?? NaN)),
      baseline: meanStd(rs.map((r) => r.majorityBaseline)),
      ...(paperAt >= 0 ? { paper: { ...paperOrder[paperAt]![1], rank: paperAt + 1 } } : {}),
    };
  });
  const sorted = unsorted.sort((a, b) => (b.accuracy.mean || -1) - (a.accuracy.mean || -1) || a.model.localeCompare(b.model));
  const rows = sorted.map((row, i) => {
    const next = sorted[i + 1];
    const decidable = next !== undefined && Number.isFinite(row.accuracy.std) && Number.isFinite(next.accuracy.std);
    const gap = next ? row.accuracy.mean - next.accuracy.mean : NaN;
    return { ...row, separatedFromNext: decidable ? gap > row.accuracy.std + next.accuracy.std : undefined };
  });
  return { task, rows, ...(suite?.paperFinding ? { paperFinding: suite.paperFinding } : {}) };
}

function stat(s: Stat): string {
  if (!Number.isFinite(s.mean)) return "–";
  return Number.isFinite(s.std) ? `${s.mean.toFixed(4)} ± ${s.std.toFixed(4)}` : s.mean.toFixed(4);
}

/** What the ranking's separation marks mean. */
export const SEPARATION_LEGEND =
  '">": ahead of the next model by more than the sum of their standard deviations; "≈": not; "?": one seed, no spread to compare.';

const HEADER = ["rank", "model", "test acc (mean ± std)", "seeds", "", "ceiling", "majority baseline", "paper rank", "paper acc"];

/** Table rows; the blank column holds ">" where a model is ahead of the next by more than their spread, "≈" where not, "?" where a single seed leaves no spread. */
function cells(r: RankingRow, i: number, last: boolean): string[] {
  return [
    String(i + 1),
    r.model,
    stat(r.accuracy),
    String(r.accuracy.n),
    last ? "" : r.separatedFromNext === undefined ? "?" : r.separatedFromNext ? ">" : "≈",
    Number.isFinite(r.ceiling.mean) ? r.ceiling.mean.toFixed(4) : "–",
    Number.isFinite(r.baseline.mean) ? r.baseline.mean.toFixed(4) : "–",
    r.paper ? String(r.paper.rank) : "–",
    r.paper ? `${r.paper.mean.toFixed(2)} ± ${r.paper.std}` : "–",
  ];
}

export function rankingText(ranking: TaskRanking): string {
  const table = formatTable(
    HEADER,
    ranking.rows.map((r, i) => cells(r, i, i === ranking.rows.length - 1)),
  );
  return `${ranking.task}\n${table}${ranking.paperFinding ? `\n${ranking.paperFinding}` : ""}`;
}

export function rankingMarkdown(rankings: readonly TaskRanking[]): string {
  const parts = ["# SelectivBench suite", "", `${SEPARATION_LEGEND.replaceAll('"', "`")}`, ""];
  for (const ranking of rankings) {
    parts.push(`## ${ranking.task}`, "", `| ${HEADER.map((h) => h || "sep").join(" | ")} |`, `|${HEADER.map(() => "---").join("|")}|`);
    ranking.rows.forEach((r, i) => parts.push(`| ${cells(r, i, i === ranking.rows.length - 1).join(" | ")} |`));
    if (ranking.paperFinding) parts.push("", ranking.paperFinding);
    parts.push("");
  }
  return parts.join("\n");
}

export function rankingCsv(rankings: readonly TaskRanking[]): string {
  const header = "task,rank,model,accuracy_mean,accuracy_std,seeds,separated_from_next,ceiling,majority_baseline,paper_rank,paper_accuracy";
  const num = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? String(v) : "");
  const lines = rankings.flatMap((k) =>
    k.rows.map((r, i) =>
      [
        k.task,
        i + 1,
        r.model,
        num(r.accuracy.mean),
        num(r.accuracy.std),
        r.accuracy.n,
        r.separatedFromNext ?? "",
        num(r.ceiling.mean),
        num(r.baseline.mean),
        r.paper?.rank ?? "",
        num(r.paper?.mean),
      ].join(","),
    ),
  );
  return [header, ...lines].join("\n") + "\n";
}

/** One panel: accuracy (mean ± std) per model over the suite's tasks, with the ceiling as a dashed reference series. */
export function rankingFigure(rankings: readonly TaskRanking[]): string {
  const models = [...new Set(rankings.flatMap((k) => k.rows.map((r) => r.model)))].sort();
  const series: PlotSeries[] = models.map((model) => ({
    label: model,
    points: rankings.map((k, t) => {
      const row = k.rows.find((r) => r.model === model);
      return { x: t + 1, y: row?.accuracy.mean ?? NaN, error: Number.isFinite(row?.accuracy.std) ? row!.accuracy.std : 0 };
    }),
  }));
  const ceilings = rankings.map((k, t) => ({ x: t + 1, y: meanStd(k.rows.map((r) => r.ceiling.mean)).mean }));
  if (ceilings.some((p) => Number.isFinite(p.y))) series.push({ label: "ceiling", points: ceilings, line: false });
  return renderPlot({
    id: "suite",
    title: `Test accuracy by task (${rankings.map((k, t) => `${t + 1} = ${k.task}`).join(", ")})`,
    xLabel: "task",
    yLabel: "test accuracy (mean ± std over seeds)",
    series,
    yDomain: [0, 1],
  });
}
