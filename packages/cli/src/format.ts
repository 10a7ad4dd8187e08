/** A plain text table with aligned columns. */
export function formatTable(header: readonly string[], rows: Iterable<readonly string[]>): string {
  return [...tableLines(header, rows)].join("\n");
}

/**
 * The lines of `formatTable`, one at a time (a million-row table is written without building one string). `rows`
 * is iterated twice: for the column widths, then for the lines.
 */
export function* tableLines(header: readonly string[], rows: Iterable<readonly string[]>): Generator<string> {
  // A loop, not Math.max(...column): spreading a million rows into a call exceeds the call stack.
  const widths = header.map((h) => h.length);
  for (const r of rows) header.forEach((_, i) => (widths[i] = Math.max(widths[i]!, (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 || !/^[-+\d.,%±]+$/.test(c) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  yield line(header);
  yield widths.map((w) => "-".repeat(w)).join("  ");
  for (const r of rows) yield line(r);
}

/** Four decimals, or an en dash where there is no value (accuracy in prediction mode). */
export function fixed(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : "–";
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Progress on one stderr line, redrawn in place; silent when stderr is not a TTY. */
export class ProgressLine {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(label: string, step: number, total: number, loss: number, accuracy: number | undefined, eta: number, kl?: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && step < total) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((width * step) / Math.max(1, total));
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const acc = kl !== undefined ? ` KL ${kl.toFixed(4)}` : accuracy === undefined ? "" : ` acc ${accuracy.toFixed(3)}`;
    const text = `${label} ${bar} ${step}/${total} loss ${loss.toFixed(4)}${acc} ETA ${formatDuration(eta)}`;
    const columns = this.stream.columns ?? 120;
    this.stream.write(`\r${text.slice(0, columns - 1)}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.enabled && this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}
