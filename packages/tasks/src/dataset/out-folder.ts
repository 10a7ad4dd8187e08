import { mkdirSync, readdirSync, renameSync, rmSync, rmdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative } from "node:path";
import { SelectivError } from "@selectiv/core";
import { LISTING_FILE, isListedOutput } from "./listing.js";

/** Staging folders inside `--out`: `.selectiv-staging-<pid>-<time>`. */
const STAGING_PREFIX = ".selectiv-staging-";

function isStaging(entry: string): boolean {
  return entry.startsWith(STAGING_PREFIX);
}

/** A staging folder of a process still running (this one, or a concurrent `data generate` into the same folder). */
function isLiveStaging(entry: string): boolean {
  const pid = /^\.selectiv-staging-(\d+)-/.exec(entry)?.[1];
  if (pid === undefined) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when `inner` is `outer` or lies below it. */
function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

function writeError(out: string, e: unknown): SelectivError {
  const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message.split("\n")[0];
  return new SelectivError(`--out: cannot write ${JSON.stringify(out)} (${why}); give a folder you can write to`);
}

/**
 * Checks that `out` may receive a dataset and returns a fresh staging folder inside it (same file system, so the
 * files can be renamed into place). `out` may be missing, empty (stale staging folders aside), or an earlier output
 * of `data generate` (its listing names every file in it); anything else is refused unless `force`, which replaces
 * the folder's contents. `cacheDir` must not lie inside it (its contents are replaced).
 */
export function openOutFolder(out: string, force: boolean, cacheDir: string | undefined): string {
  let entries: string[];
  try {
    mkdirSync(out, { recursive: true });
    entries = readdirSync(out).filter((entry) => !isStaging(entry));
  } catch (e) {
    throw writeError(out, e);
  }
  if (entries.length > 0 && !force && !isListedOutput(out, isStaging)) {
    const shown = entries.sort().slice(0, 3).join(", ") + (entries.length > 3 ? `, … (${entries.length} entries)` : "");
    throw new SelectivError(
      `--out: ${JSON.stringify(out)} holds ${shown} and is not an earlier output of data generate (no ${LISTING_FILE} listing them); give an empty or new folder, or pass --force to replace its contents`,
    );
  }
  if (cacheDir !== undefined && isWithin(cacheDir, out)) {
    throw new SelectivError(
      `--cache: ${JSON.stringify(cacheDir)} lies inside --out ${JSON.stringify(out)}, whose contents are replaced; give a cache folder outside it`,
    );
  }
  if (force && (out === dirname(out) || out === homedir())) {
    throw new SelectivError(
      `--force: will not replace the contents of ${JSON.stringify(out)} (the root or the home folder); give a folder of its own`,
    );
  }
  const staging = join(out, `${STAGING_PREFIX}${process.pid}-${Date.now()}`);
  try {
    mkdirSync(staging);
  } catch (e) {
    throw writeError(out, e);
  }
  return staging;
}

/**
 * Replaces the contents of `out` by the files of `staging`, so no file of an earlier run remains beside the new
 * ones: the old listing goes first (a crash part-way leaves a folder that is not taken for complete output), then
 * every other old entry, then the new files, the listing last. Returns the names now in `out`, sorted.
 */
export function commitOutFolder(out: string, staging: string): string[] {
  try {
    rmSync(join(out, LISTING_FILE), { force: true });
    for (const entry of readdirSync(out)) if (!isLiveStaging(entry)) rmSync(join(out, entry), { recursive: true, force: true });
    const files = readdirSync(staging).sort();
    for (const file of files.filter((f) => f !== LISTING_FILE)) renameSync(join(staging, file), join(out, file));
    renameSync(join(staging, LISTING_FILE), join(out, LISTING_FILE));
    rmdirSync(staging);
    return files;
  } catch (e) {
    throw writeError(out, e);
  }
}
