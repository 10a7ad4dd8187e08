import { Resvg } from "@resvg/resvg-js";
import { SelectivError, ensureWritableDir, writeFileAtomic } from "@selectiv/core";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type SummaryRow, groupConditions, summarise } from "./aggregate.js";
import { FIGURE_IDS, type Figure, buildFigures } from "./figures.js";
import { renderHtmlReport } from "./html.js";
import { readRunsFolder } from "./read-runs.js";
import { plural, summaryCsv, summaryMarkdown, summaryNote, summaryTable } from "./summary-table.js";

export interface ReportRequest {
  /** A results folder, as written by `selectiv bench run --out`. */
  readonly dir: string;
  /** Where the report goes; default `<dir>/report`. */
  readonly outDir?: string;
}

export interface ReportOutput {
  readonly dir: string;
  readonly outDir: string;
  readonly runs: number;
  readonly conditions: number;
  readonly files: {
    readonly summaryMarkdown: string;
    readonly summaryCsv: string;
    readonly html: string;
    readonly figures: readonly { id: string; title: string; svg: string; png: string }[];
  };
  readonly skippedFigures: readonly { id: string; title: string; reason: string }[];
  /** Folders left out and parts of runs that could not be read, one line each. */
  readonly warnings: readonly string[];
  readonly summary: readonly SummaryRow[];
}

/** Figures are drawn at twice their SVG size, for sharp PNGs on high-density screens and in documents. */
const PNG_ZOOM = 2;

export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { fitTo: { mode: "zoom", value: PNG_ZOOM }, background: "#ffffff" }).render().asPng();
}

function checkResultsFolder(dir: string): void {
  if (!existsSync(dir)) throw new SelectivError(`report: results folder ${JSON.stringify(dir)} does not exist`);
  if (!statSync(dir).isDirectory())
    throw new SelectivError(`report: ${JSON.stringify(dir)} is not a folder; give a results folder (bench run --out)`);
}

/** Reads every run under `dir` and writes summary.md, summary.csv, figures/*.{svg,png} and report.html. */
export function buildReport(request: ReportRequest): ReportOutput {
  const dir = resolve(request.dir);
  const outDir = resolve(request.outDir ?? join(dir, "report"));
  checkResultsFolder(dir);
  const { runs, warnings } = readRunsFolder(dir, [outDir]);
  if (!runs.length) {
    const skipped = warnings.filter((w) => w.startsWith("skipping ")).length;
    throw new SelectivError(
      `report: no runs in ${JSON.stringify(dir)}: no folder in it has a result.json and config.json` +
        (skipped ? ` (${plural(skipped, "folder")} skipped)` : ""),
    );
  }
  ensureWritableDir(outDir, "--out");
  const conditions = groupConditions(runs);
  const summary = summarise(conditions);
  const title = `selectiv report: ${dir}`;

  const summaryMarkdownPath = join(outDir, "summary.md");
  const summaryCsvPath = join(outDir, "summary.csv");
  // A folder written by `bench suite` holds its ranking tables and figure: the report carries them too.
  const suite = readSuiteFiles(dir);
  writeFileAtomic(summaryMarkdownPath, summaryMarkdown(title, summary, runs.length) + (suite ? `\n${suite.markdown}` : ""));
  writeFileAtomic(summaryCsvPath, summaryCsv(summary));

  const figures: Figure[] = [...(suite ? [suite.figure] : []), ...buildFigures(conditions)];
  const figureFiles = (id: string) => ({ svg: join("figures", `${id}.svg`), png: join("figures", `${id}.png`) });
  const written: { id: string; title: string; svg: string; png: string }[] = [];
  for (const id of [...(suite ? ["suite"] : []), ...FIGURE_IDS]) {
    const figure = figures.find((f) => f.id === id)!;
    const svgPath = join(outDir, figureFiles(id).svg);
    const pngPath = join(outDir, figureFiles(id).png);
    if ("svg" in figure) {
      writeFileAtomic(svgPath, `<?xml version="1.0" encoding="UTF-8"?>\n${figure.svg}\n`);
      writeFileAtomic(pngPath, svgToPng(figure.svg));
      written.push({ id, title: figure.title, svg: svgPath, png: pngPath });
    } else {
      // A figure drawn by an earlier report of a folder that has since lost its data would mislead.
      rmSync(svgPath, { force: true });
      rmSync(pngPath, { force: true });
    }
  }

  const htmlPath = join(outDir, "report.html");
  writeFileAtomic(
    htmlPath,
    renderHtmlReport({
      title,
      source: `${plural(runs.length, "run")} from ${dir}; ${plural(written.length, "figure")} drawn.`,
      summary: summaryTable(summary),
      summaryNote: summaryNote(runs.length, summary.length),
      figures,
      figureFiles,
      runs,
      warnings,
    }),
  );
  return {
    dir,
    outDir,
    runs: runs.length,
    conditions: conditions.length,
    files: { summaryMarkdown: summaryMarkdownPath, summaryCsv: summaryCsvPath, html: htmlPath, figures: written },
    skippedFigures: figures.flatMap((f) => ("skipped" in f ? [{ id: f.id, title: f.title, reason: f.skipped }] : [])),
    warnings,
    summary,
  };
}

/** The ranking tables and figure that `selectiv bench suite` left in a results folder, if any. */
function readSuiteFiles(dir: string): { markdown: string; figure: Figure } | undefined {
  const md = join(dir, "suite.md");
  const svg = join(dir, "suite.svg");
  if (!existsSync(md) || !existsSync(svg)) return undefined;
  return {
    markdown: readFileSync(md, "utf8"),
    figure: {
      id: "suite",
      title: "SelectivBench suite: test accuracy by task",
      caption: "Mean ± std over seeds per model and task (bench suite); the ceiling where the task knows it.",
      svg: readFileSync(svg, "utf8"),
    },
  };
}
