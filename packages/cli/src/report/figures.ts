import { type Condition, meanStd } from "./aggregate.js";
import type { RunRecord } from "./read-runs.js";
import { type PlotPoint, type PlotSeries, type PlotSpec, renderPlot } from "./svg-plot.js";

/** A figure of the report: drawn, or left out with the reason (always for want of data, never half-drawn). */
export type Figure =
  | { readonly id: string; readonly title: string; readonly caption: string; readonly svg: string }
  | { readonly id: string; readonly title: string; readonly skipped: string };

export const FIGURE_IDS = ["accuracy-vs-width", "accuracy-vs-te", "accuracy-vs-gap", "training-accuracy", "training-loss"] as const;

const ACCURACY_DOMAIN = [0, 1] as const;

/** Names a condition by what tells it apart in this folder: the model, plus task, preset, width, settings where they vary. */
class Labeller {
  private readonly manyTasks: boolean;
  private readonly manyPresets: boolean;

  constructor(conditions: readonly Condition[]) {
    this.manyTasks = new Set(conditions.map((c) => c.task)).size > 1;
    this.manyPresets = new Set(conditions.map((c) => c.preset)).size > 1;
  }

  /** The label of a line across widths. */
  series(c: Condition): string {
    return [this.manyTasks ? c.task : "", c.model, this.manyPresets ? c.preset : "", c.settings].filter(Boolean).join(" · ");
  }

  /** The label of one condition among `shown`: with its width when those span several. */
  condition(c: Condition, shown: readonly Condition[]): string {
    const manyWidths = new Set(shown.map((s) => s.width)).size > 1;
    return [this.series(c), manyWidths ? `width ${c.width}` : ""].filter(Boolean).join(" · ");
  }
}

function drawn(spec: PlotSpec, caption: string): Figure {
  return { id: spec.id, title: spec.title, caption, svg: renderPlot(spec) };
}

/** Mean ± std over `values` as a point at `x`. */
function meanPoint(x: number, values: readonly number[]): PlotPoint {
  const s = meanStd(values);
  return { x, y: s.mean, error: Number.isFinite(s.std) ? s.std : undefined };
}

function accuracies(c: Condition): number[] {
  return c.runs.map((r) => r.testAccuracy);
}

function accuracyVsWidth(conditions: readonly Condition[], label: Labeller): Figure {
  const id = "accuracy-vs-width";
  const title = "Test accuracy vs width";
  const bySeries = new Map<string, Condition[]>();
  for (const c of conditions) bySeries.set(c.seriesKey, [...(bySeries.get(c.seriesKey) ?? []), c]);
  const series: PlotSeries[] = [...bySeries.values()].map((cs) => ({
    label: label.series(cs[0]!),
    key: cs[0]!.seriesKey,
    points: cs.map((c) => meanPoint(c.width, accuracies(c))).filter((p) => Number.isFinite(p.y)),
  }));
  if (!series.some((s) => s.points.length)) return { id, title, skipped: "no run has a test accuracy" };
  const widths = [...new Set(conditions.map((c) => c.width))];
  const hint = widths.length === 1 ? ` Every run has width ${widths[0]}: runs at other widths (--set train.width=…) draw a trend.` : "";
  return drawn(
    { id, title, xLabel: "width (model dimension d)", yLabel: "test accuracy", xScale: "log2", yDomain: ACCURACY_DOMAIN, series },
    `Final test accuracy against model width, one line per model; mean ± standard deviation over seeds.${hint}`,
  );
}

function accuracyVsTe(conditions: readonly Condition[], label: Labeller): Figure {
  const id = "accuracy-vs-te";
  const title = "Test accuracy vs grammar complexity (TE)";
  const shown = conditions.filter((c) => c.runs.some((r) => Number.isFinite(r.te) && Number.isFinite(r.testAccuracy)));
  if (!shown.length) return { id, title, skipped: "no run records the topological entropy (TE) of its grammar" };
  const series: PlotSeries[] = shown.map((c) => ({
    label: label.condition(c, shown),
    key: c.seriesKey,
    line: false,
    points: c.runs.map((r) => ({ x: r.te, y: r.testAccuracy })),
  }));
  return drawn(
    { id, title, xLabel: "topological entropy of the grammar (TE)", yLabel: "test accuracy", yDomain: ACCURACY_DOMAIN, series },
    "Final test accuracy against the topological entropy of each run's grammar (each seed draws its own grammar): one point per run.",
  );
}

function accuracyVsGap(conditions: readonly Condition[], label: Labeller): Figure {
  const id = "accuracy-vs-gap";
  const title = "Test accuracy vs test gap (Task 4)";
  const shown = conditions.filter((c) => c.runs.some((r) => r.gapAccuracies.length));
  if (!shown.length) return { id, title, skipped: "no run has accuracies per test gap (Task 4)" };
  const series: PlotSeries[] = shown.map((c) => {
    const byGap = new Map<number, number[]>();
    for (const g of c.runs.flatMap((r) => r.gapAccuracies)) byGap.set(g.gapSteps, [...(byGap.get(g.gapSteps) ?? []), g.accuracy]);
    const points = [...byGap.entries()].sort(([a], [b]) => a - b).map(([gap, accuracies]) => meanPoint(gap, accuracies));
    return { label: label.condition(c, shown), key: c.seriesKey, points };
  });
  return drawn(
    { id, title, xLabel: "test gap (steps)", yLabel: "test accuracy", yDomain: ACCURACY_DOMAIN, series },
    "Test accuracy of the trained models at each test gap, one line per model; mean ± standard deviation over seeds.",
  );
}

function trainingCurve(conditions: readonly Condition[], label: Labeller, metric: "testAccuracy" | "trainLoss"): Figure {
  const accuracy = metric === "testAccuracy";
  const id = accuracy ? "training-accuracy" : "training-loss";
  const title = accuracy ? "Training curves: test accuracy" : "Training curves: training loss";
  // Prediction runs record no accuracy (NaN): a run without a finite value is left out rather than drawn empty.
  const drawable = (r: RunRecord): boolean => r.curve.some((e) => Number.isFinite(e[metric]));
  const shown = conditions.filter((c) => c.runs.some(drawable));
  if (!shown.length) {
    const anyCurve = conditions.some((c) => c.runs.some((r) => r.curve.length));
    return {
      id,
      title,
      skipped: anyCurve
        ? `no run records a ${accuracy ? "test accuracy" : "training loss"} during training`
        : "no run folder has a metrics.jsonl",
    };
  }
  const series: PlotSeries[] = shown.flatMap((c) =>
    c.runs
      .filter(drawable)
      .map((r) => ({ label: label.condition(c, shown), key: r.folder, points: r.curve.map((e) => ({ x: e.samples, y: e[metric] })) })),
  );
  return drawn(
    {
      id,
      title,
      xLabel: "training samples",
      yLabel: accuracy ? "test accuracy" : "training loss (last batch)",
      yDomain: accuracy ? ACCURACY_DOMAIN : undefined,
      series,
    },
    accuracy
      ? "Test accuracy at each evaluation during training (train.evalEvery sets how often), one line per run."
      : "Training loss of the last batch before each evaluation, one line per run.",
  );
}

/** Every figure of the report, in FIGURE_IDS order. */
export function buildFigures(conditions: readonly Condition[]): Figure[] {
  const label = new Labeller(conditions);
  return [
    accuracyVsWidth(conditions, label),
    accuracyVsTe(conditions, label),
    accuracyVsGap(conditions, label),
    trainingCurve(conditions, label, "testAccuracy"),
    trainingCurve(conditions, label, "trainLoss"),
  ];
}
