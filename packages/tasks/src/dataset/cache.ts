import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { SelectivError } from "@selectiv/core";
import { listingMismatch, writeListing } from "./listing.js";
import { commitOutFolder, openOutFolder } from "./out-folder.js";
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
  /** The files now in `out`, the listing (selectiv-files.json) included. */
  readonly files: string[];
}

export interface GenerateOptions {
  /** Replace the contents of a non-empty `out` that is not an earlier output of `data generate`. */
  readonly force?: boolean;
  /** Where a one-line warning goes (a damaged cache entry). Default: stderr. */
  readonly warn?: (line: string) => void;
}

/** Writes the dataset and, last, its listing into `dir`. */
function writeListedDataset(dir: string, request: DatasetRequest, key: string): void {
  writeListing(dir, writeDataset(dir, request, key), request, key);
}

/** Builds the cache entry in a temporary folder and renames it into place, so an entry that exists is complete. */
function buildEntry(entry: string, request: DatasetRequest, key: string): void {
  const building = `${entry}.building-${process.pid}-${Date.now()}`;
  try {
    writeListedDataset(building, request, key);
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

/**
 * Copies the cache entry of `key` into `staging`, building it first when missing, and checks the copies against the
 * entry's listing and the requested sample counts. A reused entry that fails the check (cut, altered, no listing)
 * costs one warning and is rebuilt; a fresh one that fails is an error. Returns whether an existing entry was used.
 */
function copyFromCache(entry: string, staging: string, request: DatasetRequest, key: string, warn: (line: string) => void): boolean {
  for (;;) {
    const reused = existsSync(entry);
    if (!reused) buildEntry(entry, request, key);
    for (const file of readdirSync(staging)) rmSync(join(staging, file), { recursive: true, force: true });
    let problem: string | undefined;
    try {
      cpSync(entry, staging, { recursive: true });
      problem = listingMismatch(staging, request, key);
    } catch (e) {
      problem = `cannot be copied (${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split("\n")[0]})`;
    }
    if (problem === undefined) return reused;
    if (!reused) throw new SelectivError(`cache entry ${entry}: ${problem} right after it was written; check the disk, or use --no-cache`);
    warn(`cache entry ${entry}: ${problem}; regenerating it`);
    rmSync(entry, { recursive: true, force: true });
  }
}

/**
 * Writes the dataset of `request` into `out`, replacing an earlier output there (see `openOutFolder`). The files are
 * made in a staging folder inside `out` and moved in at the end, so `out` never mixes two runs. With a cache folder
 * they are generated once into `<cacheDir>/datasets/<key>/` and copied from there; a later request with the same key
 * copies without generating, after checking the entry's files against its listing (sizes, line counts, sha256).
 */
export function generateDataset(
  request: DatasetRequest,
  out: string,
  cacheDir: string | undefined,
  options: GenerateOptions = {},
): CachedDataset {
  const key = datasetKey(request);
  const warn = options.warn ?? ((line: string) => process.stderr.write(`warning: ${line}\n`));
  const staging = openOutFolder(out, options.force ?? false, cacheDir);
  try {
    const cachePath = cacheDir === undefined ? undefined : join(cacheDir, "datasets", key);
    let reused = false;
    if (cachePath === undefined) writeListedDataset(staging, request, key);
    else reused = copyFromCache(cachePath, staging, request, key, warn);
    return { key, reused, cachePath, out, files: commitOutFolder(out, staging) };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
