import type { Config } from "@oclif/core";
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PluginCandidate, RunResult } from "@selectiv/core";
import { pluginCandidates } from "../container.js";
import type { FromChild, ToChild } from "./run-child.js";
import type { SweepRun } from "./source.js";

const CHILD_ENTRY = fileURLToPath(new URL("./run-child.js", import.meta.url));

export interface RunProcessOptions {
  plugins: PluginCandidate[];
}

/**
 * What a training process needs to load the same plugins as the command that starts it: the plugins that
 * command found (so the child does not search again, nor repeat the command's notice about undeclared ones).
 */
export function processOptionsOf(config: Config): RunProcessOptions {
  return {
    plugins: pluginCandidates({
      oclifPlugins: config.getPluginsList().map((p) => ({ name: p.name, root: p.root, pjson: p.pjson })),
      projectDir: process.cwd(),
    }),
  };
}

/**
 * A training process (run-child.js) and the one run it is working on. Its stdout goes to our stderr, so a
 * command's `--json` output stays one document.
 */
export class RunProcess {
  private pending?: { runId: string; resolve: (r: RunResult) => void; reject: (e: Error) => void };
  private exited?: string;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: FromChild) => {
      if (m.type === "ready" || !this.pending || m.runId !== this.pending.runId) return;
      const p = this.pending;
      this.pending = undefined;
      if (m.type === "result") p.resolve(m.result);
      else p.reject(new Error(m.message));
    });
    child.on("exit", (code, signal) => {
      this.exited = `the training process exited (${signal ?? `code ${code}`})`;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error(this.exited));
    });
  }

  static start(options: RunProcessOptions): Promise<RunProcess> {
    const child = fork(CHILD_ENTRY, [], { stdio: ["ignore", 2, 2, "ipc"], serialization: "advanced" });
    const proc = new RunProcess(child);
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`the training process failed to start (${signal ?? `code ${code}`})`));
      child.once("exit", onExit);
      child.on("message", (m: FromChild) => {
        if (m.type !== "ready") return;
        child.off("exit", onExit);
        resolve(proc);
      });
      child.send({ type: "init", plugins: options.plugins } satisfies ToChild);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  /** Trains one run (resuming or reusing what the folder holds); rejects with a one-line reason. */
  run(run: SweepRun, outDir: string): Promise<RunResult> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    if (this.pending) return Promise.reject(new Error(`busy with run ${this.pending.runId}`));
    return new Promise((resolve, reject) => {
      this.pending = { runId: run.id, resolve, reject };
      this.child.send({ type: "run", run, outDir } satisfies ToChild);
    });
  }

  kill(): void {
    if (this.alive) this.child.kill("SIGKILL");
  }
}
