import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "@selectiv/core";
import { DATASET_FORMAT_VERSION, requestedSplits, splitFileName, type DatasetRequest } from "./write.js";

/**
 * The file `data generate` writes last into a cache entry and into `--out`: what was asked for and every file with
 * its size, line count and sha256. A folder holding a valid one is selectiv's own output (safe to replace), and a
 * cache entry is reused only while its files still match it.
 */
export const LISTING_FILE = "selectiv-files.json";
const WRITER = "selectiv data generate";

/** One file of a dataset as written. */
export interface ListedFile {
  readonly name: string;
  readonly bytes: number;
  /** Newline characters: the sample count of a train/test file. */
  readonly lines: number;
  readonly sha256: string;
}

export interface DatasetListing {
  readonly writer: typeof WRITER;
  readonly version: number;
  readonly key: string;
  readonly task: string;
  readonly seed: number;
  readonly format: DatasetRequest["format"];
  readonly splits: DatasetRequest["splits"];
  readonly config: DatasetRequest["config"];
  readonly files: readonly ListedFile[];
}

const READ_CHUNK = 1 << 20;

/** Size, newline count and sha256 of a file, read 1 MiB at a time (dataset files reach hundreds of MB). */
export function describeFile(dir: string, name: string): ListedFile {
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(READ_CHUNK);
  const fd = openSync(join(dir, name), "r");
  let bytes = 0;
  let lines = 0;
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) {
      const chunk = buffer.subarray(0, n);
      hash.update(chunk);
      bytes += n;
      for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lines++;
    }
  } finally {
    closeSync(fd);
  }
  return { name, bytes, lines, sha256: hash.digest("hex") };
}

/** Describes `files` of `dir` and writes the listing last (atomically): its presence means the folder is complete. */
export function writeListing(dir: string, files: readonly string[], request: DatasetRequest, key: string): void {
  const listing: DatasetListing = {
    writer: WRITER,
    version: DATASET_FORMAT_VERSION,
    key,
    task: request.task,
    seed: request.seed,
    format: request.format,
    splits: request.splits,
    config: request.config,
    files: [...files].sort().map((name) => describeFile(dir, name)),
  };
  writeJsonAtomic(join(dir, LISTING_FILE), listing);
}

/** The listing of `dir`, or undefined when it has none or one that is not ours (unreadable, another writer). */
export function readListing(dir: string): DatasetListing | undefined {
  const path = join(dir, LISTING_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const listing = JSON.parse(readFileSync(path, "utf8")) as Partial<DatasetListing>;
    const wellFormed = listing.writer === WRITER && Array.isArray(listing.files) && listing.files.every((f) => typeof f?.name === "string");
    return wellFormed ? (listing as DatasetListing) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The first way the files of `dir` differ from what `request` asks for and the listing records, as a phrase naming
 * the file ("train.jsonl: 21 lines; expected 64 samples"), or undefined when all match: the listing is ours and of
 * this key, every listed file has its size and digest, and each split's file holds one line per requested sample.
 */
export function listingMismatch(dir: string, request: DatasetRequest, key: string): string | undefined {
  const listing = readListing(dir);
  if (!listing) return `no valid ${LISTING_FILE}`;
  if (listing.key !== key) return `${LISTING_FILE} is of key ${listing.key}; expected ${key}`;
  const listed = new Map(listing.files.map((f) => [f.name, f]));
  for (const [split, count] of requestedSplits(request)) {
    const name = splitFileName(request.format, split);
    if (listed.get(name)?.lines !== count) return `${LISTING_FILE} does not record ${name} with ${count} samples`;
  }
  for (const expected of listing.files) {
    if (!existsSync(join(dir, expected.name))) return `${expected.name} is missing`;
    const found = describeFile(dir, expected.name);
    if (found.lines !== expected.lines) return `${expected.name}: ${found.lines} lines; expected ${expected.lines}`;
    if (found.bytes !== expected.bytes) return `${expected.name}: ${found.bytes} bytes; expected ${expected.bytes}`;
    if (found.sha256 !== expected.sha256)
      return `${expected.name}: sha256 ${found.sha256.slice(0, 12)}…; expected ${expected.sha256.slice(0, 12)}…`;
  }
  return undefined;
}

/** True when every entry of `dir` is its listing, a file the listing names, or one that `isOurs` accepts (staging folders). */
export function isListedOutput(dir: string, isOurs: (entry: string) => boolean): boolean {
  const listing = readListing(dir);
  if (!listing) return false;
  const names = new Set([LISTING_FILE, ...listing.files.map((f) => f.name)]);
  return readdirSync(dir).every((entry) => names.has(entry) || isOurs(entry));
}
