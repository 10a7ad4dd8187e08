import { mkdirSync, renameSync, writeFileSync, rmSync, accessSync, constants } from "node:fs";
import { dirname, join } from "node:path";
import { SelectivError } from "./errors.js";

/** Writes a file so that readers see the old or the new content, never a part: temp file, then rename. */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
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
