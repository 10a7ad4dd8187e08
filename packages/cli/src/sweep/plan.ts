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
import { expandPoints, isMapping } from "./parameters.js";
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

/** Every run of a sweep, planned and checked (no run trains before every run is valid); duplicates merged. */
export interface ExpandedSweep {
  source: SweepSource;
  runs: SweepRun[];
  /** Points that planned to a run id already listed (e.g. random draws that repeat). */
  duplicates: number;
}

/**
 * Expands a sweep into runs: each point of the sweep → (task, model, seed, assignments) → planned exactly as
 * `bench run` plans (parseAssignments, then planBenchmark) → core's run id. A bad value is a one-line error
 * naming the sweep key it came from.
 */
export function expandSweep(container: DependencyContainer, source: SweepSource, overrides: SweepOverrides = {}): ExpandedSweep {
  const preset = overrides.preset ?? source.preset;
  const backend = overrides.backend ?? source.backend;
  const count = overrides.count ?? source.count;
  if (source.method === "random" && count === undefined) {
    throw new SelectivError(`${source.file}: random search needs a count (${source.format === "wandb" ? "run_cap" : "count"} or --count)`);
  }
  const extra = overrides.set ?? [];
  const runs: SweepRun[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
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
    let planned;
    try {
      [planned] = planBenchmark(container, {
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
    const id = runId(planned!);
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
      assignments: [...request.assignments.map((a) => a.text), ...extra],
      point,
    });
  }
  return { source, runs, duplicates };
}

export function describePoint(point: Record<string, unknown>): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
}
