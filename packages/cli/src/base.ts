import { Command, Flags, type Interfaces } from "@oclif/core";
import { isSelectivError, oneLine } from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { createContainer } from "./container.js";

/** Shared behaviour: `--json`, one-line errors (never a stack trace), and the container with plugins loaded. */
export abstract class SelectivCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: "Print one JSON document on stdout (logs go to stderr)." }),
  };

  protected async selectivContainer(): Promise<DependencyContainer> {
    return createContainer({
      oclifPlugins: this.config.getPluginsList().map((p) => ({ name: p.name, root: p.root, pjson: p.pjson })),
      projectDir: process.cwd(),
      warn: (line) => process.stderr.write(`warning: ${line}\n`),
    });
  }

  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /**
   * `printJson({...head, [key]: items})`, written item by item: a million-item list would make one string longer
   * than V8 allows.
   */
  protected printJsonWithList(head: Record<string, unknown>, key: string, items: Iterable<unknown>): void {
    const opening = JSON.stringify(head, null, 2).slice(0, -2);
    const out = new ChunkedWriter(process.stdout);
    out.write(`${opening}${opening.length > 1 ? "," : ""}\n  ${JSON.stringify(key)}: [`);
    let first = true;
    for (const item of items) {
      out.write(`${first ? "" : ","}\n${JSON.stringify(item, null, 2).replace(/^/gm, "    ")}`);
      first = false;
    }
    out.write(`${first ? "" : "\n  "}]\n}\n`);
    out.flush();
  }

  /** Writes lines to stdout in chunks (a million-line table is never one string). */
  protected printLines(lines: Iterable<string>): void {
    const out = new ChunkedWriter(process.stdout);
    for (const line of lines) out.write(`${line}\n`);
    out.flush();
  }

  protected override async catch(err: Interfaces.CommandError): Promise<void> {
    // oclif's own exits (help, this.exit) pass through unchanged.
    if ((err as { oclif?: { exit?: number } }).oclif?.exit !== undefined && !(err.message ?? "").trim()) throw err;
    if (process.env.SELECTIV_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.stderr.write(`selectiv: ${summarise(err)}\n`);
    process.exitCode = 2;
  }
}

/** Collects small writes into writes of about 1 MB. */
class ChunkedWriter {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.parts.length) this.stream.write(this.parts.join(""));
    this.parts = [];
    this.size = 0;
  }
}

/**
 * One line for any error. Our own errors are one line already; oclif's flag-parsing errors span several lines
 * ("The following error occurred:", the problem, "See more help with --help"), so keep their substance.
 */
function summarise(err: Error): string {
  if (isSelectivError(err)) return err.message;
  const lines = (err.message ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help with/.test(l) && !/^The following errors? occurred:?$/.test(l));
  return lines.length ? lines.join("; ") : oneLine(err).replace(/^Error: /, "");
}
