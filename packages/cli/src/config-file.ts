import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type RunConfigFile, SelectivError } from "@selectiv/core";
import { parse as parseYaml } from "yaml";

/** What a `--config FILE` (JSON or YAML) may hold. Flags given on the command line win over it. */
export interface BenchConfigFile {
  preset?: string;
  tasks?: string[];
  models?: string[];
  seeds?: number[];
  backend?: string;
  out?: string;
  train?: Record<string, unknown>;
  task?: Record<string, unknown>;
  model?: Record<string, unknown>;
  /** Per-id sections: `{ "gla": { "chunkSize": 8 } }` under `models`/`tasks` keys is ambiguous, so they live here. */
  overrides?: Record<string, Record<string, unknown>>;
}

const KEYS: Record<keyof BenchConfigFile, string> = {
  preset: "string",
  tasks: "string[]",
  models: "string[]",
  seeds: "integer[]",
  backend: "string",
  out: "string",
  train: "mapping",
  task: "mapping",
  model: "mapping",
  overrides: "mapping of id to mapping",
};

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Reads and shape-checks a config file; every problem is one line naming the file and the key. */
export function readBenchConfigFile(path: string): BenchConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SelectivError(`--config: cannot read ${JSON.stringify(path)} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return parseBenchConfig(text, path);
}

/** Parses and shape-checks the text of a config file (JSON when `path` ends in .json, else YAML). */
export function parseBenchConfig(text: string, path: string): BenchConfigFile {
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new SelectivError(`--config ${path}: not valid ${/\.json$/i.test(path) ? "JSON" : "YAML"}: ${msg}`);
  }
  if (data === null || data === undefined) return {};
  if (!isMapping(data))
    throw new SelectivError(`--config ${path}: expected a mapping at the top level, got ${Array.isArray(data) ? "a list" : typeof data}`);
  for (const [key, value] of Object.entries(data)) {
    const expected = Object.hasOwn(KEYS, key) ? KEYS[key as keyof BenchConfigFile] : undefined;
    if (!expected)
      throw new SelectivError(`--config ${path}: unknown key ${JSON.stringify(key)}; allowed: ${Object.keys(KEYS).join(", ")}`);
    const ok =
      expected === "string"
        ? typeof value === "string"
        : expected === "string[]"
          ? Array.isArray(value) && value.every((x) => typeof x === "string")
          : expected === "integer[]"
            ? Array.isArray(value) && value.every((x) => Number.isInteger(x))
            : expected === "mapping"
              ? isMapping(value)
              : isMapping(value) && Object.values(value).every(isMapping);
    if (!ok) throw new SelectivError(`--config ${path}: key ${JSON.stringify(key)} got ${JSON.stringify(value)}; expected ${expected}`);
  }
  return data as BenchConfigFile;
}

/** The fields of a run folder's config.json (core's `RunConfigFile`) that rebuild its run. */
export type SavedRun = Pick<
  RunConfigFile,
  "task" | "model" | "seed" | "preset" | "taskConfig" | "modelConfig" | "training" | "backend" | "trainedIn" | "importedFrom"
>;

/**
 * The config.json of the run in `runDir`, shape-checked; `flag` names the argument in errors (`--resume`, `RUN_DIR`).
 */
export function readRunConfig(runDir: string, flag: string): SavedRun {
  const path = join(runDir, "config.json");
  let saved: Partial<Record<keyof SavedRun, unknown>>;
  try {
    saved = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SelectivError(
      `${flag}: ${code === "ENOENT" ? `no run folder with a config.json at ${JSON.stringify(runDir)}` : `cannot read ${JSON.stringify(path)} (${code ?? "invalid JSON"})`}`,
    );
  }
  const { task, model, seed, preset, taskConfig, modelConfig, training, backend, trainedIn, importedFrom } = saved ?? {};
  if (
    typeof task !== "string" ||
    typeof model !== "string" ||
    !Number.isInteger(seed) ||
    typeof preset !== "string" ||
    !isMapping(taskConfig) ||
    !isMapping(modelConfig) ||
    !isMapping(training) ||
    (backend !== undefined && typeof backend !== "string") ||
    (trainedIn !== undefined && typeof trainedIn !== "string") ||
    (importedFrom !== undefined && typeof importedFrom !== "string")
  ) {
    throw new SelectivError(
      `${flag}: ${JSON.stringify(path)} is not a selectiv run config (needs task, model, seed, preset, taskConfig, modelConfig, training)`,
    );
  }
  return saved as SavedRun;
}

/**
 * The request that re-creates the run in `runDir` from its config.json, so `bench run --resume RUN_DIR`
 * continues it (same settings → same run id → its checkpoint).
 */
export function readRunFolder(runDir: string): BenchConfigFile {
  const { task, model, seed, preset, taskConfig, modelConfig, training } = readRunConfig(runDir, "--resume");
  return {
    preset,
    tasks: [task],
    models: [model],
    seeds: [seed],
    out: dirname(resolve(runDir)),
    train: training,
    overrides: { [task]: taskConfig, [model]: modelConfig },
  };
}
