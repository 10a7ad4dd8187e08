import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { SelectivError } from "@selectiv/core";
import { DATASET_FORMAT_VERSION, type DatasetRequest, writeDataset } from "./write.js";

/**
 * The cache folder: $SELECTIV_CACHE_DIR, else $XDG_CACHE_HOME/selectiv, else ~/.cache/selectiv. Datasets live in
 * `<cache>/datasets/<key>/`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SELECTIV_CACHE_DIR) return env.SELECTIV_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "selectiv");
}

/** JSON with object keys sorted at every level, so equal values give equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The cache key of a dataset: sha256 (first 32 hex digits) over everything its files are made from: the format
 * version, the task id, the format, the seed, the sample counts per split, the resolved task config, and the
 * instance's data identity (the grammar's source, including the digest of any files it was read from, and the time
 * axis of each split as the generator applies it). The files record the config, so a field that changes no sample
 * (trainSize beyond the samples written) still changes the key: a cache hit then always gives the bytes a fresh run
 * would write, and such a miss costs only a regeneration.
 */
export function datasetKey(request: DatasetRequest): string {
  const material = {
    version: DATASET_FORMAT_VERSION,
    task: request.task,
    format: request.format,
    seed: request.seed,
    splits: request.splits,
    config: request.config,
    identity: request.instance.identity,
  };
  return createHash("sha256").update(canonicalJson(material)).digest("hex").slice(0, 32);
}

export interface CachedDataset {
  readonly key: string;
  /** True when the files came from an earlier run's cache entry. */
  readonly reused: boolean;
  /** The cache entry, or undefined when the cache was bypassed. */
  readonly cachePath: string | undefined;
  readonly out: string;
  readonly files: string[];
}

/**
 * Writes the dataset of `request` into `out`. With a cache folder, the files are generated once into
 * `<cacheDir>/datasets/<key>/` (built in a temporary folder and renamed, so an entry is always complete) and copied
 * from there; a later request with the same key copies without generating. Without one, they are written to `out`.
 */
export function generateDataset(request: DatasetRequest, out: string, cacheDir: string | undefined): CachedDataset {
  const key = datasetKey(request);
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new SelectivError(`--out: cannot create ${JSON.stringify(out)} (${(e as Error).message.split("\n")[0]})`);
  }
  if (cacheDir === undefined) return { key, reused: false, cachePath: undefined, out, files: writeDataset(out, request, key).sort() };

  const entry = join(cacheDir, "datasets", key);
  const reused = existsSync(entry);
  if (!reused) {
    const building = `${entry}.building-${process.pid}-${Date.now()}`;
    try {
      writeDataset(building, request, key);
      renameSync(building, entry);
    } catch (e) {
      rmSync(building, { recursive: true, force: true });
      // Another process finished the same entry first: use it.
      if (!existsSync(entry)) {
        if (e instanceof SelectivError) throw e;
        throw new SelectivError(`--cache: cannot write ${JSON.stringify(entry)} (${(e as Error).message.split("\n")[0]})`);
      }
    }
  }
  const files = readdirSync(entry).sort();
  for (const file of files) copyFileSync(join(entry, file), join(out, file));
  return { key, reused, cachePath: entry, out, files };
}
