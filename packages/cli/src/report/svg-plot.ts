// A small hand-written SVG chart: one panel of line and scatter series with axes, ticks, grid, legend and error
// bars. Output is plain SVG 1.1 (no CSS, no scripts) so that browsers and resvg draw it the same way.

export interface PlotPoint {
  readonly x: number;
  readonly y: number;
  /** Half-length of a vertical error bar around y (e.g. one standard deviation); absent or 0 = no bar. */
  readonly error?: number;
}

export interface PlotSeries {
  /** Legend text. Series with the same label share a colour and one legend entry (e.g. one line per run of a model). */
  readonly label: string;
  /** Points with a non-finite coordinate are left out. */
  readonly points: readonly PlotPoint[];
  /** Join the points with a line (default); false draws markers only, a scatter. */
  readonly line?: boolean;
  /** Written as the series group's data-key, to tell series with the same label apart. */
  readonly key?: string;
}

export interface PlotSpec {
  /** Unique within a page: it prefixes the ids inside the SVG, which is embedded inline next to other plots. */
  readonly id: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly PlotSeries[];
  /** log2 suits model widths (16, 32, 64, …); default linear. */
  readonly xScale?: "linear" | "log2";
  /** A fixed y range (e.g. [0, 1] for accuracy); default: the data's range, widened to round ticks. */
  readonly yDomain?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
}

