// Training-step time (forward + backward + Adam) per model, shape and backend.
//   pnpm bench models [--backends wasm,cpu] [--shapes quick,paper] [--models gla,mamba] [--steps 3] [--warmup 1]
//                     [--batch N] [--json FILE]
// The step is core's trainingStep (the trainer's): passes of automatic micro-batches, clipping, Adam.
// --batch overrides the shape's batch size (the cpu backend needs minutes per paper-shape sample batch).
// Shapes: quick = the quick preset (Task 1, 4×4 grammar, 64 symbols, batch 32, width 64, 2 layers);
// paper = the paper's Task 1 (batch 64, 200 symbols + 1-step gaps = 400 steps, width 256, 8 layers, 1601 classes).
// Each backend runs in its own child process (a TF.js process has one backend).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SHAPES, buildAtShape, jsonLines, loadSelectiv, printTable, timeTrainingSteps } from "./_lib.mjs";

function parse(argv) {
  const opts = { backends: ["wasm", "cpu"], shapes: ["quick", "paper"], models: [], steps: 3, warmup: 1, batch: 0, json: "", child: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--child") opts.child = true;
    else if (["--backends", "--shapes", "--models"].includes(flag) && value !== undefined) {
      opts[flag.slice(2)] = value.split(",").filter(Boolean);
      i++;
    } else if (["--steps", "--warmup", "--batch"].includes(flag) && value !== undefined && /^\d+$/.test(value)) {
      opts[flag.slice(2)] = Number(value);
      i++;
    } else if (flag === "--json" && value !== undefined) {
      opts.json = value;
      i++;
    } else {
      console.error(
        `pnpm bench models: unknown argument ${JSON.stringify(flag)}; allowed: --backends LIST, --shapes LIST, --models LIST, --steps N, --warmup N, --batch N, --json FILE`,
      );
      process.exit(2);
    }
  }
  for (const s of opts.shapes) {
    if (!SHAPES[s]) {
      console.error(`pnpm bench models: --shapes: got ${JSON.stringify(s)}; expected quick or paper`);
      process.exit(2);
    }
  }
  return opts;
}

async function child(opts) {
  const selectiv = await loadSelectiv(opts.backends[0]);
  const { core, backend } = selectiv;
  const ids = opts.models.length ? opts.models : selectiv.modelIds;
  for (const shapeName of opts.shapes) {
    for (const id of ids) {
      const built = buildAtShape(selectiv, id, shapeName, opts.batch > 0 ? { batchSize: opts.batch } : {});
      const timed = await timeTrainingSteps(core, built, opts);
      const row = {
        model: id,
        shape: shapeName,
        backend: backend.name,
        batch: timed.batch,
        steps: timed.steps,
        width: built.training.width,
        layers: built.training.layers,
        params: built.net.parameterCount,
        microBatch: timed.microBatch,
        stepMs: timed.stepMs,
      };
      process.stdout.write(`${JSON.stringify(row)}\n`);
      process.stderr.write(`  ${id} ${shapeName} ${backend.name}: ${row.stepMs.toFixed(0)} ms\n`);
      built.net.dispose();
    }
  }
}

export async function main(argv) {
  const opts = parse(argv);
  if (opts.child) return child(opts);
  const rows = [];
  const self = fileURLToPath(import.meta.url);
  for (const backend of opts.backends) {
    const args = [self, "--child", "--backends", backend, "--shapes", opts.shapes.join(","), "--steps", String(opts.steps)];
    args.push("--warmup", String(opts.warmup), "--batch", String(opts.batch));
    if (opts.models.length) args.push("--models", opts.models.join(","));
    console.error(`bench models: ${backend} …`);
    const r = spawnSync(process.execPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    rows.push(...jsonLines(r.stdout));
    if (r.status !== 0) console.error(`bench models: the ${backend} child exited with ${r.status}`);
  }
  if (opts.json) writeFileSync(opts.json, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  printTable(
    ["model", "shape", "backend", "B×T", "width×layers", "params", "pass", "step ms"],
    rows.map((r) => [
      r.model,
      r.shape,
      r.backend,
      `${r.batch}×${r.steps}`,
      `${r.width}×${r.layers}`,
      r.params.toLocaleString("en-US"),
      r.microBatch,
      r.stepMs.toFixed(0),
    ]),
    [5, 6, 7],
  );
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main(process.argv.slice(2));
