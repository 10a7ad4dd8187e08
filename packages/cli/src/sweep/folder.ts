import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { type RunResult, SelectivError, ensureWritableDir, hashSeed, processAlive, writeJsonAtomic } from "@selectiv/core";
import type { SweepRun, SweepSource } from "./source.js";

/**
 * A sweep folder: run folders `<runId>/` exactly as `bench run` writes them (so results are shared with it),
 * plus `sweep.json` (the sweep's runs) and `.sweep/` (coordination between workers, on one machine or many):
 *
 *   .sweep/claims/<runId>.<gen>   who is training a run now (host, pid, heartbeat = mtime)
 *   .sweep/done/<runId>.json      the completion record, created exclusively: a run completes exactly once
 *   .sweep/failed/<runId>.json    the last failure of a run not done
 *   .sweep/events.jsonl           started / completed / already-completed / failed / took-over, one line each
 */

export const MANIFEST = "sweep.json";
/** A claim from another host whose heartbeat is older than this is stale (workers touch claims every 5 s). */
export const CLAIM_STALE_MS = 30_000;
export const HEARTBEAT_MS = 5_000;

export interface SweepManifest {
  version: 1;
  /** Stable id of the sweep folder (BullMQ job ids are `<id>.<runId>`). */
  id: string;
  name: string;
  file: string;
  format: SweepSource["format"];
  method: SweepSource["method"];
  createdAt: string;
  updatedAt: string;
  runs: SweepRun[];
}

/** Who holds a claim or completed a run. */
export interface Holder {
  host: string;
  pid: number;
  executor: "local" | "bullmq";
  /** The process that trains (a child of `pid`). */
  childPid?: number;
}

export interface Claim {
  runId: string;
  gen: number;
  path: string;
  holder: Holder;
  startedAt: string;
  /** The claim replaced one whose holder was gone (or, under BullMQ, whose job lock had expired). */
  tookOver?: Holder;
}

export interface CompletionRecord {
  runId: string;
  holder: Holder;
  startedAt: string;
  finishedAt: string;
  status: RunResult["status"];
  testAccuracy: number | null;
}

export interface FailureRecord {
  runId: string;
  holder: Holder;
  at: string;
  error: string;
}

export type RunState = "done" | "running" | "failed" | "queued";

export interface RunStatus {
  run: SweepRun;
  state: RunState;
  holder?: Holder;
  error?: string;
}

