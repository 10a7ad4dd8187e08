import { DOMParser, type Element, onWarningStopParsing } from "@xmldom/xmldom";
import { describe, expect, it } from "vitest";
import type { Condition } from "./aggregate.js";
import { buildFigures } from "./figures.js";
import type { RunRecord } from "./read-runs.js";
import { type PlotSpec, formatTick, renderPlot } from "./svg-plot.js";

/** Parses as strict XML: any warning or error throws. */
function parseSvg(svg: string): Element {
  const doc = new DOMParser({ onError: onWarningStopParsing }).parseFromString(svg, "image/svg+xml");
  const root = doc.documentElement!;
  expect(root.tagName).toBe("svg");
  expect(root.getAttribute("xmlns")).toBe("http://www.w3.org/2000/svg");
  return root;
}

function byClass(root: Element, tag: string, className: string): Element[] {
  return Array.from(root.getElementsByTagName(tag)).filter((e) => (e.getAttribute("class") ?? "").split(" ").includes(className));
}

function polylinePoints(series: Element): number[][] {
  const line = byClass(series, "polyline", "line")[0];
  if (!line) return [];
  return line
    .getAttribute("points")!
    .split(" ")
    .map((pair) => pair.split(",").map(Number));
}

const spec: PlotSpec = {
  id: "demo",
  title: "Accuracy <by> width & model",
  xLabel: "width",
  yLabel: "accuracy",
  xScale: "log2",
  yDomain: [0, 1],
  series: [
    {
      label: "gla",
      points: [
        { x: 16, y: 0.5, error: 0.1 },
        { x: 32, y: 0.6, error: 0.05 },
        { x: 64, y: 0.7 },
      ],
    },
    {
      label: "mamba & co",
      points: [
        { x: 16, y: 0.4 },
        { x: 64, y: NaN },
        { x: 128, y: 0.9, error: 0.02 },
      ],
    },
    { label: "lone", points: [{ x: 32, y: 1 }] },
  ],
};

describe("renderPlot", () => {
  it("writes well-formed SVG with one group per series, its points, error bars and a legend", () => {
    const svg = renderPlot(spec);
    const root = parseSvg(svg);
    expect(root.getAttribute("data-figure")).toBe("demo");
    expect(root.getElementsByTagName("title")[0]!.textContent).toBe("Accuracy <by> width & model");

    const series = byClass(root, "g", "series");
    expect(series.map((s) => s.getAttribute("data-label"))).toEqual(["gla", "mamba & co", "lone"]);
    // The NaN point is left out; a single point gets a marker but no line.
    expect(series.map((s) => Number(s.getAttribute("data-points")))).toEqual([3, 2, 1]);
    expect(series.map((s) => polylinePoints(s).length)).toEqual([3, 2, 0]);
    expect(series.map((s) => byClass(s, "circle", "marker").length)).toEqual([3, 2, 1]);
    // Error bars: one vertical stroke per point with an error.
    const bars = series.map((s) => (byClass(s, "path", "error-bars")[0]?.getAttribute("d")?.match(/V/g) ?? []).length);
    expect(bars).toEqual([2, 1, 0]);

    // x rises along each line; the y axis points down in SVG, so higher accuracy is a smaller y.
    const [gla] = series.map(polylinePoints);
    expect(gla![0]![0]).toBeLessThan(gla![1]![0]!);
    expect(gla![0]![1]).toBeGreaterThan(gla![2]![1]!);
    // Every point lies inside the drawing.
    for (const [px, py] of series.flatMap(polylinePoints)) {
      expect(px).toBeGreaterThan(0);
      expect(px).toBeLessThan(640);
      expect(py).toBeGreaterThan(0);
      expect(py).toBeLessThan(400);
    }

    const legend = byClass(root, "g", "legend-entry").map((e) => e.getAttribute("data-label"));
    expect(legend).toEqual(["gla", "mamba & co", "lone"]);
    const xTicks = byClass(root, "g", "tick-labels")[0]!.getElementsByTagName("text");
    const labels = Array.from(xTicks).map((t) => t.textContent);
    for (const power of ["16", "32", "64", "128"]) expect(labels).toContain(power);
    for (const y of ["0.0", "0.2", "1.0"]) expect(labels).toContain(y);
  });

  it("gives series with the same label one colour and one legend entry", () => {
    const root = parseSvg(
      renderPlot({
        ...spec,
        xScale: "linear",
        series: [
          {
            label: "gla",
            key: "run-a",
            points: [
              { x: 0, y: 0.1 },
              { x: 10, y: 0.2 },
            ],
          },
          {
            label: "gla",
            key: "run-b",
            points: [
              { x: 0, y: 0.3 },
              { x: 10, y: 0.4 },
            ],
          },
          {
            label: "mamba",
            key: "run-c",
            points: [
              { x: 0, y: 0.5 },
              { x: 10, y: 0.6 },
            ],
          },
        ],
      }),
    );
    const series = byClass(root, "g", "series");
    expect(series.map((s) => s.getAttribute("data-key"))).toEqual(["run-a", "run-b", "run-c"]);
    const colours = series.map((s) => byClass(s, "polyline", "line")[0]!.getAttribute("stroke"));
    expect(colours[0]).toBe(colours[1]);
    expect(colours[2]).not.toBe(colours[0]);
    expect(byClass(root, "g", "legend-entry")).toHaveLength(2);
  });

  it("draws a scatter without lines, and an empty plot as bare axes", () => {
    const scatter = parseSvg(
      renderPlot({
        ...spec,
        xScale: "linear",
        series: [
          {
            label: "te",
            line: false,
            points: [
              { x: 0.7, y: 0.2 },
              { x: 0.9, y: 0.4 },
            ],
          },
        ],
      }),
    );
    expect(byClass(scatter, "polyline", "line")).toHaveLength(0);
    expect(byClass(scatter, "circle", "marker")).toHaveLength(2);
    const empty = parseSvg(renderPlot({ ...spec, series: [] }));
    expect(byClass(empty, "g", "series")).toHaveLength(0);
    expect(byClass(empty, "path", "axis-lines")).toHaveLength(1);
  });

  it("labels ticks by their step", () => {
    expect(formatTick(0.25, 0.05)).toBe("0.25");
    expect(formatTick(3, 1)).toBe("3");
    expect(formatTick(200_000, 50_000)).toBe("200k");
  });
});

