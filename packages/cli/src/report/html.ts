import type { Figure } from "./figures.js";
import type { RunRecord } from "./read-runs.js";
import type { TextTable } from "./summary-table.js";
import { escapeXml } from "./svg-plot.js";

export interface HtmlReportInput {
  readonly title: string;
  /** One sentence under the title: where the runs come from and how many. */
  readonly source: string;
  readonly summary: TextTable;
  readonly summaryNote: string;
  readonly figures: readonly Figure[];
  /** Where each drawn figure's files lie, relative to report.html. */
  readonly figureFiles: (id: string) => { svg: string; png: string };
  readonly runs: readonly RunRecord[];
  readonly warnings: readonly string[];
}

const STYLE = `
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; margin: 2rem auto; max-width: 1200px;
  padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; white-space: nowrap; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
.table-scroll { overflow-x: auto; }
figure { margin: 1rem 0 2rem; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; max-width: 640px; }
code { font-size: 0.9em; }
`;

const NUMERIC = /^[-+–\d.,± ]+$/;

function htmlTable(className: string, table: TextTable): string {
  const head = `<tr>${table.header.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr>`;
  const body = table.rows
    .map((cells) => `<tr>${cells.map((c) => `<td${NUMERIC.test(c) ? ' class="number"' : ""}>${escapeXml(c)}</td>`).join("")}</tr>`)
    .join("\n");
  return `<div class="table-scroll"><table class="${className}"><thead>${head}</thead><tbody>\n${body}\n</tbody></table></div>`;
}

function number(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

function runsTable(runs: readonly RunRecord[]): TextTable {
  const withKl = runs.some((r) => Number.isFinite(r.testKl));
  return {
    header: [
      "run folder",
      "task",
      "model",
      "seed",
      "preset",
      "width",
      "layers",
      "TE",
      "status",
      "test acc",
      "best test acc",
      ...(withKl ? ["test KL"] : []),
      "test loss",
      "majority baseline",
      "ceiling",
      "params",
      "backend",
      "wall (s)",
    ],
    rows: runs.map((r) => [
      r.folder,
      r.task,
      r.model,
      String(r.seed),
      r.preset,
      String(r.width),
      number(r.layers, 0),
      number(r.te, 3),
      r.status,
      number(r.testAccuracy, 4),
      number(r.bestTestAccuracy, 4),
      ...(withKl ? [number(r.testKl, 4)] : []),
      number(r.testLoss, 4),
      number(r.majorityBaseline, 4),
      number(r.ceiling, 4),
      Number.isFinite(r.params) ? r.params.toLocaleString("en-US") : "–",
      r.backend,
      number(r.wallSeconds, 1),
    ]),
  };
}

/** One static page, no scripts, no external resources: the figures are inline SVG. */
export function renderHtmlReport(input: HtmlReportInput): string {
  const figures = input.figures.filter((f) => "svg" in f);
  const skipped = input.figures.filter((f) => "skipped" in f);
  const figureBlocks = figures.map((f) => {
    const files = input.figureFiles(f.id);
    return (
      `<figure id="figure-${f.id}">\n${f.svg}\n<figcaption><strong>${escapeXml(f.title)}.</strong> ${escapeXml(f.caption)} ` +
      `<a href="${escapeXml(files.svg)}">SVG</a> · <a href="${escapeXml(files.png)}">PNG</a></figcaption>\n</figure>`
    );
  });
  const skippedBlock = skipped.length
    ? `<h3>Not drawn</h3>\n<ul class="skipped-figures">\n${skipped
        .map((f) => `<li data-figure="${f.id}"><strong>${escapeXml(f.title)}</strong>: ${escapeXml(f.skipped)}.</li>`)
        .join("\n")}\n</ul>`
    : "";
  const warningsBlock = input.warnings.length
    ? `<h2>Warnings</h2>\n<ul class="warnings">\n${input.warnings.map((w) => `<li>${escapeXml(w)}</li>`).join("\n")}\n</ul>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(input.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeXml(input.title)}</h1>
<p class="source">${escapeXml(input.source)}</p>
<h2>Summary</h2>
<p>${escapeXml(input.summaryNote)} The same table is in summary.md and summary.csv.</p>
${htmlTable("summary", input.summary)}
<h2>Figures</h2>
${figureBlocks.join("\n")}
${skippedBlock}
<h2>Runs</h2>
${htmlTable("runs", runsTable(input.runs))}
${warningsBlock}
</body>
</html>
`;
}