/** Tableau 10: distinguishable, and readable in print. */
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";
const MARKER_RADIUS = 3.5;
const X_INSET = 14;
/** Approximate advance of one character at the legend's font size, for sizing the legend column. */
const LEGEND_CHAR_WIDTH = 6.6;
const LEGEND_MAX_WIDTH = 220;
const LEGEND_ROW_HEIGHT = 18;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/** A coordinate with at most two decimals: short output, sub-pixel exact enough. */
function coord(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A "nice" step (1, 2 or 5 × 10^k) giving about `count` intervals over `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
}

interface Axis {
  /** Maps a data value to a pixel position. */
  readonly toPixel: (v: number) => number;
  readonly ticks: readonly { value: number; label: string }[];
}

/** Widens a degenerate range (one distinct value) so that the value sits inside the axis. */
function widen([lo, hi]: readonly [number, number]): [number, number] {
  if (hi > lo) return [lo, hi];
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - pad, hi + pad];
}

export function formatTick(value: number, step: number): string {
  if (Math.abs(value) >= 10_000 && step >= 1000) return `${Number((value / 1000).toPrecision(6))}k`;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(Math.min(decimals, 6));
}

function linearAxis(range: readonly [number, number], pixels: readonly [number, number], fixed: boolean): Axis {
  let [lo, hi] = widen(range);
  const step = niceStep(hi - lo, 5);
  if (!fixed) {
    lo = Math.floor(lo / step + 1e-9) * step;
    hi = Math.ceil(hi / step - 1e-9) * step;
  }
  const ticks: { value: number; label: string }[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    const value = Math.abs(v) < step * 1e-9 ? 0 : v;
    ticks.push({ value, label: formatTick(value, step) });
  }
  const [p0, p1] = pixels;
  return { toPixel: (v) => p0 + ((v - lo) / (hi - lo)) * (p1 - p0), ticks };
}

/** Base-2 logarithmic axis with ticks at powers of two, widened to whole powers. */
function log2Axis(range: readonly [number, number], pixels: readonly [number, number]): Axis {
  let lo = Math.floor(Math.log2(range[0]));
  let hi = Math.ceil(Math.log2(range[1]));
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const stride = Math.ceil((hi - lo) / 8);
  const ticks: { value: number; label: string }[] = [];
  for (let e = lo; e <= hi; e += stride) ticks.push({ value: 2 ** e, label: formatTick(2 ** e, 2 ** e) });
  const [p0, p1] = pixels;
  return { toPixel: (v) => p0 + ((Math.log2(v) - lo) / (hi - lo)) * (p1 - p0), ticks };
}

function extent(values: readonly number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)];
}

/** Renders one plot as a standalone SVG document (no XML declaration, so it can also be inlined in HTML). */
export function renderPlot(spec: PlotSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 400;
  const logX = spec.xScale === "log2";
  const series = spec.series.map((s) => ({
    ...s,
    points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logX || p.x > 0)),
  }));
  const colours = new Map<string, string>();
  const lineLabels = new Set(series.filter((s) => s.line !== false).map((s) => s.label));
  for (const s of series) if (!colours.has(s.label)) colours.set(s.label, PALETTE[colours.size % PALETTE.length]!);

  const points = series.flatMap((s) => s.points);
  const errorOf = (p: PlotPoint): number => (p.error !== undefined && Number.isFinite(p.error) ? Math.abs(p.error) : 0);
  const xRange = points.length ? extent(points.map((p) => p.x)) : ([logX ? 1 : 0, 1] as [number, number]);
  const yRange =
    spec.yDomain ?? (points.length ? extent(points.flatMap((p) => [p.y - errorOf(p), p.y + errorOf(p)])) : ([0, 1] as [number, number]));

  const legendLabels = [...colours.keys()];
  const legendWidth = Math.min(LEGEND_MAX_WIDTH, 28 + LEGEND_CHAR_WIDTH * Math.max(0, ...legendLabels.map((l) => l.length)));
  const margin = { top: 40, right: legendWidth + 16, bottom: 52, left: 64 };
  const plotLeft = margin.left;
  const plotRight = width - margin.right;
  const plotTop = margin.top;
  const plotBottom = height - margin.bottom;
  // Points at the ends of the x range keep clear of the y axis and the legend.
  const xPixels = [plotLeft + X_INSET, plotRight - X_INSET] as const;
  const x = logX ? log2Axis(xRange, xPixels) : linearAxis(xRange, xPixels, false);
  const y = linearAxis(yRange, [plotBottom, plotTop], spec.yDomain !== undefined);

  const id = spec.id.replace(/[^A-Za-z0-9_-]/g, "-");
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `class="plot" data-figure="${escapeXml(id)}" role="img" aria-labelledby="${id}-title" font-family="${FONT}" font-size="12">`,
  );
  out.push(`<title id="${id}-title">${escapeXml(spec.title)}</title>`);
  out.push(`<rect class="background" width="${width}" height="${height}" fill="#ffffff"/>`);
  // Markers on the plot's edge (accuracy 0 or 1) stay whole: the clip reaches a marker radius beyond the axes.
  const clipPad = MARKER_RADIUS + 1;
  out.push(
    `<defs><clipPath id="${id}-clip"><rect x="${coord(plotLeft - clipPad)}" y="${coord(plotTop - clipPad)}" ` +
      `width="${coord(plotRight - plotLeft + 2 * clipPad)}" height="${coord(plotBottom - plotTop + 2 * clipPad)}"/></clipPath></defs>`,
  );
  out.push(
    `<text class="title" x="${coord((plotLeft + plotRight) / 2)}" y="22" text-anchor="middle" font-size="14" font-weight="bold">` +
      `${escapeXml(spec.title)}</text>`,
  );

  // Grid and axes.
  const grid: string[] = [];
  const tickMarks: string[] = [];
  const tickLabels: string[] = [];
  for (const t of x.ticks) {
    const px = coord(x.toPixel(t.value));
    grid.push(`M${px} ${coord(plotTop)}V${coord(plotBottom)}`);
    tickMarks.push(`M${px} ${coord(plotBottom)}v5`);
    tickLabels.push(`<text x="${px}" y="${coord(plotBottom + 18)}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  for (const t of y.ticks) {
    const py = coord(y.toPixel(t.value));
    grid.push(`M${coord(plotLeft)} ${py}H${coord(plotRight)}`);
    tickMarks.push(`M${coord(plotLeft)} ${py}h-5`);
    tickLabels.push(`<text x="${coord(plotLeft - 8)}" y="${py}" dy="0.32em" text-anchor="end">${escapeXml(t.label)}</text>`);
  }
  out.push(`<path class="grid" d="${grid.join("")}" stroke="#e5e5e5" stroke-width="1" fill="none"/>`);
  out.push(
    `<g class="axes"><path class="axis-lines" d="M${coord(plotLeft)} ${coord(plotTop)}V${coord(plotBottom)}H${coord(plotRight)}" ` +
      `stroke="#333333" fill="none"/><path class="ticks" d="${tickMarks.join("")}" stroke="#333333" fill="none"/>` +
      `<g class="tick-labels" fill="#333333">${tickLabels.join("")}</g>` +
      `<text class="x-label" x="${coord((plotLeft + plotRight) / 2)}" y="${coord(height - 12)}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>` +
      `<text class="y-label" transform="translate(16 ${coord((plotTop + plotBottom) / 2)}) rotate(-90)" text-anchor="middle">` +
      `${escapeXml(spec.yLabel)}</text></g>`,
  );

  // Series: error bars beneath, then the line, then markers on top.
  out.push(`<g class="series-area" clip-path="url(#${id}-clip)">`);
  for (const s of series) {
    const colour = colours.get(s.label)!;
    const pixels = s.points.map((p) => ({ px: x.toPixel(p.x), py: y.toPixel(p.y), p }));
    const keyAttribute = s.key === undefined ? "" : ` data-key="${escapeXml(s.key)}"`;
    out.push(`<g class="series" data-label="${escapeXml(s.label)}"${keyAttribute} data-points="${pixels.length}">`);
    const bars = pixels
      .filter(({ p }) => errorOf(p) > 0)
      .map(({ px, p }) => {
        const top = coord(y.toPixel(p.y + errorOf(p)));
        const bottom = coord(y.toPixel(p.y - errorOf(p)));
        return `M${coord(px)} ${top}V${bottom}M${coord(px - 4)} ${top}h8M${coord(px - 4)} ${bottom}h8`;
      });
    if (bars.length) out.push(`<path class="error-bars" d="${bars.join("")}" stroke="${colour}" stroke-width="1.2" fill="none"/>`);
    if (s.line !== false && pixels.length > 1) {
      const polyline = pixels.map(({ px, py }) => `${coord(px)},${coord(py)}`).join(" ");
      out.push(`<polyline class="line" points="${polyline}" stroke="${colour}" stroke-width="2" fill="none" stroke-linejoin="round"/>`);
    }
    for (const { px, py } of pixels) {
      out.push(
        `<circle class="marker" cx="${coord(px)}" cy="${coord(py)}" r="${MARKER_RADIUS}" fill="${colour}" stroke="#ffffff" stroke-width="0.8"/>`,
      );
    }
    out.push(`</g>`);
  }
  out.push(`</g>`);

  out.push(`<g class="legend" transform="translate(${coord(plotRight + 16)} ${coord(plotTop)})">`);
  const rows = Math.max(1, Math.floor((plotBottom - plotTop) / LEGEND_ROW_HEIGHT));
  const shown = legendLabels.length > rows ? legendLabels.slice(0, rows - 1) : legendLabels;
  const maxChars = Math.floor((LEGEND_MAX_WIDTH - 28) / LEGEND_CHAR_WIDTH);
  shown.forEach((label, i) => {
    const colour = colours.get(label)!;
    const rowY = i * LEGEND_ROW_HEIGHT + 6;
    const text = label.length > maxChars ? `${label.slice(0, maxChars - 1)}…` : label;
    out.push(
      `<g class="legend-entry" data-label="${escapeXml(label)}"><title>${escapeXml(label)}</title>` +
        (lineLabels.has(label) ? `<path d="M0 ${rowY}h18" stroke="${colour}" stroke-width="2"/>` : "") +
        `<circle cx="9" cy="${rowY}" r="${MARKER_RADIUS}" fill="${colour}"/>` +
        `<text x="24" y="${rowY}" dy="0.32em">${escapeXml(text)}</text></g>`,
    );
  });
  if (shown.length < legendLabels.length) {
    const rowY = shown.length * LEGEND_ROW_HEIGHT + 6;
    out.push(`<text class="legend-more" x="24" y="${rowY}" dy="0.32em">+${legendLabels.length - shown.length} more</text>`);
  }
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n");
}
