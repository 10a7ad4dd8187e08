/** A plain text table with aligned columns. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 || !/^[-+\d.,%±]+$/.test(c) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
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