function run(overrides: Partial<RunRecord>): RunRecord {
  return {
    folder: "run",
    task: "task1",
    model: "gla",
    seed: 1,
    preset: "quick",
    status: "completed",
    backend: "cpu",
    width: 64,
    layers: 2,
    te: 0.8,
    params: 1000,
    testAccuracy: 0.5,
    bestTestAccuracy: 0.5,
    testLoss: 1,
    majorityBaseline: 0.3,
    ceiling: 0.9,
    testKl: NaN,
    bestTestKl: NaN,
    wallSeconds: 10,
    settings: {},
    curve: [],
    gapAccuracies: [],
    ...overrides,
  };
}

function condition(runs: RunRecord[]): Condition {
  const first = runs[0]!;
  return { ...first, settings: "", seriesKey: first.model, runs };
}

describe("buildFigures", () => {
  it("draws every figure that has data and skips the rest with the reason", () => {
    const evaluation = { step: 1, lr: 0, testLoss: 1, majorityBaseline: 0.3, gradNorm: 1, wallSeconds: 1 };
    const curve = [
      { ...evaluation, samples: 100, trainLoss: 2, testAccuracy: 0.3 },
      { ...evaluation, samples: 200, trainLoss: 1.5, testAccuracy: 0.5 },
    ];
    const gaps = [
      { gapSteps: 10, accuracy: 0.9 },
      { gapSteps: 100, accuracy: 0.6 },
    ];
    const conditions = [
      condition([run({ folder: "a1", seed: 1, width: 32, curve, gapAccuracies: gaps }), run({ folder: "a2", seed: 2, width: 32, curve })]),
      condition([run({ folder: "b1", seed: 1, width: 64, te: NaN })]),
      condition([run({ folder: "c1", model: "mamba", seed: 1, width: 64 })]),
    ];
    const figures = buildFigures(conditions);
    const drawn = Object.fromEntries(figures.map((f) => [f.id, "svg" in f ? parseSvg(f.svg) : f.skipped]));
    const seriesOf = (id: string): Element[] => byClass(drawn[id] as Element, "g", "series");
    expect(seriesOf("accuracy-vs-width").map((s) => s.getAttribute("data-points"))).toEqual(["2", "1"]);
    expect(seriesOf("accuracy-vs-te").flatMap((s) => byClass(s, "circle", "marker"))).toHaveLength(3);
    expect(seriesOf("accuracy-vs-gap").map((s) => s.getAttribute("data-points"))).toEqual(["2"]);
    expect(seriesOf("training-accuracy").map((s) => s.getAttribute("data-key"))).toEqual(["a1", "a2"]);
    expect(seriesOf("training-loss")).toHaveLength(2);

    const bare = buildFigures([condition([run({ te: NaN })])]);
    const skipped = Object.fromEntries(bare.flatMap((f) => ("skipped" in f ? [[f.id, f.skipped]] : [])));
    expect(skipped).toEqual({
      "accuracy-vs-te": "no run records the topological entropy (TE) of its grammar",
      "accuracy-vs-gap": "no run has accuracies per test gap (Task 4)",
      "training-accuracy": "no run folder has a metrics.jsonl",
      "training-loss": "no run folder has a metrics.jsonl",
    });
    const width = bare.find((f) => f.id === "accuracy-vs-width")!;
    expect("caption" in width && width.caption).toMatch(/Every run has width 64/);
  });
});
