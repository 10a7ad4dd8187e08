#!/usr/bin/env node
// `pnpm bench NAME [args]` runs benchmarks/NAME.mjs. Benchmarks import the built packages (run `pnpm build` first).
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith(".mjs") && f !== "run.mjs" && !f.startsWith("_")) // _*.mjs are shared helpers
  .map((f) => f.slice(0, -4));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`pnpm bench: got ${JSON.stringify(name ?? "")}; expected one of ${available.join(", ")}`);
  process.exit(2);
}
if (!existsSync(join(here, "..", "packages", "core", "dist", "index.js"))) {
  console.error("pnpm bench: the packages are not built; run `pnpm build` first");
  process.exit(2);
}
process.argv.splice(2, 1);
const mod = await import(pathToFileURL(join(here, `${name}.mjs`)).href);
// A benchmark module exports main(argv) (or run()) and runs by itself only when executed directly.
if (typeof mod.main === "function") await mod.main(process.argv.slice(2));
else if (typeof mod.run === "function") await mod.run();
