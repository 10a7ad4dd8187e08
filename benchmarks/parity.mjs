// Same seed, same losses on every backend: trains each model for a few steps on two backends and compares.
//   pnpm bench parity [--backends cpu,webgpu] [--models gla,mamba] [--steps 10] [--tolerance 1e-4] [--split N]
//                     [--json FILE]
// --split N runs each backend's models in N children at once (for machines with cores to spare).
// Shape: the quick preset's task (Task 1, 4×4 grammar) at width 32, 2 layers, batch 16. Each backend runs in its
// own child process (a TF.js process has one backend); exit status 1 when a model's loss differs by more than the
// tolerance (relative, at the last step) or a backend fails.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildAtShape, jsonLines, loadSelectiv, printTable } from "./_lib.mjs";

const TRAIN = { width: 32, layers: 2, batchSize: 16 };

function parse(argv) {
  const opts = { backends: ["cpu", "webgpu"], models: [], steps: 10, tolerance: 1e-4, split: 1, json: "", child: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--child") opts.child = true;
    else if ((flag === "--backends" || flag === "--models") && value !== undefined) opts[flag.slice(2)] = value.split(",").filter(Boolean);
    else if ((flag === "--steps" || flag === "--split") && /^\d+$/.test(value ?? "")) opts[flag.slice(2)] = Math.max(1, Number(value));
    else if (flag === "--tolerance" && Number(value) > 0) opts.tolerance = Number(value);
    else if (flag === "--json" && value !== undefined) opts.json = value;
    else {
      console.error(
        `pnpm bench parity: unknown argument ${JSON.stringify(flag)}; allowed: --backends LIST, --models LIST, --steps N, --tolerance X, --split N, --json FILE`,
      );
      process.exit(2);
    }
    if (flag !== "--child") i++;
  }
  return opts;
}

async function child(opts) {
  const selectiv = await loadSelectiv(opts.backends[0]);
  const { core, backend } = selectiv;
  for (const id of opts.models.length ? opts.models : selectiv.modelIds) {
    const t0 = performance.now();
    const losses = [];
    let error;
    try {
      const { net, task, training } = buildAtShape(selectiv, id, "quick", TRAIN);
      const variables = new Map(net.store.entries());
      const adam = new core.Adam();
      for (let step = 0; step < opts.steps; step++) {
        const batch = task.batch("train", step * training.batchSize, training.batchSize);
        const lr = core.learningRateAt(step, training.lr, training.warmupSteps, opts.steps);
        const r = await core.trainingStep(net, adam, variables, batch, { seed: 1, step, lr, clipNorm: training.clipNorm, microBatch: 0 });
        losses.push(r.loss);
      }
      adam.dispose();
      net.dispose();
    } catch (e) {
      // One model's failure (a program the GPU rejects, …) is that model's row; the others still run.
      error = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    }
    const row = { model: id, backend: backend.name, losses, ms: performance.now() - t0, ...(error ? { error } : {}) };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    process.stderr.write(
      `  ${id} ${backend.name}: ${error ? `FAILED: ${error}` : `loss ${losses.at(-1).toFixed(6)}`} (${(row.ms / 1000).toFixed(1)} s)\n`,
    );
  }
}

export async function main(argv) {
  const opts = parse(argv);
  if (opts.child) return child(opts);
  const self = fileURLToPath(import.meta.url);
  const byBackend = new Map();
  let failed = false;
  // The backends' children (and --split groups of models) run at once; each is single-threaded on CPU backends.
  const ids = opts.models.length ? opts.models : (await loadSelectiv("cpu")).modelIds;
  const groups = Array.from({ length: Math.min(opts.split, ids.length) }, (_, g) => ids.filter((_, i) => i % opts.split === g));
  const jobs = opts.backends.flatMap((backend) => groups.map((models) => ({ backend, models })));
  const results = await Promise.all(
    jobs.map(({ backend, models }) => {
      const args = [self, "--child", "--backends", backend, "--steps", String(opts.steps), "--models", models.join(",")];
      console.error(`bench parity: ${backend} ${models.join(",")} …`);
      return new Promise((resolve) => {
        const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.on("close", (status) => resolve({ backend, status, out }));
      });
    }),
  );
  for (const { backend, status, out } of results) {
    const seen = byBackend.get(backend) ?? new Map();
    for (const row of jsonLines(out)) seen.set(row.model, row);
    byBackend.set(backend, seen);
    if (status !== 0) {
      console.error(`bench parity: the ${backend} child exited with ${status}`);
      failed = true;
    }
  }
  const [ref, ...others] = opts.backends;
  const rows = [];
  for (const [model, base] of byBackend.get(ref) ?? []) {
    for (const other of others) {
      const found = byBackend.get(other)?.get(model);
      const cmp = found && !found.error && !base.error ? found : undefined;
      const last = base.losses.at(-1) ?? NaN;
      const worst = cmp ? Math.max(...base.losses.map((l, i) => Math.abs(cmp.losses[i] - l) / Math.abs(l))) : NaN;
      const lastRel = cmp ? Math.abs(cmp.losses.at(-1) - last) / Math.abs(last) : NaN;
      const ok = Number.isFinite(lastRel) && lastRel <= opts.tolerance;
      if (!ok) failed = true;
      rows.push({
        model,
        reference: ref,
        backend: other,
        steps: opts.steps,
        referenceLoss: last,
        loss: cmp?.losses.at(-1),
        lastRel,
        worstRel: worst,
        ok,
        referenceMs: base.ms,
        ms: cmp?.ms,
        ...(base.error || found?.error ? { error: base.error ?? found.error } : {}),
      });
    }
  }
  if (opts.json) writeFileSync(opts.json, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  printTable(
    ["model", "backends", `loss @${opts.steps}`, "other loss", "rel diff", "worst step", "ok"],
    rows.map((r) => [
      r.model,
      `${r.reference}/${r.backend}`,
      Number.isFinite(r.referenceLoss) ? r.referenceLoss.toFixed(6) : "—",
      r.loss?.toFixed(6) ?? "—",
      r.lastRel.toExponential(1),
      r.worstRel.toExponential(1),
      r.ok ? "yes" : `NO${r.error ? ` (${r.error.slice(0, 100)})` : ""}`,
    ]),
    [2, 3, 4, 5],
  );
  if (failed) process.exitCode = 1;
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main(process.argv.slice(2));
