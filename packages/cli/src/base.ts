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

  protected override async catch(err: Interfaces.CommandError): Promise<void> {
    // oclif's own exits (help, this.exit) pass through unchanged.
    if ((err as { oclif?: { exit?: number } }).oclif?.exit !== undefined && !(err.message ?? "").trim()) throw err;
    if (process.env.SELECTIV_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.stderr.write(`selectiv: ${summarise(err)}\n`);
    process.exitCode = 2;
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
