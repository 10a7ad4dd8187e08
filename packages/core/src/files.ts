import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { SelectivError } from "./errors.js";

/** Writes a file so that readers see the old or the new content, never a part: temp file, then rename. */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    // A full disk must not leave a half-written temp file behind to fail the next attempt too.
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Checks that `dir` can be created and written, else a one-line error naming the flag. */
export function ensureWritableDir(dir: string, flag = "--out"): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.write-probe-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new SelectivError(`${flag}: cannot write to ${JSON.stringify(dir)} (${code}); give a folder you can write to`);
  }
}

/** Whether a process with this pid runs on this machine (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A temp file lives for one write (well under a minute); older ones of dead writers are leftovers of a crash. */
const TEMP_FILE_AGE_MS = 60_000;

/**
 * Removes the `*.tmp-<pid>` leftovers of writers that died mid-write, in `dir` and its immediate subfolders (run
 * folders). A file is left alone while its writer lives here and younger than an hour (on a folder shared by
 * several hosts a pid may belong to another machine, so age decides there).
 */
export function removeStaleTempFiles(dir: string): number {
  let removed = 0;
  const now = Date.now();
  const visit = (folder: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(folder, e.name);
      if (e.isDirectory()) {
        if (depth > 0 && !e.name.startsWith(".")) visit(path, depth - 1);
        continue;
      }
      const m = /\.tmp-(\d+)$/.exec(e.name);
      if (!m) continue;
      try {
        const age = now - statSync(path).mtimeMs;
        const pid = Number(m[1]);
        if (age > 60 * TEMP_FILE_AGE_MS || (age > TEMP_FILE_AGE_MS && pid !== process.pid && !processAlive(pid))) {
          rmSync(path, { force: true });
          removed++;
        }
      } catch {
        continue;
      }
    }
  };
  visit(dir, 1);
  return removed;
}

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 120_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `work` while holding `lockPath` (created exclusively; other processes wait). A lock is held for one short
 * critical section, so one older than LOCK_STALE_MS belongs to a writer that died and is broken.
 */
export function withFileLock<T>(lockPath: string, work: () => T): T {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(lockPath, "wx");
      writeFileSync(fd, `${hostname()} ${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      try {
        if (Date.now() - statSync(lockPath).mtimeMs > LOCK_STALE_MS) rmSync(lockPath, { force: true });
      } catch {
        // Released between the two calls: try again.
      }
      if (Date.now() > deadline) {
        throw new SelectivError(
          `${lockPath}: held by another process for over ${LOCK_WAIT_MS / 1000} s; remove it if no selectiv process is writing there`,
        );
      }
      sleepSync(10 + Math.random() * 40);
    }
  }
  try {
    return work();
  } finally {
    rmSync(lockPath, { force: true });
  }
}