export function thisHolder(executor: Holder["executor"], childPid?: number): Holder {
  return { host: hostname(), pid: process.pid, executor, ...(childPid === undefined ? {} : { childPid }) };
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export class SweepFolder {
  constructor(readonly dir: string) {}

  private control(...parts: string[]): string {
    return join(this.dir, ".sweep", ...parts);
  }

  ensure(flag = "--out"): void {
    ensureWritableDir(this.dir, flag);
    for (const sub of ["claims", "done", "failed"]) mkdirSync(this.control(sub), { recursive: true });
  }

  readManifest(): SweepManifest | undefined {
    const m = readJson<SweepManifest>(join(this.dir, MANIFEST));
    return m && m.version === 1 && Array.isArray(m.runs) ? m : undefined;
  }

  /** The manifest, or a one-line error when the folder holds no sweep. */
  requireManifest(): SweepManifest {
    const m = this.readManifest();
    if (!m)
      throw new SelectivError(
        `${JSON.stringify(this.dir)} is not a sweep folder (no readable ${MANIFEST}); start one with selectiv sweep run`,
      );
    return m;
  }

  /**
   * Records the runs of a sweep. A folder may be swept again (with more runs, or another file): runs already
   * listed keep their place, new ones are appended, and the folder keeps its id.
   */
  writeManifest(source: SweepSource, runs: readonly SweepRun[]): SweepManifest {
    const now = new Date().toISOString();
    const previous = this.readManifest();
    const known = new Set(previous?.runs.map((r) => r.id));
    const manifest: SweepManifest = {
      version: 1,
      id: previous?.id ?? `${source.name}-${hashSeed(this.dir, now, process.pid).toString(16).padStart(8, "0")}`,
      name: source.name,
      file: source.file,
      format: source.format,
      method: source.method,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
      runs: [...(previous?.runs ?? []), ...runs.filter((r) => !known.has(r.id))],
    };
    writeJsonAtomic(join(this.dir, MANIFEST), manifest);
    return manifest;
  }

  /** Recorded as done here, or a finished run folder brought in from elsewhere (ids are settings digests). */
  isDone(runId: string): boolean {
    return existsSync(this.control("done", `${runId}.json`)) || existsSync(join(this.dir, runId, "result.json"));
  }

  completion(runId: string): CompletionRecord | undefined {
    return readJson<CompletionRecord>(this.control("done", `${runId}.json`));
  }

  failure(runId: string): FailureRecord | undefined {
    return readJson<FailureRecord>(this.control("failed", `${runId}.json`));
  }

  /**
   * Writes the completion record with an exclusive create: the first finisher records the run, any later one
   * (a worker whose job was taken over but finished anyway) gets "already-completed" and records nothing.
   */
  recordCompletion(claim: Claim, result: RunResult): "completed" | "already-completed" {
    const record: CompletionRecord = {
      runId: claim.runId,
      holder: claim.holder,
      startedAt: claim.startedAt,
      finishedAt: new Date().toISOString(),
      status: result.status,
      testAccuracy: Number.isFinite(result.testAccuracy) ? result.testAccuracy : null,
    };
    try {
      writeFileSync(this.control("done", `${claim.runId}.json`), `${JSON.stringify(record, null, 2)}\n`, { flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      this.event("already-completed", claim.runId, claim.holder);
      return "already-completed";
    }
    rmSync(this.control("failed", `${claim.runId}.json`), { force: true });
    this.event("completed", claim.runId, claim.holder, { testAccuracy: record.testAccuracy });
    return "completed";
  }

  recordFailure(runId: string, holder: Holder, error: string): void {
    const record: FailureRecord = { runId, holder, at: new Date().toISOString(), error };
    writeJsonAtomic(this.control("failed", `${runId}.json`), record);
    this.event("failed", runId, holder, { error });
  }

  /** One line per event; appends of one short line are atomic, so workers on several machines may share it. */
  event(event: string, runId: string, holder: Holder, extra: Record<string, unknown> = {}): void {
    appendFileSync(
      this.control("events.jsonl"),
      `${JSON.stringify({ at: new Date().toISOString(), event, runId, ...holder, ...extra })}\n`,
    );
  }

  private claimFiles(runId?: string): Map<string, number[]> {
    const byRun = new Map<string, number[]>();
    let names: string[] = [];
    try {
      names = readdirSync(this.control("claims"));
    } catch {
      return byRun;
    }
    for (const name of names) {
      const dot = name.lastIndexOf(".");
      const id = name.slice(0, dot);
      const gen = Number(name.slice(dot + 1));
      if (dot < 0 || !Number.isInteger(gen) || (runId !== undefined && id !== runId)) continue;
      byRun.set(id, [...(byRun.get(id) ?? []), gen]);
    }
    return byRun;
  }

  /** The current (highest-generation) claim on a run, and whether its holder is alive. */
  currentClaim(runId: string, gens?: number[]): { claim: Claim; live: boolean } | undefined {
    const list = gens ?? this.claimFiles(runId).get(runId);
    if (!list?.length) return undefined;
    const gen = Math.max(...list);
    const path = this.control("claims", `${runId}.${gen}`);
    let mtime: number;
    try {
      mtime = statSync(path).mtimeMs;
    } catch {
      return undefined;
    }
    const claim = readJson<Claim>(path);
    const fresh = Date.now() - mtime < CLAIM_STALE_MS;
    // A claim being written (empty for an instant) counts as live while fresh.
    if (!claim) return { claim: { runId, gen, path, holder: { host: "?", pid: 0, executor: "local" }, startedAt: "" }, live: fresh };
    const live = claim.holder.host === hostname() ? processAlive(claim.holder.pid) : fresh;
    return { claim: { ...claim, path, gen }, live };
  }

  /**
   * Claims a run for `holder`: creates `<runId>.<gen+1>` exclusively, so of two workers that race for the same
   * run exactly one wins. Without `force`, a live claim (holder's pid alive on this host, or a fresh heartbeat
   * from another host) is respected and undefined returned. With `force` (BullMQ, whose job lock already says
   * the previous holder lost the run) the previous claim is replaced whatever its state.
   */
  claim(runId: string, holder: Holder, force = false): Claim | undefined {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = this.currentClaim(runId);
      if (current?.live && !force) return undefined;
      const gen = (current?.claim.gen ?? 0) + 1;
      const claim: Claim = {
        runId,
        gen,
        path: this.control("claims", `${runId}.${gen}`),
        holder,
        startedAt: new Date().toISOString(),
        ...(current ? { tookOver: current.claim.holder } : {}),
      };
      try {
        writeFileSync(claim.path, JSON.stringify({ runId, gen, holder, startedAt: claim.startedAt, tookOver: claim.tookOver }), {
          flag: "wx",
        });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        if (!force) return undefined;
        continue;
      }
      if (current) {
        for (let g = 1; g < gen; g++) rmSync(this.control("claims", `${runId}.${g}`), { force: true });
        this.event("took-over", runId, holder, { from: current.claim.holder });
      }
      return claim;
    }
    throw new Error(`could not claim run ${runId}: claim files keep changing`);
  }

  /** Records the process that trains the claimed run (shown by `sweep status`). */
  updateClaim(claim: Claim): void {
    writeFileSync(
      claim.path,
      JSON.stringify({ runId: claim.runId, gen: claim.gen, holder: claim.holder, startedAt: claim.startedAt, tookOver: claim.tookOver }),
    );
  }

  heartbeat(claims: Iterable<Claim>): void {
    const now = new Date();
    for (const c of claims) {
      try {
        utimesSync(c.path, now, now);
      } catch {
        // Taken over and removed by another worker: that worker owns the run now.
      }
    }
  }

  release(claim: Claim): void {
    rmSync(claim.path, { force: true });
  }

  /** done / running / failed / queued for every run of the manifest. */
  status(manifest: SweepManifest): RunStatus[] {
    const claims = this.claimFiles();
    const done = new Set(safeList(this.control("done")).map((n) => n.replace(/\.json$/, "")));
    const failed = new Set(safeList(this.control("failed")).map((n) => n.replace(/\.json$/, "")));
    return manifest.runs.map((run): RunStatus => {
      if (done.has(run.id) || existsSync(join(this.dir, run.id, "result.json"))) return { run, state: "done" };
      const gens = claims.get(run.id);
      const current = gens ? this.currentClaim(run.id, gens) : undefined;
      if (current?.live) return { run, state: "running", holder: current.claim.holder };
      if (failed.has(run.id)) return { run, state: "failed", error: this.failure(run.id)?.error };
      return { run, state: "queued" };
    });
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function countStates(statuses: readonly RunStatus[]): Record<RunState, number> & { total: number } {
  const counts = { done: 0, running: 0, failed: 0, queued: 0, total: statuses.length };
  for (const s of statuses) counts[s.state]++;
  return counts;
}
