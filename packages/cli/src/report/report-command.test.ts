// End-to-end: a real smoke benchmark through the built `selectiv` command (pnpm test builds first), then
// `selectiv report` over it, and the HTML report rendered by a real headless Chromium.
import { DOMParser, onWarningStopParsing } from "@xmldom/xmldom";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../../..");
const bin = join(root, "packages/cli/bin/run.js");
const CHROMIUM = "/usr/bin/chromium";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Drawn for a smoke run: one task, one model, two widths, evaluations during training; no Task-4 gaps. */
const DRAWN = ["accuracy-vs-width", "accuracy-vs-te", "training-accuracy", "training-loss"];

function selectiv(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));
}

describe("selectiv report", () => {
  let results = "";
  let report = "";

  beforeAll(() => {
    results = tempDir("report-runs");
    const smoke = ["bench", "run", "--preset", "smoke", "--model", "gla", "--out", results, "--backend", "cpu"];
    const seeds = selectiv([...smoke, "--seed", "1", "--seed", "2"]);
    expect(seeds.status, seeds.stderr).toBe(0);
    // A second width with evaluations during training, so that the width figure and the curves have lines.
    const wider = selectiv([...smoke, "--seed", "1", "--set", "train.width=32", "--set", "train.evalEvery=32"]);
    expect(wider.status, wider.stderr).toBe(0);
    mkdirSync(join(results, "notes"));
    mkdirSync(join(results, "broken-run"));
    writeFileSync(join(results, "broken-run", "result.json"), "{ truncated");
    writeFileSync(join(results, "broken-run", "config.json"), "{}");
    report = join(results, "report");
  });

  it("writes summary.md, summary.csv, SVG and PNG figures and report.html, warning once per foreign folder", () => {
    const r = selectiv(["report", results]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim().split("\n")).toEqual([
      `warning: skipping ${join(results, "broken-run")}: result.json is not valid JSON`,
      `warning: skipping ${join(results, "notes")}: not a run folder (no result.json)`,
      'note: figure "Test accuracy vs test gap (Task 4)" not drawn: no run has accuracies per test gap (Task 4)',
    ]);
    expect(r.stdout).toContain("3 runs in 2 conditions");

    const markdown = readFileSync(join(report, "summary.md"), "utf8");
    const rows = markdown.split("\n").filter((l) => /^\| task1 \| gla \| smoke \|/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^\| task1 \| gla \| smoke \| 16 \| 1 \| 1, 2 \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \|/);
    expect(rows[1]).toMatch(/^\| task1 \| gla \| smoke \| 32 \| 1 \| 1 \| [\d.]+ \| [\d.]+ \|/);

    const [header, ...lines] = readFileSync(join(report, "summary.csv"), "utf8").trimEnd().split("\n");
    const columns = header!.split(",");
    expect(lines).toHaveLength(2);
    const cells = lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [columns[i]!, v])));
    expect(cells.map((c) => [c.width, c.runs, c.seeds])).toEqual([
      ["16", "2", "1 2"],
      ["32", "1", "1"],
    ]);
    for (const c of cells) {
      expect(Number(c.test_accuracy_mean)).toBeGreaterThanOrEqual(0);
      expect(Number(c.test_accuracy_mean)).toBeLessThanOrEqual(1);
      // The ceiling (docs/spec/TASKS.md §4.1) beside the baseline: above both, at most 1.
      expect(Number(c.ceiling_mean)).toBeGreaterThanOrEqual(Number(c.majority_baseline_mean));
      expect(Number(c.ceiling_mean)).toBeGreaterThanOrEqual(Number(c.test_accuracy_mean) - 1e-9);
      expect(Number(c.ceiling_mean)).toBeLessThanOrEqual(1);
    }

    const figures = readdirSync(join(report, "figures")).sort();
    expect(figures).toEqual(DRAWN.flatMap((id) => [`${id}.png`, `${id}.svg`]).sort());
    for (const id of DRAWN) {
      const svg = readFileSync(join(report, "figures", `${id}.svg`), "utf8");
      const doc = new DOMParser({ onError: onWarningStopParsing }).parseFromString(svg, "image/svg+xml");
      expect(doc.documentElement!.getAttribute("data-figure")).toBe(id);
      expect(doc.getElementsByTagName("circle").length, id).toBeGreaterThan(0);
      const png = readFileSync(join(report, "figures", `${id}.png`));
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE), id).toBe(true);
      expect(png.length, id).toBeGreaterThan(1000);
    }

    const html = readFileSync(join(report, "report.html"), "utf8");
    expect(html.match(/<svg /g)).toHaveLength(DRAWN.length);
    expect(html).toContain('<table class="summary">');
    expect(html.match(/<th>majority baseline<\/th><th>ceiling<\/th>/g)).toHaveLength(2);
    expect(html).toContain('<li data-figure="accuracy-vs-gap">');
    for (const folder of readdirSync(results).filter((f) => f.startsWith("task1-gla-"))) expect(html).toContain(`<td>${folder}</td>`);

    // A second report elsewhere, as JSON; the first report folder is not taken for a foreign folder.
    const elsewhere = join(tempDir("report-out"), "site");
    const json = selectiv(["report", results, "--out", elsewhere, "--json"]);
    expect(json.status, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { runs: number; outDir: string; files: { figures: { png: string }[] }; warnings: string[] };
    expect(doc.runs).toBe(3);
    expect(doc.outDir).toBe(elsewhere);
    expect(doc.files.figures.map((f) => statSync(f.png).size > 0)).toEqual(DRAWN.map(() => true));
    expect(doc.warnings).toHaveLength(2);
  });

  it("rejects a missing path, a file and a folder without runs with one line naming the path", () => {
    const missing = join(tempDir("report-missing"), "nowhere");
    const file = join(results, "results.csv");
    const empty = tempDir("report-empty");
    mkdirSync(join(empty, "stray"));
    for (const [dir, message] of [
      [missing, `selectiv: report: results folder ${JSON.stringify(missing)} does not exist`],
      [file, `selectiv: report: ${JSON.stringify(file)} is not a folder; give a results folder (bench run --out)`],
      [
        empty,
        `selectiv: report: no runs in ${JSON.stringify(empty)}: no folder in it has a result.json and config.json (1 folder skipped)`,
      ],
    ] as const) {
      const r = selectiv(["report", dir]);
      expect(r.status, dir).not.toBe(0);
      expect(r.stderr).toBe(`${message}\n`);
    }
  });

  // CI installs Chromium (.ci/run); elsewhere the test runs where Debian's chromium is installed.
  it.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("is drawn by a headless Chromium: every figure's lines and markers have size", () => {
    if (!existsSync(join(report, "report.html"))) expect(selectiv(["report", results]).status).toBe(0);
    // The report has no scripts; a copy beside it gets one that measures what Chromium laid out and writes it
    // into the DOM, which --dump-dom prints once the page has loaded.
    const probe = join(report, "probe.html");
    copyFileSync(join(report, "report.html"), probe);
    const measure = `<script>
      const figures = [...document.querySelectorAll("figure svg.plot")].map((svg) => {
        const box = svg.getBoundingClientRect();
        const series = [...svg.querySelectorAll("g.series")].map((g) => {
          const line = g.querySelector("polyline.line");
          const markers = [...g.querySelectorAll("circle.marker")].map((c) => c.getBBox());
          return {
            points: line ? line.points.numberOfItems : 0,
            lineLength: line ? line.getTotalLength() : 0,
            markers: markers.filter((b) => b.width > 0 && b.height > 0).length,
          };
        });
        return { id: svg.dataset.figure, width: box.width, height: box.height, series };
      });
      const out = document.createElement("pre");
      out.id = "measured";
      out.textContent = JSON.stringify(figures);
      document.body.append(out);
    </script>`;
    writeFileSync(probe, readFileSync(probe, "utf8").replace("</body>", `${measure}\n</body>`));
    const profile = tempDir("chromium-profile");
    const chromium = spawnSync(
      CHROMIUM,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--window-size=1280,2000",
        "--dump-dom",
        pathToFileURL(probe).href,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(chromium.status, chromium.stderr).toBe(0);
    const measured = chromium.stdout.match(/<pre id="measured">(.*?)<\/pre>/s);
    expect(measured, chromium.stdout.slice(0, 2000)).not.toBeNull();
    const figures = JSON.parse(measured![1]!.replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">")) as {
      id: string;
      width: number;
      height: number;
      series: { points: number; lineLength: number; markers: number }[];
    }[];
    expect(figures.map((f) => f.id)).toEqual(DRAWN);
    for (const f of figures) {
      expect(f.width, f.id).toBeGreaterThan(100);
      expect(f.height, f.id).toBeGreaterThan(100);
      expect(f.series.length, f.id).toBeGreaterThan(0);
      for (const s of f.series) expect(s.markers, f.id).toBeGreaterThan(0);
    }
    // Lines join the points of every series with more than one: the width line, and the width-32 run's curve.
    const lines = (id: string) => figures.find((f) => f.id === id)!.series.filter((s) => s.points > 1);
    expect(lines("accuracy-vs-width")).toHaveLength(1);
    expect(lines("training-accuracy").length).toBeGreaterThan(0);
    for (const s of [...lines("accuracy-vs-width"), ...lines("training-accuracy"), ...lines("training-loss")]) {
      expect(s.lineLength).toBeGreaterThan(10);
    }
  });
});
