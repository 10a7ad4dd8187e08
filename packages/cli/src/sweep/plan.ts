import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import {
  type BackendPreference,
  type PresetName,
  SelectivError,
  emptyOverrides,
  parseAssignments,
  planBenchmark,
  runId,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { parse as parseYaml } from "yaml";
import { assignmentError, readSelectivSweep } from "./selectiv-format.js";
import { expandPoints, isMapping, pointCount } from "./parameters.js";
import type { SweepRun, SweepSource } from "./source.js";
import { isWandbSweep, readWandbSweep } from "./wandb-format.js";

/** Reads a sweep file: selectiv's own format, or a W&B sweep file of the reference (detected by its keys). */
export function readSweepFile(container: DependencyContainer, path: string): SweepSource {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SelectivError(`cannot read sweep file ${JSON.stringify(path)} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new SelectivError(`${path}: not valid ${/\.json$/i.test(path) ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!isMapping(data)) throw new SelectivError(`${path}: expected a mapping at the top level`);
  const baseName = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]/g, "-");
  return isWandbSweep(data) ? readWandbSweep(container, data, path, baseName) : readSelectivSweep(container, data, path, baseName);
}

/** Command-line overrides of a sweep file's settings. */
export interface SweepOverrides {
  preset?: PresetName;
  backend?: BackendPreference;
  /** Random search: configurations to draw (overrides the file's count / run_cap). */
  count?: number;
  /** `--set` assignments applied to every run after the sweep's own (the command line wins). */
  set?: string[];
}

/**
 * The most points one sweep plans. Every run is planned and listed before any trains, so a sweep's runs are held
 * in memory (about 0.6 KB each: a million-point dry run peaks near 0.8 GB). A larger search is several sweeps.
 */
export const MAX_SWEEP_POINTS = 1_000_000;

/** Reports planning progress: points planned so far, of `total`. */
export type PlanningProgress = (planned: number, total: number) => void;

export interface ExpandOptions {
  /** Called every `progressIntervalMs` while planning, and with the final count at the end. */
  onProgress?: PlanningProgress;
  /** Default 1000. */
  progressIntervalMs?: number;
}

/** Every run of a sweep, planned and checked (no run trains before every run is valid); duplicates merged. */
export interface ExpandedSweep {
  source: SweepSource;
  runs: SweepRun[];
  /** Points that planned to a run id already listed (e.g. random draws that repeat). */
  duplicates: number;
}

/** A one-line error when the sweep has more points than `MAX_SWEEP_POINTS`, naming the setting that makes them. */
function checkPointCount(source: SweepSource, count: number | undefined, countFromFlag: boolean): number {
  const total = pointCount(source.dimensions, source.method, count ?? 0);
  if (total <= MAX_SWEEP_POINTS) return total;
  const most = MAX_SWEEP_POINTS.toLocaleString("en-US");
  if (source.method === "random") {
    const name = countFromFlag ? "--count" : `${source.file}: ${source.format === "wandb" ? "run_cap" : "count"}`;
    const cells = total / count!;
    const runs = cells > 1 ? ` (× ${cells} task/model/seed combinations = ${total.toLocaleString("en-US")} runs)` : "";
    throw new SelectivError(
      `${name}: got ${count}${runs}; a sweep plans at most ${most} runs (draw fewer, or split the search into several sweeps)`,
    );
  }
  throw new SelectivError(
    `${source.file}: parameters: the grid has ${total.toLocaleString("en-US")} points, and a sweep plans at most ${most} ` +
      "(fewer values, or split the grid into several sweeps)",
  );
}

/**
 * Expands a sweep into runs: each point of the sweep → (task, model, seed, assignments) → planned exactly as
 * `bench run` plans (parseAssignments, then planBenchmark) → core's run id. A bad value is a one-line error
 * naming the sweep key it came from. Points are generated one at a time and only the runs are kept.
 */
export function expandSweep(
  container: DependencyContainer,
  source: SweepSource,
  overrides: SweepOverrides = {},
  options: ExpandOptions = {},
): ExpandedSweep {
  const preset = overrides.preset ?? source.preset;
  const backend = overrides.backend ?? source.backend;
  const count = overrides.count ?? source.count;
  if (source.method === "random" && count === undefined) {
    throw new SelectivError(`${source.file}: random search needs a count (${source.format === "wandb" ? "run_cap" : "count"} or --count)`);
  }
  const total = checkPointCount(source, count, overrides.count !== undefined);
  const extra = overrides.set ?? [];
  const runs: SweepRun[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  let planned = 0;
  // A grid's points repeat the same few assignment texts: one copy of each, not one per run. Random draws are
  // mostly distinct, so the table stops growing at 100,000 texts.
  const texts = new Map<string, string>();
  const intern = (text: string): string => texts.get(text) ?? (texts.size < 100_000 && texts.set(text, text), text);
  const interval = options.progressIntervalMs ?? 1000;
  let reportedAt = Date.now();
  let reported = 0;
  for (const point of expandPoints(source.dimensions, source.method, count ?? 0, source.randomSeed)) {
    const request = source.runOf(point);
    const selected = { tasks: [request.task], models: [request.model] };
    const o = emptyOverrides();
    for (const a of request.assignments) {
      try {
        parseAssignments(container, [a.text], selected, o);
      } catch (e) {
        assignmentError(e, a.source);
      }
    }
    parseAssignments(container, extra, selected, o);
    let plannedRun;
    try {
      [plannedRun] = planBenchmark(container, {
        tasks: [request.task],
        models: [request.model],
        seeds: [request.seed],
        preset,
        overrides: o,
        backend,
        outDir: ".",
      });
    } catch (e) {
      if (e instanceof SelectivError) throw new SelectivError(`${source.file}: run ${describePoint(point)}: ${e.message}`);
      throw e;
    }
    planned++;
    if (options.onProgress && Date.now() - reportedAt >= interval) {
      reportedAt = Date.now();
      reported = planned;
      options.onProgress(planned, total);
    }
    const id = runId(plannedRun!);
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    runs.push({
      id,
      task: request.task,
      model: request.model,
      seed: request.seed,
      preset,
      backend,
      assignments: [...request.assignments.map((a) => intern(a.text)), ...extra],
      point,
    });
  }
  if (reported < planned) options.onProgress?.(planned, total);
  return { source, runs, duplicates };
}

/** The progress line of `sweep run` while it plans: "planning: 250,000 / 1,000,000 runs". */
export function planningProgressLine(planned: number, total: number): string {
  return `planning: ${planned.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} runs`;
}

export function describePoint(point: Record<string, unknown>): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
}
