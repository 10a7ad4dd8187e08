// Shared files stay whole: leftover temp files of dead writers are removed, and the results index is rebuilt
// under a lock so that concurrent writers never drop each other's rows.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { removeStaleTempFiles } from "./files.js";
import { readResults } from "./results.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "selectiv-files-"));

function result(task: string, seed: number): object {
  return { status: "completed", task, model: "gla", seed, preset: "smoke", backend: "wasm", testAccuracy: 0.5, params: 1 };
}

describe("temp files", () => {
  it("removes a dead writer's leftovers, keeps a live writer's fresh file and other files", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "run-a"));
    const old = Date.now() / 1000 - 3600 * 2;
    const dead = [join(dir, "results.csv.tmp-999999"), join(dir, "run-a", "checkpoint.bin.tmp-999998")];
    const live = join(dir, "run-a", `metrics.jsonl.tmp-${process.pid}`);
    const keep = join(dir, "run-a", "result.json");
    for (const p of [...dead, live, keep]) writeFileSync(p, "x");
    for (const p of dead) utimesSync(p, old, old);
    expect(removeStaleTempFiles(dir)).toBe(2);
    for (const p of dead) expect(existsSync(p)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(keep)).toBe(true);
  });
});

describe("results index", () => {
  it("leaves out result.json files that are not results, with one warning line each", () => {
    const dir = tempDir();
    const put = (name: string, text: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, "result.json"), text);
    };
    put("good", JSON.stringify(result("task1", 1)));
    put("null", "null");
    put("empty", "{}");
    put("cut", '{"status": "compl');
    const warnings: string[] = [];
    const rows = readResults(dir, (line) => warnings.push(line));
    expect(rows.map((r) => r.task)).toEqual(["task1"]);
    expect(warnings).toHaveLength(3);
    for (const w of warnings) expect(w).not.toContain("\n");
    expect(warnings.join(" ")).toMatch(/null.*result\.json|empty.*result\.json|cut.*result\.json/);
  });

  it("four processes finishing runs at once: every row is in results.csv", async () => {
    const dir = tempDir();
    // Many finished runs make each rebuild slow enough that, without the lock, writers overlap.
    for (let i = 0; i < 400; i++) {
      mkdirSync(join(dir, `old-${i}`));
      writeFileSync(join(dir, `old-${i}`, "result.json"), JSON.stringify(result("task2", i)));
    }
    const core = new URL("./index.ts", import.meta.url).href;
    // Each writer adds 10 results one by one, rewriting the index after each, as runBenchmark does.
    const script = `
      const { writeResultsIndex } = await import(${JSON.stringify(core.replace(/\.ts$/, ".js").replace("/src/", "/dist/"))});
      const { mkdirSync, writeFileSync } = await import("node:fs");
      const [dir, who] = process.argv.slice(1);
      for (let i = 0; i < 10; i++) {
        const run = dir + "/run-" + who + "-" + i;
        mkdirSync(run);
        writeFileSync(run + "/result.json", JSON.stringify(${JSON.stringify(result("task1", 0))}));
        writeResultsIndex(dir, () => {});
      }`;
    const writers = ["a", "b", "c", "d"].map(
      (who) =>
        new Promise<number>((done) => {
          const p = spawn(process.execPath, ["--input-type=module", "-e", script, dir, who], { stdio: "inherit" });
          p.on("exit", (code) => done(code ?? 1));
        }),
    );
    expect(await Promise.all(writers)).toEqual([0, 0, 0, 0]);
    const csv = readFileSync(join(dir, "results.csv"), "utf8").trim().split("\n");
    expect(csv).toHaveLength(1 + 400 + 40);
    expect(existsSync(join(dir, ".results.lock"))).toBe(false);
  });
});
